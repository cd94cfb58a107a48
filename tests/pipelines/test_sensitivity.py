"""The sensitivity analyses: variant cohorts and splits (feature engineering), their
scores (sensitivity pipeline) and their table (reporting)."""

import logging

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neuron_types.config import SensitivityVariant
from neuron_types.errors import ParameterError
from neuron_types.pipelines.feature_engineering.nodes import (
    assemble_features,
    build_cohort,
    build_ei_model_input,
    build_subclass_model_input,
    split_ei_cells,
    split_subclass_cells,
)
from neuron_types.pipelines.feature_engineering.variants import split_sensitivity_variants, variant_cells
from neuron_types.pipelines.reporting.sensitivity import sensitivity_markdown
from neuron_types.pipelines.sensitivity.nodes import (
    score_ei_variants,
    score_subclass_variants,
    summarise_sensitivity,
    unpaired_difference,
)
from tests.actd_fixture import actd_tables
from tests.params import raw_params, typed_params
from tests.pipelines.test_feature_engineering import INGESTION, TYPED, _raw, assert_no_leak


def _variant(**fields) -> SensitivityVariant:
    return SensitivityVariant.model_validate({"description": "test", "tasks": ["subclass"], **fields})


CELLS = pd.DataFrame({
    "specimen_id": [1, 2, 3, 4, 5, 6],
    "species": ["mouse", "mouse", "mouse", "human", "human", "mouse"],
    "sampling_rate_khz": [50, 200, None, 200, 50, 50],
    "transgenic_line": ["Gad2-IRES-Cre", "Sst-IRES-Cre", "Vip-IRES-Cre", None, None, "Sst-IRES-Cre"],
    "reporter_status": ["positive", "negative", None, None, None, "positive"],
})


def test_filters_keep_what_they_say():
    def kept(**fields):
        cells, why_not = variant_cells(CELLS, _variant(**fields), "cells")
        assert why_not == ""
        return cells["specimen_id"].tolist()

    # human cells stay whatever their rate; mouse cells of unknown rate leave
    assert kept(mouse_sampling_rate_khz=50) == [1, 4, 5, 6]
    assert kept(exclude_transgenic_lines=["Gad2-IRES-Cre"]) == [2, 3, 4, 5, 6]
    assert kept(reporter_status="positive") == [1, 6]
    assert kept(mouse_sampling_rate_khz=50, exclude_transgenic_lines=["Gad2-IRES-Cre"]) == [4, 5, 6]


def test_a_variant_the_table_cannot_support_says_why():
    cells, why_not = variant_cells(CELLS.drop(columns="sampling_rate_khz"), _variant(mouse_sampling_rate_khz=50),
                                   "ei_model_input")
    assert cells.empty and "ei_model_input has no sampling_rate_khz" in why_not
    _, why_not = variant_cells(CELLS.drop(columns="reporter_status"), _variant(reporter_status="positive"), "x")
    assert why_not == "x has no reporter_status column"


@pytest.mark.parametrize("fields, message", [
    ({}, "expected a protocol or at least one filter"),
    ({"tasks": ["ei"], "reporter_status": "positive"}, "only the subclass task's cells carry"),
    ({"mouse_sampling_rate_khz": "50"}, "mouse_sampling_rate_khz"),
])
def test_bad_variants_are_refused(fields, message):
    with pytest.raises(ParameterError, match=message):
        SensitivityVariant.model_validate({"description": "d", "tasks": ["subclass"], **fields})


def test_an_unknown_cre_line_is_named():
    raw = raw_params("feature_engineering")
    raw["sensitivity_variants"] = {"x": {"description": "d", "tasks": ["subclass"],
                                         "exclude_transgenic_lines": ["Gad2-IRES-Cr"]}}
    with pytest.raises(ParameterError, match=r"sensitivity_variants.x.exclude_transgenic_lines.*Gad2-IRES-Cre"):
        typed_params("feature_engineering", sensitivity_variants=raw["sensitivity_variants"])


# 3 folds, one repeat: the scores' tests fit 3 models x 5 variants x 3 folds in seconds
FAST = typed_params("feature_engineering", splits={**raw_params("feature_engineering")["splits"], "n_folds": 3,
                                                   "seeds": [11]})


@pytest.fixture(scope="module")
def model_inputs(tmp_path_factory):
    cells, ephys, noise = _raw(tmp_path_factory.mktemp("actd"), actd_tables(with_spikes=True))
    features = assemble_features(build_cohort(cells, noise, TYPED), ephys, noise, TYPED)
    return build_ei_model_input(features, TYPED), build_subclass_model_input(features, TYPED)


