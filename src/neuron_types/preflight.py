"""Checks, before the first node of a run, what the requested pipelines need from the dump.

A run that reads the raw dump (its ingestion node) would otherwise find a missing feature
column or a dump without human cells only nodes later, after tables were saved (they are
set aside then, but the user waits for nothing). The project hook loads the dump once,
before the run, checks it against the parameters of the pipelines about to run, and hands
the loaded tables to the ingestion node (no second read). Kedro-free: it takes the dump's
tables and the typed parameters.

What it checks, each failure one line naming the file, the column and what was expected:

* every configured feature column is one ingestion reads (``neuron_types.io.actd``'s
  ``EPHYS_FEATURE_COLUMNS``, ``NOISE_SPIKE_FEATURE_COLUMNS``) and is in its table
  (``feature_engineering.features``);
* when the excitatory/inhibitory models run (the ``dann`` namespace), both species have
  cells of both classes among the cells with noise-sweep features;
* when the subclass models run (``lspin``), every subclass has mouse cells;
* every stratum of a task about to be split has enough donors (``donor_grouped_cv``) or
  cells (``cell_level_cv``: ``n_folds``; ``random_splits``: 3) for the protocol. Counted
  before the cohort's last exclusions (a Cre line contradicting its dendrite type, missing
  features), so a stratum can pass here and still be refused, exactly, by the split node.

Cells are counted as ingestion keeps them: those that cells.json and ephys_features.csv
both list (another release, or a subset, may list different ones in each).

The value checks (types, ranges, spellings, ids) are the ingestion node's, which runs
first and saves nothing unless all pass.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pandas as pd

from neuron_types.cells import HUMAN, MOUSE
from neuron_types.config import FeatureEngineeringParams, IngestionParams
from neuron_types.io.actd import (
    CELLS_FILE,
    EPHYS_FEATURE_COLUMNS,
    EPHYS_FEATURES_FILE,
    NOISE_SPIKE_FEATURE_COLUMNS,
    NOISE_SPIKE_FEATURES_FILE,
    ActdDumpError,
)


def check_dump_for_run(
    dump: Mapping[str, pd.DataFrame],
    ingestion: IngestionParams,
    feature_engineering: FeatureEngineeringParams,
    namespaces: Collection[str],
) -> None:
    """Raises :class:`ActdDumpError` when the dump cannot serve the pipelines in ``namespaces``."""
    features = feature_engineering.features
    for table, file, group, known in (
        (dump["noise_spike_features"], NOISE_SPIKE_FEATURES_FILE, "noise_spike", NOISE_SPIKE_FEATURE_COLUMNS),
        (dump["ephys_features"], EPHYS_FEATURES_FILE, "precomputed", EPHYS_FEATURE_COLUMNS),
    ):
        unread = [c for c in getattr(features, group) if c not in known]
        if unread:
            raise ActdDumpError(
                f"feature_engineering.features.{group}: {unread} are not columns of the ACTD's {file}, "
                f"which ingestion ignores; expected columns that ingestion reads "
                f"(neuron_types.io.actd: {list(known)[:6]}...)."
            )
        missing = [c for c in getattr(features, group) if c not in table.columns]
        if missing and not (table.empty and group == "noise_spike"):
            raise ActdDumpError(
                f"ACTD {file}: feature columns {missing} are missing (listed in "
                f"feature_engineering.features.{group}); expected every configured feature."
            )
    cells = _labelled_cells(dump, ingestion, feature_engineering)
    if "dann" in namespaces:
        counts = cells.groupby(["species", "cell_class"]).size()
        lacking = [f"{species} {cell_class}" for species in (MOUSE, HUMAN)
                   for cell_class in ("excitatory", "inhibitory") if counts.get((species, cell_class), 0) == 0]
        if lacking:
            raise ActdDumpError(
                f"ACTD {CELLS_FILE}: no {', no '.join(lacking)} cells with noise-sweep features "
                f"(found {counts.to_dict()}); expected both species with both classes: the dann "
                f"pipeline trains on mouse cells and scores human ones."
            )
    if "feature_engineering" in namespaces:
        _check_strata_sizes(cells, feature_engineering)
    if "lspin" in namespaces:
        mouse = cells[cells["species"] == MOUSE]
        lines = {name: line.subclass for name, line in feature_engineering.cohort.cre_lines.items()}
        present = set(mouse["transgenic_line"].map(lines).dropna())
        absent = [name for name in feature_engineering.subclass_names if name not in present]
        if absent:
            raise ActdDumpError(
                f"ACTD {CELLS_FILE}: no mouse cells of the subclasses {absent} (by their Cre lines, "
                f"with noise-sweep features); expected every subclass of feature_engineering."
                f"subclass_names for the lspin pipeline."
            )


def _check_strata_sizes(cells: pd.DataFrame, feature_engineering: FeatureEngineeringParams) -> None:
    splits = feature_engineering.splits
    lines = {name: line.subclass for name, line in feature_engineering.cohort.cre_lines.items()}
    tasks = {
        "excitatory/inhibitory": cells.dropna(subset=["cell_class"]).assign(
            stratum=lambda t: t["cell_class"] + "|" + t["species"]),
        "subclass": cells[(cells["species"] == MOUSE) & cells["cell_class"].notna()].assign(
            stratum=lambda t: t["transgenic_line"].map(lines)).dropna(subset=["stratum"]),
    }
    by_donor = splits.protocol == "donor_grouped_cv"
    needed = 3 if splits.protocol == "random_splits" else splits.n_folds
    what = "donors" if by_donor else "cells"
    for task, table in tasks.items():
        sizes = table.groupby("stratum")["donor_id" if by_donor else "species"].agg("nunique" if by_donor else "size")
        small = sizes[sizes < needed]
        if len(small):
            raise ActdDumpError(
                f"ACTD {CELLS_FILE}: the {task} task's strata {small.to_dict()} have fewer {what} than the "
                f"{needed} that feature_engineering.splits (protocol {splits.protocol}, n_folds "
                f"{splits.n_folds}) needs; expected at least {needed} {what} in every stratum."
            )


def _labelled_cells(dump, ingestion: IngestionParams, feature_engineering: FeatureEngineeringParams) -> pd.DataFrame:
    """Cells with precomputed and noise-sweep features (as ingestion keeps them: a cell
    without either leaves the run), their species and class named as the cohort names them."""
    cells = dump["cells"]
    ids = pd.to_numeric(cells["id"], errors="coerce")
    with_features = ids.isin(_ids(dump["noise_spike_features"])) & ids.isin(_ids(dump["ephys_features"]))
    return pd.DataFrame({
        "species": cells["species"].map(ingestion.species_names),
        "cell_class": cells["dendrite_type"].map(feature_engineering.cohort.cell_classes),
        "transgenic_line": cells["transgenic_line"],
        "donor_id": cells["donor_id"] if "donor_id" in cells.columns else cells["id"],
    })[with_features.to_numpy()]


def _ids(table: pd.DataFrame) -> pd.Series:
    if "specimen_id" not in table.columns:  # the ingestion node names it
        return pd.Series([], dtype="float64")
    return pd.to_numeric(table["specimen_id"], errors="coerce")


def preflight(pipeline, catalog: Any) -> None:
    """The hook's part: when ``pipeline`` reads the raw dump, load it once, check it for the
    pipelines' namespaces, and put the loaded tables in the catalog for the ingestion node."""
    from kedro.io import MemoryDataset

    if "actd_dump" not in pipeline.inputs():
        return
    namespaces = {node.namespace for node in pipeline.nodes if node.namespace}
    ingestion = _typed(IngestionParams, catalog.load("params:ingestion"))
    feature_engineering = _typed(FeatureEngineeringParams, catalog.load("params:feature_engineering"))
    dump = catalog.load("actd_dump")
    check_dump_for_run(dump, ingestion, feature_engineering, namespaces)
    catalog["actd_dump"] = MemoryDataset(dump, copy_mode="assign")


def _typed(model, value):
    return value if isinstance(value, model) else model.model_validate(value)

