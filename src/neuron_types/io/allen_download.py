"""Talking to the Allen API (or anything that answers like it) with timeouts, retries and
checked downloads. Kedro-free.

allensdk's ``CellTypesApi`` reads its JSON through ``urllib.request.urlopen`` with no
timeout (a stalled server hangs the run for ever) and streams files with no retry and
no size check. ``AllenApi`` is that class with its two transport methods replaced by one
``requests.Session`` whose adapter retries with backoff (urllib3's ``Retry``): every
allensdk call that ``CellTypesCache`` makes (cells, ephys features, sweeps, the NWB
well-known files) goes through it, and the cache layout stays allensdk's.

A downloaded NWB file is written beside its target and renamed into place only when its
byte count equals the size the server announced (the file record's size where the API
gives one, else ``Content-Length``) and h5py opens it; otherwise it is deleted and
fetched once more, then given up (``NwbDownloadError``).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import requests
from allensdk.api.queries.cell_types_api import CellTypesApi
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from neuron_types.io.actd import ActdDumpError
from neuron_types.io.download_options import ALLEN_API_URL, DownloadOptions  # noqa: F401 (re-exported)

logger = logging.getLogger(__name__)

NWB_FILE_TYPE = CellTypesApi.NWB_FILE_TYPE
_CHUNK = 1 << 20
_RECORDS_PER_QUERY = 100  # cells per file-record query: keeps the URL short
_SIZE_FIELDS = ("file_size", "size")  # where a well-known-file record would say its size


class NwbDownloadError(OSError):
    """An NWB file that could not be fetched whole and readable, after its second try."""


class AllenApi(CellTypesApi):
    """``CellTypesApi`` at ``options.api_url`` over a retrying, timing-out session."""

    def __init__(self, options: DownloadOptions):
        super().__init__(base_uri=options.api_url.rstrip("/"))
        self.options = options
        self.expected_sizes: dict[str, int] = {}  # download URL -> size from its file record
        retry = Retry(
            total=options.retries, connect=options.retries, read=options.retries,
            status=options.retries, backoff_factor=options.backoff_s,
            status_forcelist=(429, 500, 502, 503, 504), allowed_methods=("GET", "HEAD"),
            raise_on_status=True,
        )
        self.session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=max(10, 2 * options.download_workers))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def retrieve_parsed_json_over_http(self, url, post=False):
        quoted = requests.utils.quote(url, ";/?:@&=+$,")
        response = (self.session.post if post else self.session.get)(
            quoted, timeout=self.options.timeout_s
        )
        response.raise_for_status()
        return response.json()

    def retrieve_file_over_http(self, url, file_path, zipped=False):
        if zipped:
            return super().retrieve_file_over_http(url, file_path, zipped)
        path = Path(file_path)
        for attempt in (1, 2):
            try:
                self._fetch_checked(url, path)
                return
            except (OSError, requests.RequestException) as error:
                logger.info("%s: attempt %d failed: %s: %s", url, attempt, type(error).__name__, error)
                last = error
        raise NwbDownloadError(f"{url}: not fetched whole and readable in 2 tries ({last})")

    def _fetch_checked(self, url: str, path: Path) -> None:
        partial = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            written, announced = self._stream(url, partial)
            expected = self.expected_sizes.get(url, announced)
            if expected is not None and written != expected:
                raise OSError(f"got {written} bytes, the server announced {expected}")
            _check_opens(partial)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)

    def _stream(self, url: str, target: Path) -> tuple[int, int | None]:
        # The session's Retry covers connecting and the status line; a body that stalls
        # or breaks off midway raises here and is retried by retrieve_file_over_http.
        deadline = time.monotonic() + 100 * self.options.timeout_s
        # identity: the byte count must be comparable with the announced size
        with self.session.get(url, stream=True, timeout=self.options.timeout_s,
                              headers={"Accept-Encoding": "identity"}) as response:
            response.raise_for_status()
            announced = response.headers.get("Content-Length")
            written = 0
            with open(target, "wb") as file:
                for chunk in response.iter_content(_CHUNK):
                    file.write(chunk)
                    written += len(chunk)
                    if time.monotonic() > deadline:
                        raise OSError(f"download slower than {100 * self.options.timeout_s:.0f} s")
        return written, None if announced is None else int(announced)

    def nwb_file_records(self, specimen_ids) -> dict[int, dict]:
        """``{specimen_id: {"url": ..., "size": bytes or None}}`` of the cells' NWB files,
        from the Specimen records allensdk's ``save_ephys_data`` reads, many cells a query."""
        ids, records = [int(sid) for sid in specimen_ids], {}
        for start in range(0, len(ids), _RECORDS_PER_QUERY):
            batch = ",".join(str(sid) for sid in ids[start: start + _RECORDS_PER_QUERY])
            specimens = self.model_query(
                "Specimen",
                criteria=f"[id$in{batch}],ephys_result(well_known_files"
                         f"(well_known_file_type[name$eq{NWB_FILE_TYPE}]))",
                include="ephys_result(well_known_files(well_known_file_type))",
                num_rows="all",
            )
            for specimen in specimens:
                for record in (specimen.get("ephys_result") or {}).get("well_known_files", []):
                    size = next((record[f] for f in _SIZE_FIELDS if record.get(f)), None)
                    url = self.api_url + record["download_link"]
                    records[int(specimen["id"])] = {"url": url, "size": size}
                    if size is not None:
                        self.expected_sizes[url] = int(size)
        return records

    def announced_size(self, url: str) -> int | None:
        """``Content-Length`` of a HEAD request (None when the server does not say)."""
        try:
            response = self.session.head(url, timeout=self.options.timeout_s, allow_redirects=True)
            response.raise_for_status()
        except requests.RequestException as error:  # a server refusing HEAD: size unknown
            logger.info("%s: no size from HEAD: %s", url, error)
            return None
        length = response.headers.get("Content-Length")
        return None if length is None else int(length)


