"""The pipelines' summaries read with the splits table: fold design, corrected intervals of
every model and metric, the declared family of paired comparisons, and confusion matrices
that count a cell once per repeat."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from neuron_types.evaluation import (
    confusion_averaged_over_repeats,
    fold_design,
    paired_comparisons,
    summarise_split_metrics,
)
from neuron_types.splits import make_splits, repeated_stratified_splits

# 2 repeats x 2 folds of 4 cells (specimen 1-4): each fold tests 2 cells and trains on 2
# (train and validation roles), so n_test / n_train = 1
FOLDS = pd.DataFrame(
    [{"split": 2 * r + f, "seed": (7, 9)[r], "repeat": r, "fold": f, "specimen_id": i,
      "role": "test" if (i + f + r) % 2 == 0 else ("train" if i <= 2 else "validation"),
      "protocol": "donor_grouped_cv"}
     for r in (0, 1) for f in (0, 1) for i in (1, 2, 3, 4)]
)
ACCURACY = [0.80, 0.90, 0.70, 0.80]
T_975_DOF3 = 3.182446305284263


def long_table(per_model: dict, species="mouse", metric="accuracy") -> pd.DataFrame:
    return pd.DataFrame([{"model": model, "split": k, "species": species, "metric": metric, "value": v}
                         for model, values in per_model.items() for k, v in enumerate(values)])


def test_fold_design_of_a_cross_validation_and_of_random_splits():
    design = fold_design(FOLDS)
    assert (design.protocol, design.n_folds, design.n_repeats, design.seeds) == ("donor_grouped_cv", 2, 2, [7, 9])
    assert design.sizes.to_dict("list") == {"n_train": [2.0] * 4, "n_test": [2.0] * 4}
    assert design.describe() == "2 × 2-fold cross-validation (donor_grouped_cv, seeds 7, 9)"
    cells = pd.DataFrame({"specimen_id": range(40), "label": [0, 1] * 20})
    random = fold_design(repeated_stratified_splits(cells, ["label"], [3, 4, 5], 0.25, 0.25))
    assert (random.protocol, random.n_folds, random.n_repeats, random.seeds) == ("random_splits", 3, 1, [3, 4, 5])
    assert random.sizes["n_test"].tolist() == [10.0] * 3 and random.sizes["n_train"].tolist() == [30.0] * 3
    with pytest.raises(ValueError, match=r"splits: splits \[0, 1, 3\]; expected 0..3 for 2 repeats of 2 folds"):
        fold_design(FOLDS[FOLDS["split"] != 2])


def test_summary_is_the_corrected_interval_by_hand():
    table = long_table({"c": [0.5] * 4, "b": [0.5] * 4, "a": ACCURACY})
    assert list(summarise_split_metrics(table, FOLDS)) == ["c", "b", "a"]  # as the table has them
    summary = summarise_split_metrics(table, FOLDS, model_order=["a"])
    assert list(summary) == ["a", "c", "b"]
    stats_a = summary["a"]["mouse"]["accuracy"]
    assert set(stats_a) == {"mean", "std", "ci95", "n_folds", "dof"}
    # s^2 = 0.02/3; (1/4 + 2/2) s^2 -> se 0.0912871; 0.8 ± 3.182446 se, unclipped past 1
    se = math.sqrt((1 / 4 + 1) * 0.02 / 3)
    assert stats_a["mean"] == pytest.approx(0.8) and stats_a["n_folds"] == 4 and stats_a["dof"] == 3
    assert stats_a["ci95"] == pytest.approx([0.8 - T_975_DOF3 * se, 0.8 + T_975_DOF3 * se])
    assert stats_a["ci95"][1] == pytest.approx(1.090516, abs=1e-6)
    assert summary["b"]["mouse"]["accuracy"]["ci95"] == [0.5, 0.5]


def test_random_splits_get_the_corrected_resampled_t_with_their_sizes():
    cells = pd.DataFrame({"specimen_id": range(40), "label": [0, 1] * 20})
    splits = repeated_stratified_splits(cells, ["label"], [3, 4, 5], 0.25, 0.25)
    values = [0.7, 0.8, 0.9]
    stats_ = summarise_split_metrics(long_table({"m": values}), splits)["m"]["mouse"]["accuracy"]
    # J = 3 splits of 10 test and 30 non-test cells: (1/3 + 10/30) * s^2, s^2 = 0.01
    se = math.sqrt((1 / 3 + 1 / 3) * 0.01)
    half = stats.t.ppf(0.975, 2) * se
    assert stats_["ci95"] == pytest.approx([0.8 - half, 0.8 + half]) and stats_["dof"] == 2


def test_a_model_scored_on_some_folds_is_summarised_over_those(caplog):
    table = long_table({"a": ACCURACY, "b": [0.6, 0.7]})
    summary = summarise_split_metrics(table, FOLDS)
    assert summary["b"]["mouse"]["accuracy"]["n_folds"] == 2 and summary["b"]["mouse"]["accuracy"]["dof"] == 1
    assert "b, mouse: scored on 2 of the 4 splits" in caplog.text
    with pytest.raises(ValueError, match=r"split_metrics: splits \[7\] are not in the splits table"):
        summarise_split_metrics(pd.concat([table, table.head(1).assign(split=7)]), FOLDS)


def test_paired_family_by_hand_and_holm_ordering():
    b = [0.75, 0.80, 0.70, 0.75]
    table = pd.concat([long_table({"a": ACCURACY, "b": b, "c": [0.80, 0.90, 0.70, 0.80]}),
                       long_table({"a": [0.9, 0.8, 0.9, 0.8], "b": [0.5, 0.6, 0.5, 0.6]}, metric="f1_macro")])
    declared = [
        {"a": "a", "b": "b", "task": "t", "species": "mouse", "metric": "accuracy"},
        {"a": "a", "b": "c", "task": "t", "species": "mouse", "metric": "accuracy"},  # identical scores
        {"a": "a", "b": "b", "task": "t", "species": "mouse", "metric": "f1_macro"},
    ]
    results = paired_comparisons(declared, {"t": table}, {"t": FOLDS})
    assert [(r["a"], r["b"], r["metric"]) for r in results] == [("a", "b", "accuracy"), ("a", "c", "accuracy"),
                                                              ("a", "b", "f1_macro")]
    first = results[0]
    # d = 0.05, 0.10, 0.00, 0.05: s_d^2 = 0.005/3, se = sqrt((1/4 + 1) s_d^2) = 0.0456435, t = 1.095445
    se = math.sqrt((1 / 4 + 1) * 0.005 / 3)
    assert first["mean_difference"] == pytest.approx(0.05) and first["t"] == pytest.approx(0.05 / se)
    assert first["p_value"] == pytest.approx(2 * stats.t.sf(0.05 / se, 3))
    assert (first["mean_a"], first["mean_b"], first["n_folds"]) == (pytest.approx(0.8), pytest.approx(0.75), 4)
    assert results[1]["mean_difference"] == 0 and results[1]["p_value"] == 1.0
    # f1: d = 0.4, 0.2, 0.4, 0.2, mean 0.3, s_d^2 = 0.04/3, se = 0.1290994, t = 2.32379
    t_f1 = 0.3 / math.sqrt((1 / 4 + 1) * 0.04 / 3)
    assert results[2]["p_value"] == pytest.approx(2 * stats.t.sf(t_f1, 3))
    # Holm: the smallest p (f1) times 3; the next (accuracy a-b) times 2, at least the one
    # before; the largest (1.0) times 1
    p = [r["p_value"] for r in results]
    assert p[2] < p[0] < p[1]
    assert results[2]["p_holm"] == pytest.approx(min(1, 3 * p[2]))
    assert results[0]["p_holm"] == pytest.approx(min(1, max(3 * p[2], 2 * p[0])))
    assert results[1]["p_holm"] == 1.0


def test_a_comparison_of_an_unscored_model_is_named():
    declared = [{"a": "a", "b": "lspn", "task": "t", "species": "mouse", "metric": "accuracy"}]
    with pytest.raises(ValueError, match=r"comparison 0 \(a vs lspn, t, mouse, accuracy\): no accuracy of model "
                                         r"'lspn' on mouse test cells; expected one of the models \['a'\]"):
        paired_comparisons(declared, {"t": long_table({"a": ACCURACY})}, {"t": FOLDS})


def test_confusion_counts_each_cell_once_per_repeat():
    cells = pd.DataFrame({"specimen_id": range(30), "label": ["x", "y", "z"] * 10,
                          "donor_id": np.arange(30) // 2})
    splits = make_splits(cells, "donor_grouped_cv", ["label"], [1, 2, 3], 0.2, n_folds=3)
    tests = splits[splits["role"] == "test"].merge(cells, on="specimen_id")
    # every z predicted x in repeat 0 only; all else right
    wrong = (tests["label"] == "z") & (tests["repeat"] == 0)
    tests["predicted"] = tests["label"].where(~wrong, "x")
    fractions, counts = confusion_averaged_over_repeats(tests, splits, ["x", "y", "z"], true="label")
    assert counts.to_numpy().sum() == pytest.approx(30)  # the cohort, not 3 x 30 predictions
    assert counts.loc["z", "x"] == pytest.approx(10 / 3) and counts.loc["z", "z"] == pytest.approx(20 / 3)
    assert fractions.loc["z"].tolist() == pytest.approx([1 / 3, 0, 2 / 3])
    assert fractions.loc["x", "x"] == 1 and list(fractions.index) == ["x", "y", "z"]
    # one repeat's folds alone: that repeat's counts
    _, first = confusion_averaged_over_repeats(tests[tests["repeat"] == 0], splits, ["x", "y", "z"], "label")
    assert first.loc["z", "x"] == 10
