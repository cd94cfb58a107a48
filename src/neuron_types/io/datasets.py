"""Kedro datasets over an ACTD dump, so that where the dump lives is catalog YAML alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from neuron_types.io.actd import MANIFEST, read_actd_dump


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

    ``save`` is refused: pipelines never write the dump (only ``load`` may complete it with
    the computed noise table, as above). Example catalog entry::

        actd_dump:
          type: neuron_types.io.ActdDumpDataset
          path: ${oc.env:NEURON_TYPES_ACTD_DIR,data/01_raw/actd}
          allow_download: true
          compute_noise_spike_features: true
          keep_nwb: false
    """

    def __init__(
        self,
        path: str,
        allow_download: bool = True,
        compute_noise_spike_features: bool = True,
        keep_nwb: bool = False,
        metadata: dict | None = None,
    ):
        self._path = Path(path)
        self._allow_download = allow_download
        self._compute_noise_spike_features = compute_noise_spike_features
        self._keep_nwb = keep_nwb
        self.metadata = metadata

    def load(self) -> dict[str, pd.DataFrame]:
        return read_actd_dump(
            self._path,
            allow_download=self._allow_download,
            compute_noise_spike_features=self._compute_noise_spike_features,
            keep_nwb=self._keep_nwb,
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
        }
