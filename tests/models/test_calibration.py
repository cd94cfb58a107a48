"""Temperature scaling, ECE, reliability bins and Brier score against hand-computed values."""

import numpy as np
import pytest

from neuron_types.models.calibration import (
    brier_score, expected_calibration_error, fit_temperature, logits_of, reliability_bins, scale,
)

# confidences 0.95 (right), 0.85 (wrong), 0.75 (right), 0.65 (right): one per bin of ten
P = np.array([0.95, 0.85, 0.25, 0.65])
Y = np.array([1, 0, 0, 1])


def test_temperature_of_constant_logits_matches_the_observed_frequency():
    # every cell has logit 2, three in four are positive: sigmoid(2 / T) = 0.75, T = 2 / ln 3
    logits = np.full(400, 2.0)
    labels = (np.arange(400) % 4 != 0).astype(int)
    assert fit_temperature(logits, labels) == pytest.approx(2 / np.log(3), rel=1e-4)


def test_temperature_above_one_softens_overconfident_multiclass_logits():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 3000)
    clean = np.eye(3)[labels] * 1.0 + rng.normal(size=(3000, 3))
    temperature = fit_temperature(clean * 5, labels)  # the same logits, 5 times too sharp
    assert temperature == pytest.approx(5 * fit_temperature(clean, labels), rel=1e-3)
    assert scale(clean * 5, temperature) == pytest.approx(scale(clean, temperature / 5))


def test_logits_of_inverts_scale():
    assert scale(logits_of(P), 1.0) == pytest.approx(P)
    rows = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert scale(logits_of(rows), 1.0) == pytest.approx(rows)


def test_ece_by_hand():
    assert expected_calibration_error(P, Y, 10) == pytest.approx((0.05 + 0.85 + 0.25 + 0.35) / 4)
    # two bins: all four in [0.5, 1], mean confidence 0.8, accuracy 0.75
    assert expected_calibration_error(P, Y, 2) == pytest.approx(0.05)


def test_reliability_bins_count_every_prediction_once():
    bins = reliability_bins(P, Y, 10)
    assert bins["cells"].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert bins["accuracy"].iloc[6:].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert bins["mean_confidence"].iloc[6:].to_numpy() == pytest.approx([0.65, 0.75, 0.85, 0.95])


def test_brier_by_hand():
    assert brier_score(P, Y) == pytest.approx((0.05**2 + 0.85**2 + 0.25**2 + 0.35**2) / 4)
    assert brier_score(np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]]), np.array([0, 2])) == pytest.approx(0.14 / 2)
