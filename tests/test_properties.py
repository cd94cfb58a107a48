"""Property-based tests (hypothesis) of the validation and feature functions, and exhaustive
checks of every committed parameter's messages."""

from __future__ import annotations

import math
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from neuron_types.evaluation import summarise_splits
from neuron_types.io import ActdDumpError
from neuron_types.io.actd import EPHYS_FEATURE_COLUMNS
from neuron_types.config import SECTIONS
from neuron_types.errors import ParameterError
from neuron_types.pipelines.feature_engineering.nodes import build_cohort
from neuron_types.pipelines.ingestion.nodes import validate_actd_dump
from neuron_types.splits import ROLES, repeated_stratified_splits
from tests.params import raw_params, typed_params

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPECIES = {"Mus musculus": "mouse", "Homo Sapiens": "human"}
FLAGS = ["has_burst"]
INGESTION = typed_params("ingestion", species_names=SPECIES, ephys_boolean_columns=FLAGS)
FEATURE_ENGINEERING = typed_params("feature_engineering")
COHORT = raw_params("feature_engineering")["cohort"]

# --- ingestion: numeric tables

values = st.floats(allow_nan=True, allow_infinity=False, width=64)
# columns the ACTD's ephys_features.csv has (ingestion drops any other) and no value range
# bounds, so that any finite float is a valid value
_RANGED = {column for limits in INGESTION.value_ranges for column in limits.columns}
UNBOUNDED_COLUMNS = [c for c in EPHYS_FEATURE_COLUMNS
                     if c not in _RANGED and c not in ("specimen_id", "id") and not c.startswith("has_")]
column_names = st.lists(st.sampled_from(UNBOUNDED_COLUMNS), min_size=1, max_size=4, unique=True)


@st.composite
def feature_tables(draw):
    """A raw precomputed-features table: unique ids (any order), float columns with NaN."""
    ids = draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=15, unique=True))
    columns = draw(column_names)
    table = pd.DataFrame({c: draw(st.lists(values, min_size=len(ids), max_size=len(ids))) for c in columns})
    table.insert(0, "specimen_id", ids)
    table["has_burst"] = draw(st.lists(st.booleans(), min_size=len(ids), max_size=len(ids)))
    return table


def _cells_for(ids) -> pd.DataFrame:
    """``get_cells()``-shaped records for ``ids`` (the fields ingestion reads)."""
    n = len(ids)
    return pd.DataFrame({
        "id": list(ids), "name": [f"c{i}" for i in ids], "species": ["Mus musculus"] * n,
        "donor_id": [1] * n, "dendrite_type": ["spiny"] * n, "transgenic_line": [None] * n,
        "reporter_status": [None] * n, "structure_layer_name": ["4"] * n,
        "structure_area_abbrev": ["VISp"] * n, "disease_state": [None] * n,
    })


def _validate(ephys: pd.DataFrame):
    dump = {"cells": _cells_for(ephys["specimen_id"]), "ephys_features": ephys,
            "noise_spike_features": pd.DataFrame({"specimen_id": pd.Series(dtype="int64")})}
    return validate_actd_dump(dump, INGESTION)


@FAST
@given(feature_tables())
def test_finite_feature_tables_pass_and_keep_every_value(ephys):
    _, validated, _ = _validate(ephys)
    assert validated["specimen_id"].is_monotonic_increasing
    expected = ephys.sort_values("specimen_id", ignore_index=True)
    for column in ephys.columns.drop(["specimen_id", *FLAGS]):
        assert validated[column].dtype == np.float64
        np.testing.assert_array_equal(validated[column].to_numpy(), expected[column].to_numpy())
    assert validated["has_burst"].tolist() == expected["has_burst"].tolist()


not_a_number = st.text(alphabet=string.ascii_letters + string.punctuation + " ", min_size=1, max_size=10).filter(
    lambda text: text.strip() != "" and pd.isna(pd.to_numeric(pd.Series([text]), errors="coerce")[0])
)


@FAST
@given(feature_tables(), st.data(), not_a_number)
def test_a_non_numeric_value_is_reported_with_its_column_and_row(ephys, data, text):
    columns = list(ephys.columns.drop(["specimen_id", *FLAGS]))
    column = data.draw(st.sampled_from(columns))
    row = data.draw(st.integers(0, len(ephys) - 1))
    ephys[column] = ephys[column].astype(object)
    ephys.loc[row, column] = text
    with pytest.raises(ActdDumpError) as raised:
        _validate(ephys)
    message = str(raised.value)
    # the first offending column in table order is reported: here, the only one
    assert f"column {column}: 1 non-numeric values" in message
    assert f"{text!r} at specimen_id {ephys.loc[row, 'specimen_id']}" in message
    assert "expected numbers" in message


