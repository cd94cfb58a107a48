"""Split-conformal quantiles and sets against hand-computed values, and their coverage."""

import numpy as np
import pytest

from neuron_types.models.conformal import (
    conformal_quantile, fit_group_quantiles, nonconformity, prediction_sets, set_labels, two_class,
)


def test_quantile_is_the_ceil_n_plus_one_coverage_th_score():
    scores = np.arange(1, 11) / 10  # 0.1 ... 1.0
    assert conformal_quantile(scores[::-1], 0.8) == pytest.approx(0.9)  # rank ceil(11 * 0.8) = 9
    assert conformal_quantile(scores, 0.5) == pytest.approx(0.6)  # rank ceil(5.5) = 6
    assert conformal_quantile(scores, 0.95) == np.inf  # rank 11 of 10 cells


def test_sets_hold_every_class_within_the_quantile():
    p = np.array([[0.7, 0.3], [0.45, 0.55]])
    assert prediction_sets(p, 0.5).tolist() == [[True, False], [False, True]]
    assert prediction_sets(p, np.array([0.6, 0.6])).tolist() == [[True, False], [True, True]]
    assert set_labels(prediction_sets(p, 0.6), ["inhibitory", "excitatory"]) == ["inhibitory", "inhibitory|excitatory"]
    # no class within 0.2: empty, or the most probable class
    assert prediction_sets(p, 0.2, non_empty=False).tolist() == [[False, False], [False, False]]
    assert prediction_sets(p, 0.2).tolist() == [[True, False], [False, True]]
    assert nonconformity(two_class(np.array([0.8, 0.8])), np.array([1, 0])) == pytest.approx([0.2, 0.8])


def test_coverage_on_new_exchangeable_cells_is_close_to_the_target():
    rng = np.random.default_rng(1)
    n = 4000
    truth = rng.uniform(size=n)  # a calibrated P(class 1) per cell
    labels = (rng.uniform(size=n) < truth).astype(int)
    noisy = np.clip(truth + rng.normal(scale=0.2, size=n), 0.01, 0.99)
    quantile = fit_group_quantiles(two_class(noisy[:1000]), labels[:1000], 0.9)[None]
    sets = prediction_sets(two_class(noisy[1000:]), quantile)
    covered = sets[np.arange(n - 1000), labels[1000:]]
    assert covered.mean() == pytest.approx(0.9, abs=0.02)


def test_group_quantiles_are_fitted_per_group():
    p = two_class(np.array([0.9, 0.8, 0.7, 0.6, 0.9, 0.9]))
    labels = np.array([1, 1, 1, 1, 0, 0])
    quantiles = fit_group_quantiles(p, labels, 0.5, ["mouse"] * 4 + ["human"] * 2)
    assert quantiles["mouse"] == pytest.approx(0.3)  # scores 0.1 0.2 0.3 0.4, rank ceil(2.5) = 3
    assert quantiles["human"] == pytest.approx(0.9)  # scores 0.9 0.9, rank 2
