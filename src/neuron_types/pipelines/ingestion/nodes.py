"""Ingestion: the raw ACTD dump, validated and typed, one row per specimen."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from neuron_types.io.actd import (
    CELLS_FILE,
    EPHYS_FEATURES_FILE,
    NOISE_SPIKE_FEATURES_FILE,
    ActdDumpError,
)
from neuron_types.config import IngestionParams
from neuron_types.io.recording_rate import SHORT_SQUARE_SPIKES_FILE

logger = logging.getLogger(__name__)

# get_cells() field -> raw_cells column
CELL_COLUMNS = {
    "id": "specimen_id",
    "name": "specimen_name",
    "species": "species",
    "donor_id": "donor_id",
    "dendrite_type": "dendrite_type",
    "transgenic_line": "transgenic_line",
    "reporter_status": "reporter_status",
    "structure_layer_name": "structure_layer",
    "structure_area_abbrev": "structure_area",
    "disease_state": "disease_state",
}
_EXAMPLES = 3


def validate_actd_dump(
    actd_dump: Mapping[str, pd.DataFrame], ingestion: IngestionParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The dump's three tables, validated and typed, one row per specimen.

    When the dump has sampling rates (``actd_dump["sampling_rates"]``, from
    ``short_square_spikes.npz``), the cells get a nullable ``sampling_rate_khz`` column
    (empty for a cell without a short-square spike); without them the column is absent.
    Everything is checked before anything is returned, so a malformed dump never
    replaces the raw tables of a previous good run.
    """
    cells = validate_cells(actd_dump["cells"], ingestion.species_names)
    check_known_values(cells, ingestion.known_values.model_dump())
    ephys = _numeric_table(actd_dump["ephys_features"], EPHYS_FEATURES_FILE, ingestion.ephys_boolean_columns)
    noise = actd_dump["noise_spike_features"]
    noise = (
        noise.astype({"specimen_id": "int64"})
        if noise.empty
        else _numeric_table(noise, NOISE_SPIKE_FEATURES_FILE, keep_as_is=())
    )
    for table, file in ((ephys, EPHYS_FEATURES_FILE), (noise, NOISE_SPIKE_FEATURES_FILE)):
        check_value_ranges(table, file, ingestion.ranges)
    check_specimens_agree(cells, ephys, noise)
    cells = _with_sampling_rates(cells, actd_dump.get("sampling_rates"))
    logger.info(
        "ACTD dump: %d cells %s, %d with precomputed features, %d with noise-sweep features",
        len(cells), cells["species"].value_counts().to_dict(), len(ephys), len(noise),
    )
    return cells, ephys, noise


def validate_cells(cells: pd.DataFrame, species_names: Mapping[str, str]) -> pd.DataFrame:
    """Cells with the fields the cohort needs, species renamed to ``mouse``/``human``.

    Fails on a missing field, a duplicate or non-integer specimen id, or a species that
    ``species_names`` (``ingestion.species_names``) does not know.
    """
    missing = [field for field in CELL_COLUMNS if field not in cells.columns]
    if missing:
        raise ActdDumpError(
            f"ACTD {CELLS_FILE}: cell records lack the fields {missing} (as named by "
            f"CellTypesCache.get_cells()); expected all of {list(CELL_COLUMNS)}."
        )
    cells = cells[list(CELL_COLUMNS)].rename(columns=CELL_COLUMNS)
    cells["specimen_id"] = _integer_ids(cells["specimen_id"], CELLS_FILE)
    _require_unique(cells["specimen_id"], CELLS_FILE)

    known = cells["species"].isin(list(species_names))
    if not known.all():
        unknown = cells.loc[~known, "species"].fillna("<missing>").value_counts()
        raise ActdDumpError(
            f"ACTD {CELLS_FILE}, field species: unknown values {unknown.to_dict()} "
            f"(cell counts); expected one of {list(species_names)} "
            "(extend ingestion.species_names to admit another species)."
        )
    cells["species"] = cells["species"].map(species_names)
    text_columns = [c for c in cells.columns if c not in ("specimen_id", "donor_id")]
    cells[text_columns] = cells[text_columns].astype("string")
    cells["donor_id"] = _integer_ids(cells["donor_id"], CELLS_FILE, column="donor_id")
    return cells.sort_values("specimen_id", ignore_index=True)


def check_known_values(cells: pd.DataFrame, known_values: Mapping[str, Sequence[str]]) -> None:
    """Every categorical field holds a known spelling, or nothing (``ingestion.known_values``)."""
    for column, allowed in known_values.items():
        values = cells[column]
        unknown = values[values.notna() & ~values.isin(list(allowed))]
        if len(unknown):
            raise ActdDumpError(
                f"ACTD {CELLS_FILE}, field {column}: unknown values {unknown.value_counts().to_dict()} "
                f"(cell counts); expected one of {list(allowed)} or empty (extend "
                f"ingestion.known_values.{column} to admit another)."
            )


