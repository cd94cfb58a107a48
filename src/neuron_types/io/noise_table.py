"""The noise-sweep feature table of many cells: bounded parallel, resumable. Kedro-free.

Three steps, one progress bar over all cells:

1. sweep metadata of every cell not yet done (threads; small JSON), which decides the
   cells that need an NWB file;
2. one log line with their number, total size and the free disk space, and a refusal
   when the disk cannot hold what ``keep_nwb`` needs (``allen_download.plan_downloads``);
3. downloads (``download_workers`` threads) overlapping extraction (``extract_workers``
   processes), at most ``download_workers + 2 * extract_workers`` files on disk, or the
   same per-cell function (``noise_row_for_cell``) on a Dask cluster (``dask_address``).

Every finished cell is committed at once as one line appended to a progress file beside
the table (``noise_spike_features.progress.csv``), so a killed run loses only the cells
in flight, and a restarted run skips the cells in it; cells skipped for a fetch failure
(``RETRIED_ON_RESTART``) are tried again. The table is built from that file, so a resumed
run gives the same table, to the last digit, as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import logging
import multiprocessing
import os
from collections import defaultdict, deque
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path

import pandas as pd

from neuron_types.io.allen_download import (
    AllenApi,
    DownloadOptions,
    check_disk,
    gigabytes,
    plan_downloads,
)
from neuron_types.errors import InputError
from neuron_types.io.noise_features import (
    COLUMNS,
    NO_SWEEP_METADATA,
    NWB_UNREADABLE,
    CellSkipped,
    cell_row,
    fetch_nwb,
    noise_sweep_of,
)

logger = logging.getLogger(__name__)

SKIPPED = "skipped"
PROGRESS_COLUMNS = (*COLUMNS, SKIPPED, "detail")
RETRIED_ON_RESTART = frozenset({NO_SWEEP_METADATA, NWB_UNREADABLE})
DASK_MISSING = (
    "actd_dump.dask_address is set, but Dask's client is not installed: "
    "pip install distributed (or remove dask_address to run on this machine)"
)
_EXAMPLES = 3


class ClusterError(InputError):
    """The Dask cluster at ``actd_dump.dask_address`` could not be reached or could not
    compute a cell: the message names the address, the cell and what went wrong."""


_EXTRACTOR_MODULES = ("allensdk.core.nwb_data_set", "allensdk.ephys.ephys_extractor",
                      "neuron_types.io.noise_features")


class ProgressFile:
    """Append-only CSV of finished cells: one line per cell, written with one ``write``
    on an ``O_APPEND`` descriptor and fsynced, so a kill leaves at most a torn last line,
    which reading drops."""

    def __init__(self, path: Path):
        self.path = path

    def finished(self) -> dict[int, dict]:
        if not self.path.is_file():
            return {}
        text = self.path.read_text()
        if not text.endswith("\n"):  # a line torn by a kill
            text = text[: text.rfind("\n") + 1]
        if not text.strip():
            return {}
        table = pd.read_csv(io.StringIO(text), float_precision="round_trip",
                            keep_default_na=False, na_values=["nan", ""])
        records = {int(r["specimen_id"]): r for r in table.to_dict("records")}
        return {sid: r for sid, r in records.items() if r[SKIPPED] not in RETRIED_ON_RESTART}

    def commit(self, record: dict) -> None:
        line = io.StringIO()
        writer = csv.writer(line, lineterminator="\n")
        if not self.path.exists() or self.path.stat().st_size == 0:
            writer.writerow(PROGRESS_COLUMNS)
        writer.writerow(["" if record.get(c) is None else record[c] for c in PROGRESS_COLUMNS])
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line.getvalue().encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def skip_record(specimen_id: int, skip: CellSkipped) -> dict:
    return {"specimen_id": specimen_id, SKIPPED: skip.reason, "detail": skip.detail}


def compute_noise_spike_features(
    cache, specimen_ids: Sequence[int], progress: bool = True, keep_nwb: bool = False,
    options: DownloadOptions | None = None, progress_path: Path | None = None,
    manifest: Path | None = None,
) -> pd.DataFrame:
    """The ``noise_spike_features.csv`` table (columns ``COLUMNS``) for ``specimen_ids``,
    in their order.

    ``cache`` is a ``CellTypesCache`` (or anything with its ``get_ephys_sweeps``,
    ``get_ephys_data`` and, when ``keep_nwb`` is false, ``get_cache_path``); the size
    line and disk check need its ``api`` to be an ``allen_download.AllenApi``. Cells that
    lack the sweeps or fail are skipped; the log has one line per reason with counts,
    also in ``table.attrs["skipped"]``. ``keep_nwb=False`` deletes each NWB file this
    call downloads once its cell is done; one that cannot be read is deleted either way.
    ``progress_path``: the progress file to resume from and append to (default: none);
    ``manifest``: the cache's manifest, which Dask workers open (with ``dask_address``):
    its absolute path, so the workers need it, and the dump, at the same path.
    """
    from tqdm import tqdm

    options = options or DownloadOptions(download_workers=1, extract_workers=0)
    if options.dask_address and manifest is None:
        raise ValueError("actd_dump.dask_address needs the dump's manifest.json for the workers")
    specimen_ids = [int(sid) for sid in specimen_ids]
    log = ProgressFile(progress_path or Path(os.devnull))
    finished = log.finished() if progress_path else {}
    todo = [sid for sid in specimen_ids if sid not in finished]
    if finished:
        logger.info("noise-sweep spike features: %d of %d cells already done (%s), resuming",
                    len(finished), len(specimen_ids), log.path)
    records = dict(finished)

    def commit(record: dict) -> None:
        if progress_path:
            log.commit(record)
        records[record["specimen_id"]] = record
        bar.update()

    # the cluster first: a missing package or an absent scheduler is said before any work
    with (_client(options) if options.dask_address and todo else nullcontext()) as client, \
            tqdm(total=len(specimen_ids), initial=len(finished), unit="cell",
                 desc="noise-sweep spike features", disable=not progress) as bar:
        sweep_of = _noise_sweeps(cache, todo, options, commit)
        api = getattr(cache, "api", None)
        if isinstance(api, AllenApi) and sweep_of:
            folder = progress_path.parent if progress_path else Path(manifest or ".").parent
            _announce(api, sweep_of, keep_nwb, options, len(specimen_ids) - len(sweep_of), folder)
        if client is not None:
            _run_on_dask(client, sweep_of, Path(manifest).resolve(), options, keep_nwb, commit)
        else:
            _run_here(cache, sweep_of, options, keep_nwb, commit)
    return _table(records, specimen_ids)


def _noise_sweeps(cache, todo, options, commit) -> dict[int, int]:
    sweep_of = {}
    with ThreadPoolExecutor(options.download_workers) as threads:
        futures = {threads.submit(noise_sweep_of, cache, sid): sid for sid in todo}
        for future in futures:  # in cell order: the log's examples do not depend on timing
            try:
                sweep_of[futures[future]] = future.result()
            except CellSkipped as skip:
                commit(skip_record(futures[future], skip))
    return sweep_of


def _announce(api: AllenApi, sweep_of: dict, keep_nwb: bool, options, not_fetched: int,
              folder: Path) -> None:
    plan = plan_downloads(api, list(sweep_of), folder)
    size = "size unknown" if plan.total_bytes is None else gigabytes(plan.total_bytes)
    logger.info(
        "noise-sweep spike features: %d NWB files to fetch (%d other cells done or without a "
        "qualifying sweep), %s (%s), %s free in %s; %s", plan.cells, not_fetched, size,
        plan.measured, gigabytes(plan.free_bytes), folder,
        "files kept (keep_nwb: true)" if keep_nwb else "each file deleted once its cell is done",
    )
    check_disk(plan, folder, keep_nwb, _files_on_disk(options))


def _files_on_disk(options: DownloadOptions) -> int:
    return options.download_workers + 2 * max(options.extract_workers, 1)


def _run_here(cache, sweep_of: dict, options, keep_nwb: bool, commit) -> None:
    pending, downloads, extractions = deque(sweep_of), {}, {}
    processes = None
    if options.extract_workers:
        # forkserver: a clean parent for the extractors, not a fork of this threaded process;
        # it imports the extractor once, so each worker starts without importing it again
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(_EXTRACTOR_MODULES))
        processes = ProcessPoolExecutor(options.extract_workers, mp_context=context)
    threads = ThreadPoolExecutor(options.download_workers)
    extract = processes or threads
    try:
        while pending or downloads or extractions:
            while (pending and len(downloads) < options.download_workers
                   and len(downloads) + len(extractions) < _files_on_disk(options)):
                sid = pending.popleft()
                downloads[threads.submit(fetch_nwb, cache, sid, keep_nwb)] = sid
            done, _ = wait([*downloads, *extractions], return_when=FIRST_COMPLETED)
            # finished extractions first: a cell done in the same wait as a download that
            # raised (an interrupt) is committed before that error leaves the loop
            for future in sorted(done, key=lambda f: f in downloads):
                if future in downloads:
                    sid = downloads.pop(future)
                    try:
                        path, here = future.result()
                    except CellSkipped as skip:
                        commit(skip_record(sid, skip))
                        continue
                    extractions[extract.submit(cell_row, sid, sweep_of[sid], path)] = (sid, path, here)
                else:
                    sid, path, here = extractions.pop(future)
                    try:
                        commit(future.result())
                        unreadable = False
                    except CellSkipped as skip:
                        commit(skip_record(sid, skip))
                        unreadable = skip.reason == NWB_UNREADABLE
                    if here and (unreadable or not keep_nwb):
                        Path(path).unlink(missing_ok=True)
    finally:
        threads.shutdown(cancel_futures=True)
        if processes:
            processes.shutdown(cancel_futures=True)


def noise_row_for_cell(specimen_id: int, sweep_number: int, manifest: str,
                       options: DownloadOptions, keep_nwb: bool) -> dict:
    """One cell, start to end, where it runs (a Dask worker): its row or its skip record.

    ``manifest`` is an absolute path that must exist where this runs: ``CellTypesCache``
    would otherwise write a new one there and download into a folder of its own."""
    if not Path(manifest).is_file():
        raise FileNotFoundError(
            f"{manifest} not found on the worker: the workers need the dump folder, with its "
            f"manifest.json, at the same path as the run (a shared filesystem)"
        )
    cache = _worker_cache(manifest, options)
    try:
        path, here = fetch_nwb(cache, specimen_id, keep_nwb)
    except CellSkipped as skip:
        return skip_record(specimen_id, skip)
    unreadable = False
    try:
        return cell_row(specimen_id, sweep_number, path)
    except CellSkipped as skip:
        unreadable = skip.reason == NWB_UNREADABLE
        return skip_record(specimen_id, skip)
    finally:
        if here and (unreadable or not keep_nwb):  # as on this machine: a bad file goes
            Path(path).unlink(missing_ok=True)


@lru_cache(maxsize=4)
def _worker_cache(manifest: str, options: DownloadOptions):
    from allensdk.core.cell_types_cache import CellTypesCache

    from neuron_types.io.allen_download import attach

    cache = CellTypesCache(manifest_file=manifest)
    attach(cache, options)
    return cache


def _dask():
    try:
        import distributed
    except ImportError as error:
        raise ImportError(DASK_MISSING) from error
    return distributed


def _client(options: DownloadOptions):
    """A client of the scheduler at ``dask_address``, connected within ``timeout_s``."""
    distributed = _dask()
    try:
        return distributed.Client(options.dask_address, timeout=options.timeout_s,
                                  set_as_default=False)
    except (OSError, ValueError, TypeError) as error:  # timeouts are OSErrors; bad addresses
        raise ClusterError(
            f"actd_dump.dask_address {options.dask_address}: no Dask scheduler answered in "
            f"{options.timeout_s:g} s ({type(error).__name__}: {_first_line(error)}); start one "
            f"(dask scheduler, dask worker ADDRESS) or remove dask_address to run here"
        ) from error


def _run_on_dask(client, sweep_of: dict, manifest: Path, options, keep_nwb: bool, commit) -> None:
    import distributed

    futures = {client.submit(noise_row_for_cell, sid, sweep, str(manifest), options, keep_nwb,
                             pure=False): sid for sid, sweep in sweep_of.items()}
    # closing the client (on success, error or interrupt) releases the cells not done
    for future in distributed.as_completed(futures):
        try:
            record = future.result()
        except Exception as error:  # raised on the worker, or the worker lost (KilledWorker)
            raise ClusterError(
                f"actd_dump.dask_address {options.dask_address}: specimen_id "
                f"{futures[future]} failed on the cluster: {type(error).__name__}: "
                f"{_first_line(error)}"
            ) from error
        commit(record)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no message"


def _table(records: dict[int, dict], specimen_ids: list[int]) -> pd.DataFrame:
    rows, skipped, details = [], defaultdict(list), {}
    for sid in specimen_ids:
        record = records.get(sid)
        if record is None:
            continue
        reason = record.get(SKIPPED)
        if isinstance(reason, str) and reason:
            skipped[reason].append(sid)
            detail = record.get("detail")
            details.setdefault(reason, detail if isinstance(detail, str) and detail else None)
        else:
            rows.append({c: record[c] for c in COLUMNS})
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table = table.astype({"specimen_id": "int64", "sweep_number": "int64"})
    table.attrs["skipped"] = {reason: len(ids) for reason, ids in skipped.items()}
    logger.info(
        "noise-sweep spike features: computed for %d of %d cells", len(table), len(specimen_ids)
    )
    for reason, ids in sorted(skipped.items(), key=lambda item: -len(item[1])):
        first_error = f"; first error: {details[reason]}" if details[reason] else ""
        logger.info("noise-sweep spike features: skipped %d cells: %s (e.g. specimen_id %s%s)",
                    len(ids), reason, ids[:_EXAMPLES], first_error)
    return table
