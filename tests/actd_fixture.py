"""Small dumps in the ACTD's own format (CellTypesCache layout), made in code.

``actd_tables`` gives the raw tables so that a test can corrupt them; ``write_actd_dump``
writes them as cells.json / ephys_features.csv / noise_spike_features.csv /
short_square_spikes.npz beside a CellTypesCache manifest.

Donors are per species, as in the ACTD (where mouse donors give 1-7 cells, human donors
1-22): the cells of one species are dealt round-robin onto ``DONORS[species]`` donors, so
one donor holds cells of several classes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tests.mlflow_startup import copy_migrated_database

PROJECT = Path(__file__).resolve().parents[1]
_PARAMS = yaml.safe_load((PROJECT / "conf/base/parameters_feature_engineering.yml").read_text())["feature_engineering"]
NOISE_FEATURES = _PARAMS["features"]["noise_spike"]
PRECOMPUTED_FEATURES = _PARAMS["features"]["precomputed"]
_EXTENDED = _PARAMS["features"]["extended"]
# what the extended features are read or computed from (adaptation, avg_isi, spike times)
EXTENDED_SOURCES = list(dict.fromkeys([*_EXTENDED["precomputed"],
                                       *(c for pair in _EXTENDED["differences"].values() for c in pair)]))
# precomputed columns the model does not use, as in the real table
OTHER_EPHYS_COLUMNS = list(dict.fromkeys([*EXTENDED_SOURCES, "electrode_0_pa", "rheobase_sweep_id"]))

# (species, dendrite type, Cre line, how many cells)
DEFAULT_GROUPS = [
    ("Mus musculus", "aspiny", "Pvalb-IRES-Cre", 12),
    ("Mus musculus", "aspiny", "Sst-IRES-Cre", 12),
    ("Mus musculus", "aspiny", "Vip-IRES-Cre", 12),
    ("Mus musculus", "aspiny", "Htr3a-Cre_NO152", 12),
    ("Mus musculus", "spiny", "Rorb-IRES2-Cre", 24),
    ("Mus musculus", "spiny", "Pvalb-IRES-Cre", 2),  # contradicts its line: excluded
    ("Mus musculus", "aspiny", "Unknown-Cre", 2),  # unmapped line: excluded
    ("Mus musculus", "sparsely spiny", "Sst-IRES-Cre", 2),  # not in the cohort
    ("Homo Sapiens", "spiny", None, 24),
    ("Homo Sapiens", "aspiny", None, 12),
]

DONORS = {"Mus musculus": 30, "Homo Sapiens": 9}
# every 2nd mouse cell recorded at 200 kHz (600 samples over 3 ms), the rest at 50 kHz
# (150 samples); the last cell has no short-square spike
SPIKE_SAMPLES = {50: 150, 200: 600}

MANIFEST = {
    "manifest": [
        {"type": "manifest_version", "value": "1.1"},
        {"key": "BASEDIR", "type": "dir", "spec": "."},
        {"key": "CELLS", "type": "file", "spec": "cells.json", "parent_key": "BASEDIR"},
        {"key": "EPHYS_DATA", "type": "file", "spec": "specimen_%d/ephys.nwb", "parent_key": "BASEDIR"},
        {"key": "EPHYS_FEATURES", "type": "file", "spec": "ephys_features.csv", "parent_key": "BASEDIR"},
        {"key": "MORPHOLOGY_FEATURES", "type": "file", "spec": "morphology_features.csv", "parent_key": "BASEDIR"},
        {"key": "RECONSTRUCTION", "type": "file", "spec": "specimen_%d/reconstruction.swc", "parent_key": "BASEDIR"},
        {"key": "MARKER", "type": "file", "spec": "specimen_%d/reconstruction.marker", "parent_key": "BASEDIR"},
        {"key": "EPHYS_SWEEPS", "type": "file", "spec": "specimen_%d/ephys_sweeps.json", "parent_key": "BASEDIR"},
    ]
}


def _cell_record(specimen_id: int, species: str, dendrite_type: str, line: str | None) -> dict:
    return {
        "specimen__id": specimen_id,
        "specimen__name": f"cell-{specimen_id}",
        "specimen__hemisphere": "left",
        "donor__species": species,
        "donor__id": (1000 if species == "Mus musculus" else 2000) + specimen_id % DONORS[species],
        "donor__disease_state": None if species == "Mus musculus" else "epilepsy",
        "line_name": line,
        "cell_reporter_status": "positive" if line else None,
        "structure__layer": "4",
        "structure_parent__id": 385,
        "structure_parent__acronym": "VISp",
        "tag__dendrite_type": dendrite_type,
        "tag__apical": "intact",
        "nr__reconstruction_type": None,
        "csl__x": 1.0,
        "csl__y": 2.0,
        "csl__z": 3.0,
        "csl__normalized_depth": None,
    }


# (centre, scale) of each feature in its ACTD unit, so that fixture cells look like
# recordings (conf/base's ingestion.value_ranges rejects what no recording produces)
def _physiological(name: str) -> tuple[float, float]:
    if name.endswith("_i") or "threshold_i" in name:
        return 200.0, 30.0
    if name == "width":
        return 0.001, 0.0001
    if "upstroke_downstroke_ratio" in name:
        return 3.0, 0.3
    if name == "upstroke":
        return 200.0, 20.0
    if name == "downstroke":
        return -100.0, 10.0
    scales = {"input_resistance_mohm": (200.0, 20.0), "ri": (200.0, 20.0), "tau": (20.0, 2.0),
              "latency": (0.05, 0.005), "seal_gohm": (2.0, 0.2), "sag": (0.1, 0.02), "f_i_curve_slope": (0.2, 0.02)}
    return scales.get(name, (-50.0, 5.0))  # the rest are voltages (mV)


def _feature(rng, name: str, shift: float) -> float:
    centre, scale = _physiological(name)
    return centre + scale * rng.normal(shift, 1.0)


def actd_tables(groups=DEFAULT_GROUPS, seed: int = 0, with_spikes: bool = False) -> dict[str, pd.DataFrame | list]:
    """Raw cells (a list of API records), ephys features, noise spike features and, with
    ``with_spikes``, short-square spikes (``<specimen_id>_<sweep>`` -> trace, as in
    short_square_spikes.npz; else None, and the dump has no npz).

    Features carry a class signal (shifted by dendrite type and by line) so that models
    trained on them learn something.
    """
    rng = np.random.default_rng(seed)
    records, ephys_rows, noise_rows, spikes = [], [], [], {}
    specimen_id = 500000000
    for group, (species, dendrite, line, count) in enumerate(groups):
        for _ in range(count):
            specimen_id += 1
            records.append(_cell_record(specimen_id, species, dendrite, line))
            shift = (1.5 if dendrite == "spiny" else -1.5) + 0.6 * (group % 5)
            ephys = {name: _feature(rng, name, shift) for name in PRECOMPUTED_FEATURES}
            ephys.update({name: rng.normal() for name in OTHER_EPHYS_COLUMNS})
            if specimen_id % 9 == 0:  # as in the real table, some cells have no adaptation
                ephys["adaptation"] = None
            ephys.update(specimen_id=specimen_id, id=specimen_id + 7,
                         has_burst=False, has_delay=False, has_pause=False)
            ephys_rows.append(ephys)
            noise = {name: _feature(rng, name, shift) for name in NOISE_FEATURES}
            noise.update(specimen_id=specimen_id, sweep_number=40)
            noise_rows.append(noise)
            rate = 200 if species == "Mus musculus" and specimen_id % 2 == 0 else 50
            spikes[f"{specimen_id}_7"] = np.linspace(-60, 20, SPIKE_SAMPLES[rate], dtype="float32")
    spikes.pop(f"{specimen_id}_7")
    return {
        "cells": records,
        "ephys_features": pd.DataFrame(ephys_rows),
        "noise_spike_features": pd.DataFrame(noise_rows)[["specimen_id", "sweep_number", *NOISE_FEATURES]],
        "short_square_spikes": spikes if with_spikes else None,
    }


def write_actd_dump(folder: Path, tables: dict | None = None, *, index_column: bool = False, **kwargs) -> Path:
    """Writes a dump (default: ``actd_tables(**kwargs)``) into ``folder``; returns it.
    ``index_column``: the CSVs lead with the unnamed row index that pandas' ``to_csv``
    writes by default (as in tables re-saved with pandas)."""
    tables = tables if tables is not None else actd_tables(**kwargs)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps(MANIFEST, indent=2))
    (folder / "cells.json").write_text(json.dumps(tables["cells"], indent=1))
    tables["ephys_features"].to_csv(folder / "ephys_features.csv", index=index_column)
    if tables.get("noise_spike_features") is not None:
        tables["noise_spike_features"].to_csv(folder / "noise_spike_features.csv", index=index_column)
    if tables.get("short_square_spikes") is not None:
        np.savez(folder / "short_square_spikes.npz", **tables["short_square_spikes"])
    return folder


# The older-release fixture: the first three Pvalb cells are gone from cells.json while
# their feature rows stay; four cells in cells.json have no feature rows; each CSV brings
# a column the ACTD does not have
DROPPED_FROM_CELLS = (500000001, 500000002, 500000003)
CELLS_WITHOUT_FEATURES = (
    (600000001, "Mus musculus", "aspiny", "Sst-IRES-Cre"),
    (600000002, "Mus musculus", "spiny", "Rorb-IRES2-Cre"),
    (600000003, "Homo Sapiens", "spiny", None),
    (600000004, "Homo Sapiens", "aspiny", None),
)
OLDER_RELEASE_EXTRA_COLUMNS = {"ephys_features": "qc_note", "noise_spike_features": "extractor_version"}


def older_release_tables(seed: int = 0) -> dict[str, pd.DataFrame | list]:
    """``actd_tables()`` reshaped like another release or a subset of one (write it with
    ``index_column=True`` for the unnamed index column): cells.json lists
    ``CELLS_WITHOUT_FEATURES`` that no feature table has and lacks ``DROPPED_FROM_CELLS``
    that both feature tables have; ``OLDER_RELEASE_EXTRA_COLUMNS`` holds text."""
    tables = actd_tables(seed=seed)
    tables["cells"] = [r for r in tables["cells"] if r["specimen__id"] not in DROPPED_FROM_CELLS]
    tables["cells"] += [_cell_record(*cell) for cell in CELLS_WITHOUT_FEATURES]
    for table, column in OLDER_RELEASE_EXTRA_COLUMNS.items():
        tables[table][column] = "release 2017"
    return tables


def project_copy(root: Path) -> Path:
    """This project's configuration in ``root`` (conf/ without local settings, pyproject,
    .telemetry, an empty src/: the package itself is installed), so that a run there
    writes every output under ``root``; its MLflow store starts migrated
    (``tests.mlflow_startup``)."""
    shutil.copytree(PROJECT / "conf", root / "conf", ignore=shutil.ignore_patterns("local"))
    (root / "conf" / "local").mkdir()
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy(PROJECT / name, root / name)
    (root / "src").mkdir()  # bootstrap_project wants it
    copy_migrated_database(root)
    return root


def latest_version(path: Path) -> Path:
    """The newest version Kedro saved of a versioned dataset at ``path``
    (``<path>/<version>/<name>``)."""
    versions = sorted(p for p in Path(path).glob(f"*/{Path(path).name}") if p.is_file())
    if not versions:
        raise FileNotFoundError(f"no saved version of {path}")
    return versions[-1]
