"""Protocol v2 scoring: corrected repeated-CV intervals (Nadeau & Bengio 2003; Bouckaert &
Frank 2004), the corrected resampled paired t-test and Holm's step-down adjustment, checked
against arithmetic written out here."""

import math

import numpy as np
import pytest
from scipy import stats

from neuron_types.evaluation import (
    corrected_repeated_cv_interval,
    holm_adjust,
    paired_comparison,
    summarise_folds,
    summarise_splits,
)

# 2 folds x 2 repeats, 50 training and 50 test cells per fold (n_test / n_train = 1)
ACCURACY = [0.80, 0.90, 0.70, 0.80]
T_975_DOF3 = 3.182446305284263  # t(0.975, 3), the table value 3.182


def test_corrected_interval_by_hand():
    # mean 0.8; squared deviations 0 + 0.01 + 0.01 + 0 = 0.02; s^2 = 0.02 / 3
    s2 = 0.02 / 3
    # corrected variance (1/(K R) + n_test/n_train) s^2 = (1/4 + 1) s^2 = 0.0083333
    se = math.sqrt((1 / 4 + 50 / 50) * s2)
    assert se == pytest.approx(0.0912871, abs=1e-7)
    one = corrected_repeated_cv_interval(ACCURACY, n_train=50, n_test=50, n_folds=2, n_repeats=2)
    assert one.mean == pytest.approx(0.8) and one.std == pytest.approx(math.sqrt(s2))
    assert one.dof == 3 and one.standard_error == pytest.approx(se)
    # 0.8 ± 3.182446 * 0.0912871 = 0.8 ± 0.290516: past 1, and left unclipped
    assert one.interval == pytest.approx((0.8 - T_975_DOF3 * se, 0.8 + T_975_DOF3 * se))
    assert one.interval == pytest.approx((0.509484, 1.090516), abs=1e-6)
    assert stats.t.ppf(0.975, 3) == pytest.approx(T_975_DOF3)


def test_correction_widens_the_naive_interval_by_sqrt_of_1_plus_kr_times_the_ratio():
    naive = summarise_splits([{"accuracy": v} for v in ACCURACY], bounds=(-np.inf, np.inf))["accuracy"]
    corrected = summarise_folds([{"accuracy": v} for v in ACCURACY], 50, 50, 2, 2)["accuracy"]
    # (1/4 + 1) / (1/4) = 5
    ratio = (corrected["ci95"][1] - corrected["mean"]) / (naive["ci95"][1] - naive["mean"])
    assert ratio == pytest.approx(math.sqrt(5))


def test_paired_comparison_by_hand_and_p_from_scipy():
    b = [0.75, 0.80, 0.70, 0.75]
    # d = a - b = 0.05, 0.10, 0.00, 0.05; mean 0.05; squared deviations sum 0.005; s^2 = 0.005/3
    # n_test/n_train = 40/60; variance (1/4 + 2/3) * 0.005/3 = 0.00152778; se = 0.0390868
    se = math.sqrt((1 / 4 + 40 / 60) * 0.005 / 3)
    t = 0.05 / se
    assert t == pytest.approx(1.279204, abs=1e-6)
    result = paired_comparison(ACCURACY, b, n_train=60, n_test=40, n_folds=2, n_repeats=2)
    assert result["mean_difference"] == pytest.approx(0.05) and result["dof"] == 3
    assert result["t"] == pytest.approx(t)
    assert result["p_value"] == pytest.approx(2 * stats.t.sf(t, 3))
    assert result["p_value"] == pytest.approx(2 * (1 - stats.t.cdf(t, df=3)))
    assert result["ci95"] == pytest.approx([0.05 - T_975_DOF3 * se, 0.05 + T_975_DOF3 * se])
    # swapping the models flips the sign, not the p-value
    swapped = paired_comparison(b, ACCURACY, 60, 40, 2, 2)
    assert swapped["mean_difference"] == pytest.approx(-0.05) and swapped["p_value"] == pytest.approx(result["p_value"])


def test_paired_comparison_with_a_constant_difference():
    assert paired_comparison([0.8, 0.9], [0.8, 0.9], 10, 10, 2, 1)["p_value"] == 1.0
    assert paired_comparison([0.9, 1.0], [0.8, 0.9], 10, 10, 2, 1)["p_value"] == 0.0
    with pytest.raises(ValueError, match=r"must score the same folds, got \(4,\) and \(3,\) values"):
        paired_comparison(ACCURACY, ACCURACY[:3], 50, 50, 2, 2)


def test_holm_by_hand():
    # sorted: 0.005 * 4 = 0.02, 0.01 * 3 = 0.03, 0.03 * 2 = 0.06, 0.04 * 1 = 0.04 -> 0.06
    # (step-down: never below the one before); back in the given order:
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # 0.5 * 2 = 1.0; 0.6 * 1 = 0.6 -> 1.0; capped at 1
    assert holm_adjust([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([]) == []
    with pytest.raises(ValueError, match=r"holm_adjust: expected a list of p-values in \[0, 1\], got \[1.5\]"):
        holm_adjust([1.5])


def test_summarise_folds_shape_and_a_metric_missing_from_a_fold():
    folds = [{"accuracy": v, "roc_auc": 0.9} for v in ACCURACY]
    del folds[2]["roc_auc"]
    folds[1]["roc_auc"] = 0.8
    summary = summarise_folds(folds, 50, 50, 2, 2)
    assert set(summary) == {"accuracy", "roc_auc"}
    assert set(summary["accuracy"]) == {"mean", "std", "ci95", "n_folds", "dof"}
    assert summary["accuracy"]["n_folds"] == 4 and summary["accuracy"]["dof"] == 3
    # roc_auc over J = 3 folds: 0.9, 0.8, 0.9; mean 0.8667; s^2 = 0.01/3; (1/3 + 1) s^2
    auc = summary["roc_auc"]
    assert auc["n_folds"] == 3 and auc["dof"] == 2
    half = stats.t.ppf(0.975, 2) * math.sqrt((1 / 3 + 1) * 0.01 / 3)
    assert auc["ci95"] == pytest.approx([2.6 / 3 - half, 2.6 / 3 + half])


def test_wrong_counts_are_named():
    with pytest.raises(ValueError, match=r"expected n_folds \* n_repeats = 5 \* 3 = 15 fold values, got shape \(4,\)"):
        corrected_repeated_cv_interval(ACCURACY, 50, 50, 5, 3)
    with pytest.raises(ValueError, match="summarise_folds: expected n_folds \\* n_repeats = 6 fold results, got 4"):
        summarise_folds([{"accuracy": v} for v in ACCURACY], 50, 50, 3, 2)
    with pytest.raises(ValueError, match="n_train and n_test: expected positive cell counts, got 0.0 and 50.0"):
        corrected_repeated_cv_interval(ACCURACY, 0, 50, 2, 2)
