"""Kedro datasets over an ACTD dump, so that where the dump lives is catalog YAML alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

from neuron_types.io.actd import read_actd_dump


class ActdDumpDataset(AbstractDataset[None, dict[str, pd.DataFrame]]):
    """Loads an Allen Cell Types Database dump folder as raw tables (read-only).

    Example catalog entry::

        actd_dump:
          type: neuron_types.io.ActdDumpDataset
          path: ${oc.env:NEURON_TYPES_ACTD_DIR,data/01_raw/actd}
          allow_download: true
    """

    def __init__(self, path: str, allow_download: bool = True, metadata: dict | None = None):
        self._path = Path(path)
        self._allow_download = allow_download
        self.metadata = metadata

    def load(self) -> dict[str, pd.DataFrame]:
        return read_actd_dump(self._path, allow_download=self._allow_download)

    def save(self, data: None) -> None:
        raise DatasetError(
            f"ActdDumpDataset({self._path}) is read-only: the dump is raw input and is never "
            "written by a pipeline."
        )

    def _exists(self) -> bool:
        return (self._path / "manifest.json").is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "allow_download": self._allow_download}
