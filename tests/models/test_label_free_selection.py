import numpy as np
import pytest

from neuron_types.models.label_free_selection import (
    binary_log_loss,
    dev_risk,
    domain_importance_weights,
    importance_weighted_risk,
)


def test_dev_matches_a_hand_computed_case():
    losses = np.array([1.0, 2.0, 3.0, 4.0])
    weights = np.array([0.5, 1.0, 1.0, 1.5])
    weighted = weights * losses  # 0.5, 2, 3, 6: mean 2.875
    # sample covariance of weighted and weights, and variance of weights (ddof 1)
    cov = np.sum((weighted - 2.875) * (weights - 1.0)) / 3  # (−2.375·−0.5 + 3.125·0.5) / 3
    var = np.sum((weights - 1.0) ** 2) / 3
    eta = -cov / var
    assert dev_risk(losses, weights) == pytest.approx(2.875 + eta * 1.0 - eta)
    assert importance_weighted_risk(losses, weights) == pytest.approx(2.875)
    # with mean weight exactly 1 the control variate changes nothing
    assert dev_risk(losses, weights) == pytest.approx(2.875)


def test_dev_corrects_weights_whose_mean_is_off():
    rng = np.random.default_rng(0)
    losses = rng.uniform(0, 2, 500)
    weights = rng.uniform(0.5, 2.5, 500)  # mean 1.5: IWV overstates by about half
    iwv, dev = importance_weighted_risk(losses, weights), dev_risk(losses, weights)
    assert abs(dev - losses.mean()) < abs(iwv - losses.mean()) / 5


def test_constant_weights_give_the_plain_mean():
    losses = np.array([0.2, 0.4, 0.9])
    assert dev_risk(losses, np.ones(3)) == pytest.approx(losses.mean())


def test_importance_weights_favour_target_like_source_cells():
    rng = np.random.default_rng(1)
    source = rng.normal(0, 1, size=(400, 2))
    target = rng.normal(1.5, 1, size=(100, 2))
    evaluated = np.array([[1.5, 1.5], [-1.5, -1.5]])
    near, far = domain_importance_weights(source, target, evaluated)
    assert near > 1 > far
    # on average over the source the density ratio is 1 (a small shift: light-tailed weights)
    mild = rng.normal(0.3, 1, size=(400, 2))
    assert domain_importance_weights(source, mild, source).mean() == pytest.approx(1.0, rel=0.1)


def test_log_loss_per_cell():
    np.testing.assert_allclose(binary_log_loss([1, 0], [0.8, 0.8]), [-np.log(0.8), -np.log(0.2)])
