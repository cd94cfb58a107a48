"""How cells are fetched from the Allen API (the ``actd_dump`` catalog entry's download
arguments), apart from the client in :mod:`neuron_types.io.allen_download`, so that reading
the catalog does not import allensdk (~1.5 s, with pynwb and h5py) on a run that
downloads nothing."""

from __future__ import annotations

from dataclasses import dataclass

ALLEN_API_URL = "http://api.brain-map.org"


@dataclass(frozen=True)
class DownloadOptions:
    """How cells are fetched; the ``actd_dump`` catalog entry's download arguments.

    ``download_workers`` threads fetch sweeps and NWB files; ``extract_workers`` processes
    run the feature extractor (0: in the download threads). ``timeout_s`` bounds each
    connect and each wait for data; ``retries`` are extra attempts per request, spaced
    ``backoff_s * 2**n``. ``dask_address``: send the cells to that Dask cluster instead.
    """

    api_url: str = ALLEN_API_URL
    download_workers: int = 4
    extract_workers: int = 2
    timeout_s: float = 60.0
    retries: int = 5
    backoff_s: float = 1.0
    size_sample: int = 5
    dask_address: str | None = None

    def __post_init__(self):
        for name in ("download_workers", "extract_workers", "retries", "size_sample"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (1 if name == "download_workers" else 0):
                raise ValueError(
                    f"actd_dump.{name}: expected a whole number >= "
                    f"{1 if name == 'download_workers' else 0}, got {value!r}"
                )
        for name in ("timeout_s", "backoff_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"actd_dump.{name}: expected seconds > 0, got {getattr(self, name)!r}")