@pytest.fixture(scope="module")
def variant_splits(model_inputs):
    return split_sensitivity_variants(*model_inputs, FAST)


def test_every_variant_is_split_like_the_primary_without_leaks(model_inputs, variant_splits):
    ei, subclass = model_inputs
    table, record = variant_splits
    inputs = {"ei": ei, "subclass": subclass}
    expected = {(name, task) for name, v in TYPED.sensitivity_variants.items() for task in v.tasks}
    assert set(map(tuple, table[["variant", "task"]].drop_duplicates().to_numpy())) == expected
    for (name, task), splits in table.groupby(["variant", "task"]):
        variant = TYPED.sensitivity_variants[name]
        cells = inputs[task][inputs[task]["specimen_id"].isin(splits["specimen_id"])]
        assert sorted(splits["split"].unique()) == list(range(3))
        grouped = (variant.protocol or TYPED.splits.protocol) == "donor_grouped_cv"
        assert_no_leak(splits.drop(columns=["variant", "task"]), cells, grouped=grouped)
        assert record[name]["tasks"][task]["n_cells"] == len(cells)
        if variant.mouse_sampling_rate_khz:
            mouse = cells[cells["species"] == "mouse"]
            assert (mouse["sampling_rate_khz"] == 50).all() and len(mouse) < (inputs[task]["species"] == "mouse").sum()
            assert (cells["species"] == "human").sum() == (inputs[task]["species"] == "human").sum()
    # the cell-level variant holds the primary cohort, split without donor groups
    cell_level = table[(table["variant"] == "cell_level_splits") & (table["task"] == "ei")]
    assert set(cell_level["protocol"]) == {"cell_level_cv"}
    assert set(cell_level["specimen_id"]) == set(ei["specimen_id"])


def test_without_a_sampling_rate_the_rate_variant_is_skipped_with_a_log_line(tmp_path, caplog):
    cells, ephys, noise = _raw(tmp_path, actd_tables())
    features = assemble_features(build_cohort(cells, noise, TYPED), ephys, noise, TYPED)
    with caplog.at_level(logging.INFO):
        table, record = split_sensitivity_variants(build_ei_model_input(features, TYPED),
                                                   build_subclass_model_input(features, TYPED), TYPED)
    assert "mouse_50_khz" not in set(table["variant"])
    assert "no sampling_rate_khz" in record["mouse_50_khz"]["tasks"]["ei"]["skipped"]
    assert "sensitivity variant mouse_50_khz (ei): skipped" in caplog.text


SENSITIVITY = typed_params("sensitivity", subclass={**raw_params("sensitivity")["subclass"],
                                                    "grids": {"logistic_regression": {"C": [0.1, 1.0]},
                                                              "svc": {"C": [1.0]}}},
                           ei={"models": ["logistic_regression", "logistic_regression_source_only"],
                               "c_grid": [0.1, 1.0]})


@pytest.fixture(scope="module")
def scored(model_inputs, variant_splits):
    ei, subclass = model_inputs
    features = TYPED.features.names
    table, record = variant_splits
    ei_splits, subclass_splits = split_ei_cells(ei, FAST), split_subclass_cells(subclass, FAST)
    ei_metrics = score_ei_variants(ei, ei_splits, table, features, SENSITIVITY)
    subclass_metrics = score_subclass_variants(subclass, subclass_splits, table, features, TYPED.subclass_names,
                                               SENSITIVITY)
    summary = summarise_sensitivity(ei_metrics, subclass_metrics, ei_splits, subclass_splits, table, record)
    return ei_metrics, subclass_metrics, summary


def test_every_variant_and_the_primary_are_scored_by_every_model(scored):
    ei_metrics, subclass_metrics, summary = scored
    assert set(ei_metrics["variant"]) == {"primary", "cell_level_splits", "mouse_50_khz"}
    assert set(ei_metrics["model"]) == set(SENSITIVITY.ei.models)
    assert set(ei_metrics["species"]) == {"human", "mouse"}
    assert set(subclass_metrics["variant"]) == {"primary", *(n for n, v in TYPED.sensitivity_variants.items()
                                                            if "subclass" in v.tasks)}
    assert set(summary["ei"]) == {"primary", "cell_level_splits", "mouse_50_khz"}
    primary = summary["ei"]["primary"]["models"]["logistic_regression"]["human"]["accuracy"]
    assert primary["n_folds"] == 3 and primary["ci95"][0] <= primary["mean"] <= primary["ci95"][1]
    difference = summary["ei"]["cell_level_splits"]["difference"]["logistic_regression"]["human"]["accuracy"]
    variant = summary["ei"]["cell_level_splits"]["models"]["logistic_regression"]["human"]["accuracy"]
    assert difference["mean"] == pytest.approx(variant["mean"] - primary["mean"])
    assert "difference" not in summary["ei"]["primary"]


