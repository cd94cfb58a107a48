"""The user's table of new cells, checked before any model sees it: every problem stops
the run with one line naming the table (``predict.cells``), the column or cells and what
was expected. The table is a CSV or parquet table, or an ACTD-layout dump (its raw tables,
as ``ActdDumpDataset`` loads them), from which the models' features are assembled.
Kedro-free."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from neuron_types.cells import ID, SPECIES
from neuron_types.config import FeatureEngineeringParams, IngestionParams, PredictParams
from neuron_types.errors import InputError

TABLE = "predict.cells"
_EXAMPLES = 5
MISSING = "missing_features"
ACTD_TABLES = ("cells", "ephys_features", "noise_spike_features")


def _examples(values) -> str:
    values = list(values)
    more = f" and {len(values) - _EXAMPLES} more" if len(values) > _EXAMPLES else ""
    return ", ".join(map(str, values[:_EXAMPLES])) + more


def _specimen_ids(ids: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(ids, errors="coerce")
    bad = ids[numeric.isna() | (numeric % 1 != 0)]
    if len(bad):
        raise InputError(f"{TABLE}, column {ID}: {len(bad)} values that are not integers "
                         f"(e.g. {_examples(map(repr, bad))}); expected one integer id per cell.")
    numeric = numeric.astype("int64")
    duplicated = numeric[numeric.duplicated()].unique()
    if len(duplicated):
        raise InputError(f"{TABLE}, column {ID}: ids {_examples(duplicated)} appear more than once; "
                         "expected one row per cell.")
    return numeric


def _features(table: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    columns = {}
    for column in features:
        values = table[column]
        numeric = pd.to_numeric(values, errors="coerce")
        not_numbers = numeric.isna() & values.notna() & (values.astype(str).str.strip() != "")
        if not_numbers.any():
            rows = table.loc[not_numbers, [ID, column]].head(_EXAMPLES)
            found = ", ".join(f"{v!r} at specimen_id {i}" for i, v in zip(rows[ID], rows[column]))
            raise InputError(f"{TABLE}, column {column}: {int(not_numbers.sum())} non-numeric values "
                             f"(e.g. {found}); expected numbers.")
        columns[column] = numeric.astype("float64")
    values = pd.DataFrame(columns, index=table.index)
    infinite = np.isinf(values.to_numpy())
    if infinite.any():
        bad = [c for c, flag in zip(features, infinite.any(axis=0)) if flag]
        raise InputError(f"{TABLE}: infinite values in columns {bad}; expected finite numbers.")
    return values


def _missing_features(table: pd.DataFrame, values: pd.DataFrame, predict: PredictParams) -> pd.Series:
    """Per cell, the features it lacks joined by ``;`` (``""`` when none). With
    ``predict.missing_features: reject`` a cell lacking any stops the run; with ``skip``
    it stays in the table, unclassified."""
    missing = values.isna()
    lacking = pd.Series([";".join(values.columns[row]) for row in missing.to_numpy()], index=table.index)
    if missing.any().any() and predict.missing_features == "reject":
        cells = table.loc[missing.any(axis=1), ID]
        columns = [c for c in values.columns if missing[c].any()]
        raise InputError(
            f"{TABLE}: {len(cells)} cells lack features (specimen_id {_examples(cells)}; columns "
            f"{columns}); expected every feature of feature_names for every cell "
            "(predict.missing_features: reject; drop or complete those cells, or set it to skip)."
        )
    return lacking


def _species(table: pd.DataFrame, predict: PredictParams) -> pd.Series:
    if "species" in table.columns:
        if predict.species is not None:
            raise InputError(f"{TABLE} has a species column and parameter predict.species is "
                             f"{predict.species!r}; expected one of the two (set predict.species: null).")
        species = table["species"]
        unexpected = species[~species.isin(SPECIES)].fillna("<missing>").value_counts()
        if len(unexpected):
            raise InputError(f"{TABLE}, column species: unexpected values {unexpected.to_dict()} (cell "
                             f"counts); expected one of {list(SPECIES)}.")
        return species.astype(str)
    if predict.species is None:
        raise InputError(f"{TABLE}: no species column and parameter predict.species is null; expected "
                         f"a species column or --params=predict.species=mouse (or human).")
    return pd.Series(predict.species, index=table.index)


def cells_from_actd_dump(
    dump: Mapping[str, pd.DataFrame], ingestion: IngestionParams, feature_engineering: FeatureEngineeringParams,
) -> pd.DataFrame:
    """Every cell of an ACTD-layout dump with ``specimen_id``, ``species``, ``donor_id``
    and its features (empty where the dump has none), validated as ingestion validates a
    dump. No cohort rule applies: a cell needs no label to be classified."""
    from neuron_types.pipelines.ingestion.nodes import validate_actd_dump

    cells, ephys, noise = validate_actd_dump(dump, ingestion)
    table = cells[[ID, "species", "donor_id"]].astype({"species": str})
    features = feature_engineering.features
    for source, columns, file in ((noise, features.noise_spike, "noise_spike_features.csv"),
                                  (ephys, features.precomputed, "ephys_features.csv")):
        absent = [c for c in columns if c not in source.columns]
        if absent:
            raise InputError(f"{TABLE}, ACTD {file}: feature columns {absent} are missing; expected every "
                             "feature of feature_engineering.features.")
        table = table.merge(source[[ID, *columns]], on=ID, how="left")
    return table


def check_new_cells(
    cells: pd.DataFrame | Mapping[str, pd.DataFrame], feature_names: list[str], predict: PredictParams,
    ingestion: IngestionParams, feature_engineering: FeatureEngineeringParams,
) -> pd.DataFrame:
    """The table as the models take it: ``specimen_id``, ``species``, the features in the
    models' order, ``missing_features`` (``;``-joined, ``""`` when none), then the
    pass-through columns present, in the table's row order."""
    if isinstance(cells, Mapping) and all(name in cells for name in ACTD_TABLES):
        cells = cells_from_actd_dump(cells, ingestion, feature_engineering)
    if not isinstance(cells, pd.DataFrame):
        raise InputError(f"{TABLE}: got {type(cells).__name__}; expected a table (CSV or parquet) with "
                         "one row per cell, or an ACTD dump (see docs/classify_your_own_cells.md).")
    if ID not in cells.columns:
        raise InputError(f"{TABLE}: no {ID} column (columns: {_examples(cells.columns)}); expected one row "
                         f"per cell keyed by {ID}.")
    if cells.empty:
        raise InputError(f"{TABLE}: has a header but no rows; expected one row per cell.")
    features = list(feature_names)
    known = {ID, "species", *features, *predict.passthrough_columns}
    unknown = [c for c in cells.columns if c not in known]
    if unknown:
        raise InputError(f"{TABLE}: unknown columns {unknown}; expected {ID}, species, the "
                         f"{len(features)} features of feature_names and optionally "
                         f"predict.passthrough_columns {list(predict.passthrough_columns)}.")
    absent = [c for c in features if c not in cells.columns]
    if absent:
        raise InputError(f"{TABLE}: columns {absent} are missing (the table has {len(cells.columns)} "
                         "columns); expected every feature of feature_names.")
    table = cells.reset_index(drop=True)
    table = table.assign(**{ID: _specimen_ids(table[ID])})
    values = _features(table, features)
    lacking = _missing_features(table, values, predict).rename(MISSING)
    passthrough = [c for c in predict.passthrough_columns if c in table.columns]
    return pd.concat([table[[ID]], _species(table, predict).rename("species"), values, lacking, table[passthrough]],
                     axis=1)