def check_value_ranges(table: pd.DataFrame, file: str, ranges: Mapping[str, tuple[float, float, str]]) -> None:
    """No value outside what a recording can produce (``ingestion.value_ranges``)."""
    for column, (low, high, unit) in ranges.items():
        if column not in table.columns:
            continue
        values = table[column]
        outside = values.notna() & ((values < low) | (values > high))
        if outside.any():
            rows = table.loc[outside, ["specimen_id", column]].head(_EXAMPLES)
            raise ActdDumpError(
                f"ACTD {file}, column {column}: {int(outside.sum())} values outside what a recording "
                f"can produce (e.g. {_describe_rows(rows, column)}); expected {unit} in [{low:g}, {high:g}] "
                f"(ingestion.value_ranges)."
            )


def _with_sampling_rates(cells: pd.DataFrame, rates: pd.DataFrame | None) -> pd.DataFrame:
    if rates is None or rates.empty:
        return cells
    orphans = sorted(set(rates["specimen_id"]) - set(cells["specimen_id"]))
    if orphans:
        raise ActdDumpError(
            f"ACTD {SHORT_SQUARE_SPIKES_FILE}: {len(orphans)} specimen ids have no cell in "
            f"{CELLS_FILE} (e.g. {orphans[:_EXAMPLES]}); expected every spike to belong to a cell."
        )
    rate = cells["specimen_id"].map(rates.set_index("specimen_id")["sampling_rate_khz"])
    cells = cells.assign(sampling_rate_khz=rate.astype("Int64"))
    logger.info(
        "ACTD dump: sampling rates (kHz) per species %s",
        cells.groupby("species")["sampling_rate_khz"].value_counts(dropna=False).to_dict(),
    )
    return cells


def check_specimens_agree(
    raw_cells: pd.DataFrame,
    raw_ephys_features: pd.DataFrame,
    raw_noise_spike_features: pd.DataFrame,
) -> None:
    """Every feature row belongs to a known cell, and every cell has precomputed features."""
    cells = set(raw_cells["specimen_id"])
    for name, table in (
        (EPHYS_FEATURES_FILE, raw_ephys_features),
        (NOISE_SPIKE_FEATURES_FILE, raw_noise_spike_features),
    ):
        orphans = sorted(set(table["specimen_id"]) - cells)
        if orphans:
            raise ActdDumpError(
                f"ACTD {name}: {len(orphans)} specimen_id values have no cell in {CELLS_FILE} "
                f"(e.g. {orphans[:_EXAMPLES]}); expected every feature row to belong to a cell."
            )
    without_features = sorted(cells - set(raw_ephys_features["specimen_id"]))
    if without_features:
        raise ActdDumpError(
            f"ACTD {EPHYS_FEATURES_FILE}: {len(without_features)} cells of {CELLS_FILE} have no "
            f"row (e.g. specimen_id {without_features[:_EXAMPLES]}); expected one row per cell."
        )


def _integer_ids(ids: pd.Series, file: str, column: str = "specimen_id") -> pd.Series:
    numeric = pd.to_numeric(ids, errors="coerce")
    bad = numeric.isna() | (numeric % 1 != 0)
    if bad.any():
        raise ActdDumpError(
            f"ACTD {file}, column {column}: {int(bad.sum())} values are not integer ids "
            f"(e.g. {ids[bad].head(_EXAMPLES).tolist()}); expected integer {column.replace('_id', '')} ids."
        )
    return numeric.astype("int64")


def _require_unique(ids: pd.Series, file: str) -> None:
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise ActdDumpError(
            f"ACTD {file}, column specimen_id: {len(duplicated)} ids occur more than once "
            f"(e.g. {duplicated[:_EXAMPLES].tolist()}); expected one row per specimen."
        )


def _numeric_table(table: pd.DataFrame, file: str, keep_as_is: Sequence[str]) -> pd.DataFrame:
    if "specimen_id" not in table.columns:
        raise ActdDumpError(
            f"ACTD {file}: no specimen_id column (columns: {list(table.columns)[:8]}...); "
            "expected one row per specimen keyed by specimen_id."
        )
    table = table.copy()
    table["specimen_id"] = _integer_ids(table["specimen_id"], file)
    _require_unique(table["specimen_id"], file)
    for column in table.columns.drop(["specimen_id", *[c for c in keep_as_is if c in table.columns]]):
        values = table[column]
        numeric = pd.to_numeric(values, errors="coerce")
        not_numbers = numeric.isna() & values.notna() & (values.astype(str).str.strip() != "")
        if not_numbers.any():
            rows = table.loc[not_numbers, ["specimen_id", column]].head(_EXAMPLES)
            raise ActdDumpError(
                f"ACTD {file}, column {column}: {int(not_numbers.sum())} non-numeric values "
                f"(e.g. {_describe_rows(rows, column)}); expected numbers (empty for missing)."
            )
        infinite = np.isinf(numeric.to_numpy(dtype=float))
        if infinite.any():
            rows = table.loc[infinite, ["specimen_id", column]].head(_EXAMPLES)
            raise ActdDumpError(
                f"ACTD {file}, column {column}: {int(infinite.sum())} infinite values "
                f"(e.g. {_describe_rows(rows, column)}); expected finite numbers or empty."
            )
        table[column] = numeric.astype("float64")
    return table.sort_values("specimen_id", ignore_index=True)


def _describe_rows(rows: pd.DataFrame, column: str) -> str:
    return ", ".join(f"{value!r} at specimen_id {sid}" for sid, value in zip(rows["specimen_id"], rows[column]))
