"""Ingestion: the raw ACTD dump, validated and typed, one row per specimen."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from neuron_types.io.actd import (
    CELLS_FILE,
    EPHYS_FEATURE_COLUMNS,
    EPHYS_FEATURES_FILE,
    NOISE_SPIKE_FEATURE_COLUMNS,
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
_LOGGED_EXAMPLES = 5  # specimen ids named per table when rows leave the run
# the name pandas gives a column whose header field is empty
_UNNAMED = re.compile(r"^Unnamed: \d+$")


def validate_actd_dump(
    actd_dump: Mapping[str, pd.DataFrame], ingestion: IngestionParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The dump's three tables, validated and typed, one row per specimen.

    When the dump has sampling rates (``actd_dump["sampling_rates"]``, from
    ``short_square_spikes.npz``), the cells get a nullable ``sampling_rate_khz`` column
    (empty for a cell without a short-square spike); without them the column is absent.
    Everything is checked before anything is returned, so a malformed dump never
    replaces the raw tables of a previous good run. Tables that do not list the same
    specimens (another release, a subset) are no malformation: see
    :func:`keep_shared_specimens`; columns ingestion does not read: :func:`known_columns`.
    """
    cells = validate_cells(actd_dump["cells"], ingestion.species_names)
    check_known_values(cells, ingestion.known_values.model_dump())
    ephys = known_columns(actd_dump["ephys_features"], EPHYS_FEATURES_FILE,
                          [*EPHYS_FEATURE_COLUMNS, *ingestion.ephys_boolean_columns])
    ephys = _numeric_table(ephys, EPHYS_FEATURES_FILE, ingestion.ephys_boolean_columns)
    noise = known_columns(actd_dump["noise_spike_features"], NOISE_SPIKE_FEATURES_FILE, NOISE_SPIKE_FEATURE_COLUMNS)
    noise = (
        noise.astype({"specimen_id": "int64"})
        if noise.empty
        else _numeric_table(noise, NOISE_SPIKE_FEATURES_FILE, keep_as_is=())
    )
    for table, file in ((ephys, EPHYS_FEATURES_FILE), (noise, NOISE_SPIKE_FEATURES_FILE)):
        check_value_ranges(table, file, ingestion.ranges)
    cells, ephys, noise = keep_shared_specimens(cells, ephys, noise)
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
    # like a feature row, a spike of a specimen that is not a cell of the run leaves it
    _report_left_out(rates, set(cells["specimen_id"]), SHORT_SQUARE_SPIKES_FILE,
                     "spikes are of specimens not among the cells")
    rate = cells["specimen_id"].map(rates.set_index("specimen_id")["sampling_rate_khz"])
    cells = cells.assign(sampling_rate_khz=rate.astype("Int64"))
    logger.info(
        "ACTD dump: sampling rates (kHz) per species %s",
        cells.groupby("species")["sampling_rate_khz"].value_counts(dropna=False).to_dict(),
    )
    return cells


def keep_shared_specimens(
    cells: pd.DataFrame, ephys: pd.DataFrame, noise: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The specimens that both cells.json and ephys_features.csv list, with their noise rows.

    Another release, or a subset of one, need not list the same specimens in every table:
    a cell without precomputed features, or a feature row whose cell cells.json lacks, is
    no corruption. Those rows leave the run, counted in one warning per table with a few
    specimen ids. Refused only when the two tables share no specimen at all.
    """
    listed = set(cells["specimen_id"])
    shared = listed & set(ephys["specimen_id"])
    if not shared:
        raise ActdDumpError(
            f"ACTD {CELLS_FILE} and {EPHYS_FEATURES_FILE}: no specimen_id in both ({len(cells)} cells, "
            f"e.g. {_examples(cells['specimen_id'])}; {len(ephys)} feature rows, e.g. "
            f"{_examples(ephys['specimen_id'])}); expected the tables of one release, keyed by the same ids."
        )
    _report_left_out(cells, shared, CELLS_FILE, f"cells have no row in {EPHYS_FEATURES_FILE}")
    _report_left_out(ephys, listed, EPHYS_FEATURES_FILE, f"rows have no cell in {CELLS_FILE}")
    _report_left_out(noise, shared, NOISE_SPIKE_FEATURES_FILE,
                     f"rows have no cell in {CELLS_FILE} with a row in {EPHYS_FEATURES_FILE}")
    return tuple(table[table["specimen_id"].isin(shared)].reset_index(drop=True) for table in (cells, ephys, noise))


def known_columns(table: pd.DataFrame, file: str, known: Sequence[str]) -> pd.DataFrame:
    """``table`` without the columns ingestion does not read, named in one log line: a row
    index written out with the table (an empty header field, which pandas reads back as
    ``Unnamed: 0``) and any column that the ACTD's ``file`` does not have."""
    unnamed = [column for column in table.columns if _UNNAMED.match(str(column))]
    unknown = [column for column in table.columns if column not in known and column not in unnamed]
    if not unnamed and not unknown:
        return table
    ignored = [f"{len(unnamed)} unnamed (a written-out row index) {unnamed}"] if unnamed else []
    ignored += [f"{len(unknown)} not in the ACTD's {file} {unknown}"] if unknown else []
    logger.info("ACTD %s: ignored columns: %s", file, "; ".join(ignored))
    return table.drop(columns=unnamed + unknown)


def _report_left_out(table: pd.DataFrame, kept: set, file: str, why: str) -> None:
    left_out = table.loc[~table["specimen_id"].isin(kept), "specimen_id"]
    if len(left_out):
        logger.warning("ACTD %s: %d %s and leave the run (e.g. specimen_id %s); %d stay",
                       file, len(left_out), why, _examples(left_out), len(table) - len(left_out))


def _examples(ids: pd.Series) -> list[int]:
    return sorted(ids.unique().tolist())[:_LOGGED_EXAMPLES]


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