def attach(cache, options: DownloadOptions) -> AllenApi | None:
    """Makes a ``CellTypesCache`` talk through ``AllenApi``; leaves other objects alone."""
    from allensdk.core.cell_types_cache import CellTypesCache

    if not isinstance(cache, CellTypesCache):
        return None
    cache.api = AllenApi(options)
    return cache.api


def _check_opens(path: Path) -> None:
    import h5py

    with h5py.File(path, "r") as nwb:
        if "epochs" not in nwb:
            raise OSError(f"{path.name}: an HDF5 file without the NWB 'epochs' group")


@dataclass(frozen=True)
class DownloadPlan:
    cells: int
    total_bytes: int | None
    measured: str  # "file records" or "estimate from N files"
    free_bytes: int


def plan_downloads(api: AllenApi, specimen_ids, folder: Path) -> DownloadPlan:
    """The size of what is about to be fetched: the records' sizes where the API gives
    them, else the mean ``Content-Length`` of a few files times the number of cells."""
    records = api.nwb_file_records(specimen_ids)
    sizes = [record["size"] for record in records.values()]
    if sizes and all(size is not None for size in sizes):
        total, measured = int(sum(sizes)), "from the API's file records"
    else:
        sample = [record["url"] for record in list(records.values())[: api.options.size_sample]]
        measured_sizes = [size for size in map(api.announced_size, sample) if size is not None]
        if measured_sizes:
            mean = sum(measured_sizes) / len(measured_sizes)
            total = int(mean * len(specimen_ids))
            measured = f"an estimate: {len(measured_sizes)} files measured, mean {gigabytes(mean)}"
        else:
            total, measured = None, "unknown: the server gives no sizes"
    return DownloadPlan(len(specimen_ids), total, measured, shutil.disk_usage(folder).free)


def check_disk(plan: DownloadPlan, folder: Path, keep_nwb: bool, files_on_disk: int) -> None:
    """Refuses to start when ``folder`` cannot hold what ``keep_nwb`` needs: every file
    when kept, else the files in flight (each deleted once its cell is done)."""
    if plan.total_bytes is None or not plan.cells:
        return
    mean = plan.total_bytes / plan.cells
    needed = plan.total_bytes if keep_nwb else mean * min(files_on_disk, plan.cells)
    if needed > plan.free_bytes:
        raise ActdDumpError(
            f"{folder}: {gigabytes(plan.free_bytes)} free, the NWB download needs {gigabytes(needed)} "
            f"({'keep_nwb: true keeps all' if keep_nwb else f'{files_on_disk} files in flight'} "
            f"of {plan.cells} files, {plan.measured}); free space or set actd_dump.path elsewhere"
            + ("" if not keep_nwb else " or keep_nwb: false")
        )


def gigabytes(size: float) -> str:
    """A size for the log: GB, or MB below 0.1 GB."""
    return f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"