@FAST
@given(feature_tables(), st.data(), st.sampled_from([np.inf, -np.inf]))
def test_an_infinite_value_is_reported_with_its_column(ephys, data, infinity):
    column = data.draw(st.sampled_from(list(ephys.columns.drop(["specimen_id", *FLAGS]))))
    ephys.loc[data.draw(st.integers(0, len(ephys) - 1)), column] = infinity
    with pytest.raises(ActdDumpError, match=f"column {column}: 1 infinite values"):
        _validate(ephys)


# --- splits

@st.composite
def stratified_cells(draw):
    """Cells in 1-4 strata of 3-40 cells, and split fractions that leave every role a cell
    of every stratum (sklearn needs as many test and validation cells as strata)."""
    sizes = draw(st.lists(st.integers(3, 40), min_size=1, max_size=4))
    labels = [f"class{i}" for i, size in enumerate(sizes) for _ in range(size)]
    ids = draw(st.lists(st.integers(1, 10**8), min_size=len(labels), max_size=len(labels), unique=True))
    cells = pd.DataFrame({"specimen_id": ids, "label": labels})
    test_fraction = draw(st.floats(0.1, 0.4))
    validation_fraction = draw(st.floats(0.05, 0.5 * (1 - test_fraction)))
    n, k = len(cells), len(sizes)
    n_test = math.ceil(test_fraction * n)
    n_validation = math.ceil(validation_fraction / (1 - test_fraction) * (n - n_test))
    assume(n_test >= k and n - n_test - n_validation >= k and n_validation >= k)
    seeds = draw(st.lists(st.integers(0, 2**31 - 1), min_size=1, max_size=3, unique=True))
    return cells, seeds, test_fraction, validation_fraction


@FAST
@given(stratified_cells())
def test_splits_are_disjoint_covering_stratified_and_repeatable(drawn):
    cells, seeds, test_fraction, validation_fraction = drawn
    splits = repeated_stratified_splits(cells, ["label"], seeds, test_fraction, validation_fraction)
    assert sorted(splits["split"].unique()) == list(range(len(seeds)))
    strata = cells.set_index("specimen_id")["label"]
    n, sizes = len(cells), strata.value_counts()
    for _, one in splits.groupby("split"):
        assert one["specimen_id"].is_unique  # disjoint roles
        assert set(one["specimen_id"]) == set(cells["specimen_id"])  # covering
        assert set(one["role"]) == set(ROLES)
        counts = one.assign(label=one["specimen_id"].map(strata)).groupby(["label", "role"]).size()
        n_test = int((one["role"] == "test").sum())
        n_validation = int((one["role"] == "validation").sum())
        for label, size in sizes.items():
            test = counts.get((label, "test"), 0)
            validation = counts.get((label, "validation"), 0)
            # each stratum keeps its share of each role, to within one cell
            assert abs(test - size * n_test / n) <= 1
            assert abs(validation - (size - test) * n_validation / (n - n_test)) <= 1
    again = repeated_stratified_splits(cells, ["label"], seeds, test_fraction, validation_fraction)
    pd.testing.assert_frame_equal(splits, again)


# --- summaries across splits

metric_values = st.floats(0.0, 1.0, allow_nan=False)  # every score here is a fraction
per_split_scores = st.lists(
    st.dictionaries(st.sampled_from(["accuracy", "f1_macro", "roc_auc"]), metric_values, min_size=1),
    min_size=1, max_size=8,
)


@FAST
@given(per_split_scores)
def test_summary_mean_lies_within_the_splits_and_its_interval(per_split):
    summary = summarise_splits(per_split)
    assert set(summary) == {name for scores in per_split for name in scores}
    for name, stats in summary.items():
        observed = [scores[name] for scores in per_split if name in scores]
        tolerance = 1e-9 * max(1.0, max(abs(v) for v in observed))
        assert stats["n_splits"] == len(observed)
        assert min(observed) - tolerance <= stats["mean"] <= max(observed) + tolerance
        assert stats["std"] >= 0
        lo, hi = stats["ci95"]
        assert 0.0 <= lo <= stats["mean"] <= hi <= 1.0
        if len(observed) == 1:
            assert stats["std"] == 0 and lo == hi == stats["mean"]


# --- the cohort and its labels

LINES = [*list(COHORT["cre_lines"])[:8], "Unknown-Cre", None]


