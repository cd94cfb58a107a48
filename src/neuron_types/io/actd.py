"""Reading an Allen Cell Types Database dump through allensdk's ``CellTypesCache``.

A dump is a folder laid out as ``CellTypesCache`` caches it: ``manifest.json``,
``cells.json`` and ``ephys_features.csv``, plus the project's ``noise_spike_features.csv``
(per-cell noise-sweep spike features, see ``../shared/actd/README.md``). With no dump at
the folder, allensdk downloads cells and precomputed features from the Allen API into it.
Kedro-free.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CELLS_FILE = "cells.json"
EPHYS_FEATURES_FILE = "ephys_features.csv"
NOISE_SPIKE_FEATURES_FILE = "noise_spike_features.csv"

POINT_AT_A_DUMP = (
    "Point the project at a local dump with the environment variable "
    "NEURON_TYPES_ACTD_DIR=/path/to/actd (the folder holding manifest.json), or edit "
    "`actd_dump.path` in conf/base/catalog.yml."
)


class ActdDumpError(ValueError):
    """A dump that cannot be read: the message names the file, the field and what was expected."""


def read_actd_dump(dump_dir: str | Path, allow_download: bool = True) -> dict[str, pd.DataFrame]:
    """Reads a dump into three raw tables, keyed ``cells``, ``ephys_features`` and
    ``noise_spike_features`` (the last is empty when the dump has none).

    ``cells`` is ``CellTypesCache.get_cells()``: ``id``, ``species``, ``dendrite_type``,
    ``transgenic_line``, ``reporter_status``, ``structure_layer_name``, ...
    """
    dump_dir = Path(dump_dir)
    manifest = dump_dir / MANIFEST
    if manifest.is_file():
        # A local dump must be complete: allensdk would otherwise fetch the missing part
        # from the API and silently mix two releases of the database.
        for name in (CELLS_FILE, EPHYS_FEATURES_FILE):
            if not (dump_dir / name).is_file():
                raise ActdDumpError(
                    f"ACTD dump {dump_dir}: required file {name} is missing "
                    f"(expected beside {MANIFEST}, as CellTypesCache stores it)."
                )
    elif not allow_download:
        raise ActdDumpError(
            f"No ACTD dump at {dump_dir}: {manifest} not found and downloading is disabled "
            f"(allow_download: false). {POINT_AT_A_DUMP}"
        )
    else:
        _download(dump_dir)

    cache = _cache(manifest)
    return {
        "cells": _read_cells(cache, dump_dir / CELLS_FILE),
        "ephys_features": _read_ephys_features(cache, dump_dir / EPHYS_FEATURES_FILE),
        "noise_spike_features": _read_noise_spike_features(dump_dir / NOISE_SPIKE_FEATURES_FILE),
    }


def _cache(manifest: Path):
    from allensdk.core.cell_types_cache import CellTypesCache

    return CellTypesCache(manifest_file=str(manifest))


def _download(dump_dir: Path) -> None:
    logger.info("No ACTD dump at %s: downloading cells and ephys features from the Allen API", dump_dir)
    try:
        dump_dir.mkdir(parents=True, exist_ok=True)
        cache = _cache(dump_dir / MANIFEST)
        cache.get_cells()
        cache.get_ephys_features()
    except Exception as error:  # allensdk raises requests, HTTP and OS errors alike
        raise ActdDumpError(
            f"No ACTD dump at {dump_dir} ({MANIFEST} not found), and downloading it from the "
            f"Allen API through allensdk failed: {type(error).__name__}: {error}. "
            f"{POINT_AT_A_DUMP}"
        ) from error


def _read_cells(cache, path: Path) -> pd.DataFrame:
    try:
        cells = cache.get_cells()
    except ValueError as error:  # json or simplejson (allensdk) decode errors
        raise ActdDumpError(
            f"{path}: not valid JSON ({error}); expected the list of cell records that "
            f"CellTypesCache stores (specimen__id, donor__species, tag__dendrite_type, ...)."
        ) from error
    except KeyError as error:
        raise ActdDumpError(
            f"{path}: a cell record lacks the field {error}; expected the cells API fields "
            f"(specimen__id, donor__species, tag__dendrite_type, line_name, ...)."
        ) from error
    except (TypeError, AttributeError) as error:
        raise ActdDumpError(
            f"{path}: expected a JSON list of cell records (objects), got something else: {error}"
        ) from error
    if not cells:
        raise ActdDumpError(f"{path}: holds no cells; expected a non-empty list of cell records.")
    return pd.DataFrame.from_records(cells)


def _read_table(read, path: Path, what: str) -> pd.DataFrame:
    try:
        table = read()
    except pd.errors.EmptyDataError as error:
        raise ActdDumpError(f"{path}: the file is empty; expected {what}.") from error
    except pd.errors.ParserError as error:
        raise ActdDumpError(f"{path}: not a readable CSV ({error}); expected {what}.") from error
    if table.empty:
        raise ActdDumpError(f"{path}: has a header but no rows; expected {what}.")
    return table


def _read_ephys_features(cache, path: Path) -> pd.DataFrame:
    return _read_table(
        lambda: pd.DataFrame.from_records(cache.get_ephys_features()),
        path,
        "one row of precomputed ephys features per specimen_id",
    )


def _read_noise_spike_features(path: Path) -> pd.DataFrame:
    if not path.is_file():
        logger.warning(
            "%s not found: the dump has no noise-sweep spike features, so no cell can enter "
            "the 41-feature cohort (see ../shared/actd/README.md for how they are computed).",
            path,
        )
        return pd.DataFrame({"specimen_id": pd.Series(dtype="int64")})
    return _read_table(
        lambda: pd.read_csv(path), path, "one row of noise-sweep spike features per specimen_id"
    )
