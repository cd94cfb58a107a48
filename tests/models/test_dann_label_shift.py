"""Target-prior estimation (EM, BBSE) and the weights of label-shift-aware alignment."""

from __future__ import annotations

import numpy as np
import pytest

from neuron_types.models import label_shift as ls


def calibrated_cells(prior: float, n: int, rng, source_prior: float = 0.5):
    """Labels with P(1) = prior and P_source(1 | x) from two unit Gaussians 2 apart."""
    y = (rng.random(n) < prior).astype(int)
    x = rng.normal(loc=2.0 * y, size=n)
    likelihood_ratio = np.exp(2.0 * x - 2.0)  # N(x; 2, 1) / N(x; 0, 1)
    odds = likelihood_ratio * source_prior / (1 - source_prior)
    return y, odds / (1 + odds)


def test_em_recovers_a_shifted_target_prior():
    rng = np.random.default_rng(0)
    _, target_proba = calibrated_cells(0.77, 20000, rng)
    assert ls.em_target_prior(target_proba, source_prior=0.5) == pytest.approx(0.77, abs=0.02)


def test_em_leaves_an_unshifted_prior_alone():
    rng = np.random.default_rng(1)
    _, target_proba = calibrated_cells(0.5, 20000, rng)
    assert ls.em_target_prior(target_proba, source_prior=0.5) == pytest.approx(0.5, abs=0.02)


def test_bbse_recovers_a_shifted_target_prior():
    rng = np.random.default_rng(2)
    source_true, source_proba = calibrated_cells(0.5, 20000, rng)
    _, target_proba = calibrated_cells(0.77, 20000, rng)
    estimate = ls.bbse_target_prior(source_true, source_proba > 0.5, target_proba > 0.5)
    assert estimate == pytest.approx(0.77, abs=0.02)


def test_adjusted_posteriors_follow_bayes_rule():
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(ls.adjust_posteriors(p, 0.5, 0.5), p)
    adjusted = ls.adjust_posteriors(p, 0.5, 0.8)
    odds = p / (1 - p) * 4.0  # prior odds 0.8/0.2 over 0.5/0.5
    np.testing.assert_allclose(adjusted, odds / (1 + odds))


def test_importance_and_domain_weights():
    labels = np.array([1, 1, 0, 0])
    w = ls.class_importance_weights(labels, source_prior=0.5, target_prior=0.75)
    np.testing.assert_allclose(w, [1.5, 1.5, 0.5, 0.5])
    domain = np.array([0, 0, 0, 0, 1, 1])
    weights = ls.domain_balanced_weights(domain, np.concatenate([w, [9.0, 9.0]]))
    assert weights[domain == 0].sum() == pytest.approx(weights[domain == 1].sum())
    assert weights.sum() == pytest.approx(len(domain))
    assert weights[0] / weights[2] == pytest.approx(3.0)  # importance ratio kept within the source
    assert weights[4] == weights[5]  # target cells ignore source_weights


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5])
def test_priors_outside_zero_one_are_refused(bad):
    with pytest.raises(ValueError, match="source_prior"):
        ls.em_target_prior(np.array([0.3]), source_prior=bad)


def test_empty_target_is_refused():
    with pytest.raises(ValueError, match="target_proba"):
        ls.em_target_prior(np.array([]), source_prior=0.5)
