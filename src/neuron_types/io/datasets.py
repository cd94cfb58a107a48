"""Kedro datasets over an ACTD dump, so that where the dump lives is catalog YAML alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from neuron_types.io.actd import MANIFEST, read_actd_dump
from neuron_types.io.download_options import ALLEN_API_URL, DownloadOptions


class ActdDumpDataset(AbstractDataset[None, dict[str, pd.DataFrame]]):
    """Loads an Allen Cell Types Database dump folder as raw tables (read-only).

    Options:

    - ``allow_download``: with no dump at ``path`` (no ``manifest.json``), download cells
      and precomputed ephys features from the Allen API into it.
    - ``compute_noise_spike_features``: when the dump has no ``noise_spike_features.csv``
      (always so after a download: the API does not serve it), compute it from every
      cell's NWB file (``neuron_types.io.noise_features``; one download per cell) and
      write it into the dump folder, atomically. A read-only folder is never written:
      the table is then left missing, with a warning saying how to compute it.
    - ``keep_nwb``: keep the NWB files downloaded for that (large); by default each is
      deleted as soon as its cell is done. Files already cached are always kept.
    - Downloading (``neuron_types.io.allen_download.DownloadOptions``): ``api_url``,
      ``download_workers`` (threads fetching), ``extract_workers`` (processes running the
      feature extractor; 0 runs it in the download threads), ``timeout_s`` (per request),
      ``retries`` (per request, with backoff ``backoff_s * 2**n``), ``dask_address`` (a
      Dask ``distributed`` scheduler, e.g. ``tcp://host:8786``: the cells go there).
      A stopped computation resumes from ``noise_spike_features.progress.csv``.

    ``save`` is refused: pipelines never write the dump (only ``load`` may complete it with
    the computed noise table, as above). Example catalog entry::

        actd_dump:
          type: neuron_types.io.ActdDumpDataset
          path: ${oc.env:NEURON_TYPES_ACTD_DIR,data/01_raw/actd}
          allow_download: true
          compute_noise_spike_features: true
          keep_nwb: false
          download_workers: 4
          extract_workers: 2
    """

    def __init__(
        self,
        path: str,
        allow_download: bool = True,
        compute_noise_spike_features: bool = True,
        keep_nwb: bool = False,
        api_url: str = ALLEN_API_URL,
        download_workers: int = 4,
        extract_workers: int = 2,
        timeout_s: float = 60.0,
        retries: int = 5,
        backoff_s: float = 1.0,
        dask_address: str | None = None,
        metadata: dict | None = None,
    ):
        self._path = Path(path)
        self._allow_download = allow_download
        self._compute_noise_spike_features = compute_noise_spike_features
        self._keep_nwb = keep_nwb
        try:
            self._download = DownloadOptions(
                api_url=api_url, download_workers=download_workers,
                extract_workers=extract_workers, timeout_s=timeout_s, retries=retries,
                backoff_s=backoff_s, dask_address=dask_address or None,
            )
        except ValueError as error:
            raise DatasetError(str(error)) from error
        self.metadata = metadata

    def load(self) -> dict[str, pd.DataFrame]:
        return read_actd_dump(
            self._path,
            allow_download=self._allow_download,
            compute_noise_spike_features=self._compute_noise_spike_features,
            keep_nwb=self._keep_nwb,
            download=self._download,
        )

    def save(self, data: None) -> None:
        raise DatasetError(
            f"ActdDumpDataset({self._path}) is read-only: the dump is raw input and is never "
            "written by a pipeline."
        )

    def _exists(self) -> bool:
        return (self._path / MANIFEST).is_file()

    def _describe(self) -> dict[str, Any]:
        return {
            "path": str(self._path),
            "allow_download": self._allow_download,
            "compute_noise_spike_features": self._compute_noise_spike_features,
            "keep_nwb": self._keep_nwb,
            "api_url": self._download.api_url,
            "download_workers": self._download.download_workers,
            "extract_workers": self._download.extract_workers,
            "dask_address": self._download.dask_address,
        }