def test_the_source_only_model_reads_no_human_label(model_inputs, variant_splits):
    """Flipping every human label changes none of the source-only model's human predictions'
    scores' inputs: its accuracy on human cells turns into 1 − accuracy."""
    ei, _ = model_inputs
    table, _ = variant_splits
    features = TYPED.features.names
    splits = split_ei_cells(ei, FAST)
    flipped = ei.copy()
    human = flipped["species"] == "human"
    flipped.loc[human, "excitatory"] = 1 - flipped.loc[human, "excitatory"]
    only = typed_params("sensitivity", ei={"models": ["logistic_regression_source_only"], "c_grid": [0.1, 1.0]})
    empty = table.iloc[:0]
    a = score_ei_variants(ei, splits, empty, features, only).query("species == 'human' and metric == 'accuracy'")
    b = score_ei_variants(flipped, splits, empty, features, only).query("species == 'human' and metric == 'accuracy'")
    np.testing.assert_allclose(a["value"].to_numpy(), 1 - b["value"].to_numpy())


def test_unpaired_difference_matches_a_hand_computed_case():
    a = {"mean": 0.90, "ci95": [0.90 - 2.145 * 0.02, 0.90 + 2.145 * 0.02], "dof": 14}
    b = {"mean": 0.85, "ci95": [0.85 - stats.t.ppf(0.975, 9) * 0.03, 0.85 + stats.t.ppf(0.975, 9) * 0.03], "dof": 9}
    result = unpaired_difference(a, b)
    se = np.hypot(0.02 * 2.145 / stats.t.ppf(0.975, 14), 0.03)
    assert result["mean"] == pytest.approx(0.05)
    assert result["dof"] == 9 and result["standard_error"] == pytest.approx(se)
    assert result["ci95"] == pytest.approx([0.05 - stats.t.ppf(0.975, 9) * se, 0.05 + stats.t.ppf(0.975, 9) * se])


def test_the_markdown_table_has_the_primary_each_variant_and_the_skipped_ones(scored):
    _, _, summary = scored
    summary = {**summary, "subclass": {**summary["subclass"],
                                       "reporter_positive": {"description": "only +", "skipped": "no column"}}}
    comparison = {"metric_labels": {"accuracy": "accuracy", "f1_macro": "macro F1"}, "sensitivity": summary,
                  "tasks": {"ei": {"title": "EI", "species": ["human", "mouse"], "sensitivity_metrics": ["accuracy"],
                                   "model_labels": {"logistic_regression": "LR"}},
                            "subclass": {"title": "Sub", "species": ["mouse"], "sensitivity_metrics": ["f1_macro"],
                                         "model_labels": {}}}}
    lines = sensitivity_markdown(comparison)
    ei_rows = [line for line in lines if line.startswith("| primary") or line.startswith("| cell_level")]
    assert any("| LR |" in row for row in ei_rows)
    assert "| human accuracy | Δ vs primary | mouse accuracy | Δ vs primary |" in lines[2]
    assert any(line.startswith("| reporter_positive: only + | – | skipped: no column") for line in lines)
    primary_row = next(line for line in lines if line.startswith("| primary") and "| LR |" in line)
    assert primary_row.rstrip(" |").endswith("–")  # the primary has no difference to itself


def test_subclass_variants_scored_in_two_processes_equal_one(model_inputs, variant_splits, scored):
    _, subclass = model_inputs
    table, _ = variant_splits
    one_process = SENSITIVITY.model_copy(update={"subclass": SENSITIVITY.subclass.model_copy(update={"n_jobs": 1})})
    assert SENSITIVITY.subclass.n_jobs == 2  # what `scored` ran with (conf/base)
    sequential = score_subclass_variants(subclass, split_subclass_cells(subclass, FAST), table, TYPED.features.names,
                                         TYPED.subclass_names, one_process)
    pd.testing.assert_frame_equal(sequential, scored[1])