@st.composite
def raw_cells(draw):
    n = draw(st.integers(1, 40))
    cells = pd.DataFrame({
        "specimen_id": range(1, n + 1),
        "species": draw(st.lists(st.sampled_from(["mouse", "human"]), min_size=n, max_size=n)),
        "dendrite_type": draw(st.lists(st.sampled_from(["spiny", "aspiny", "sparsely spiny", None]), min_size=n, max_size=n)),
        "transgenic_line": draw(st.lists(st.sampled_from(LINES), min_size=n, max_size=n)),
        "donor_id": draw(st.lists(st.integers(1, 5), min_size=n, max_size=n)),
        "reporter_status": draw(st.lists(st.sampled_from(["positive", "negative", None]), min_size=n, max_size=n)),
    }).astype({"species": "string", "dendrite_type": "string", "transgenic_line": "string",
               "donor_id": "int64", "reporter_status": "string"})
    with_noise = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    noise = pd.DataFrame({"specimen_id": cells.loc[with_noise, "specimen_id"].astype("int64")})
    return cells, noise


def _belongs(cell) -> bool:
    cell_class = COHORT["cell_classes"].get(cell.dendrite_type) if isinstance(cell.dendrite_type, str) else None
    if cell_class is None:  # a labelled cell stays without noise-sweep features
        return False
    if cell.species == "human":
        return True
    line = COHORT["cre_lines"].get(cell.transgenic_line) if isinstance(cell.transgenic_line, str) else None
    return line is not None and line["neurotransmitter"] == COHORT["class_neurotransmitter"][cell_class]


@FAST
@given(raw_cells())
def test_cohort_holds_exactly_the_cells_whose_labels_agree(drawn):
    cells, noise = drawn
    expected = cells.assign(has_noise=cells["specimen_id"].isin(noise["specimen_id"]))
    rows = list(expected.itertuples())
    expected = {row.specimen_id for row in rows if _belongs(row)}
    # mouse cells that could have entered but none did: the subclass task would be empty
    mouse_candidates = [r for r in rows if r.species == "mouse"
                        and isinstance(r.dendrite_type, str) and r.dendrite_type in COHORT["cell_classes"]]
    mouse_kept = [r for r in rows if r.species == "mouse" and r.specimen_id in expected]
    if not expected or (mouse_candidates and not mouse_kept):
        with pytest.raises(ValueError, match="no cell is left"):
            build_cohort(cells, noise, FEATURE_ENGINEERING)
        return
    cohort = build_cohort(cells, noise, FEATURE_ENGINEERING)
    assert set(cohort["specimen_id"]) == expected
    for row in cohort.itertuples():
        assert row.cell_class == COHORT["cell_classes"][row.dendrite_type]
        if row.species == "mouse":
            line = COHORT["cre_lines"][row.transgenic_line]
            assert row.subclass == line["subclass"] and row.neurotransmitter == line["neurotransmitter"]
        else:
            assert pd.isna(row.subclass) and pd.isna(row.neurotransmitter)


# --- parameters: every committed value, replaced or misspelt, is named by its path


def _leaves(tree, path=()):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, (*path, key))
    else:
        yield path, tree


def _mappings(tree, path=()):
    if isinstance(tree, dict):
        yield path
        for key, value in tree.items():
            yield from _mappings(value, (*path, key))


def _at(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def _numbers(key):
    return [(key, path) for path, value in _leaves(raw_params(key))
            if isinstance(value, int | float) and not isinstance(value, bool)]


NUMBERS = [case for key in SECTIONS for case in _numbers(key)]
MAPPINGS = [(key, path) for key in SECTIONS for path in _mappings(raw_params(key))
            # open mappings: names the user chooses (models, Cre lines, labels, grids, results)
            if not set(path) & {"models", "cre_lines", "species_names", "cell_classes", "class_neurotransmitter",
                                "metric_labels", "model_labels", "results", "grids", "tasks",
                                "sensitivity_variants", "differences"}]


@pytest.mark.parametrize("key, path", NUMBERS, ids=lambda v: ".".join(v) if isinstance(v, tuple) else v)
def test_a_number_replaced_by_text_is_named_by_its_path(key, path):
    params = raw_params(key)
    _at(params, path[:-1])[path[-1]] = "ten"
    with pytest.raises(ParameterError) as raised:
        SECTIONS[key].model_validate(params)
    assert str(raised.value).startswith(f"{SECTIONS[key].conf_file}, {key}.{'.'.join(path)}: got 'ten' (str); "
                                        "expected a")


@pytest.mark.parametrize("key, path", MAPPINGS, ids=lambda v: ".".join(v) if isinstance(v, tuple) else v)
def test_an_unknown_key_is_named_with_the_closest_known_one(key, path):
    params = raw_params(key)
    mapping = _at(params, path)
    known = sorted(mapping)
    misspelt = known[0] + "x"
    mapping[misspelt] = mapping[known[0]]
    with pytest.raises(ParameterError) as raised:
        SECTIONS[key].model_validate(params)
    where = ".".join((key, *path, misspelt))
    assert f"{where}: unknown key (did you mean {known[0]!r}?); expected one of" in str(raised.value)


@pytest.mark.parametrize("key", list(SECTIONS))
def test_committed_parameters_pass(key):
    assert typed_params(key).model_dump() is not None
