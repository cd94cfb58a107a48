"""SHAP estimators of the subclass models and their comparison with LSPIN's gates, on tiny
problems and hand-computed cases."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

from neuron_types.config import LspinNetwork
from neuron_types.models.explain import (
    closed_gate_share, expected_gradients, rank_agreement, xgboost_contributions,
)
from tests.params import lspin_model, lspin_training

INFORMATIVE = (2, 5, 7)


def three_informative_of_ten(n: int = 240, seed: int = 0):
    """Class c shifts feature INFORMATIVE[c] by 3 sd; the other 7 features are noise, and
    every feature has its own scale."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n // 3).astype("int32")
    x = rng.normal(size=(n, 10))
    for c, feature in enumerate(INFORMATIVE):
        x[:, feature] += 3.0 * (y == c)
    return (x * rng.uniform(1, 20, 10)).astype("float32"), y


# --------------------------------------------------------------- rank agreement (by hand)
def test_rank_agreement_of_identical_rankings_has_the_exact_null_of_four_features():
    # n = 4: the 24 re-pairings give S = sum d^2 with counts 0:1 2:3 4:1 6:4 8:2 10:2 12:2
    # 14:4 16:1 18:3 20:1 and rho = 1 - S / 10 (scipy enumerates 24 x 24 orderings, each
    # re-pairing 24 times). Sorted: rho = -1 (1/24), -0.8 (3/24), -0.6 (1/24), -0.4 (4/24):
    # the 25th percentile is -0.4, the 2.5th is -1; the null is symmetric.
    gate, shap = np.array([0.1, 0.2, 0.6, 0.9]), np.array([1.0, 2.0, 3.0, 4.0])
    result = rank_agreement(gate, shap, 1000, 0, level=0.5)
    assert result["spearman"] == pytest.approx(1.0)
    assert (result["null_low"], result["null_high"]) == pytest.approx((-0.4, 0.4))
    assert result["p_value"] == pytest.approx(2 / 24)  # two-sided: rho = 1 and rho = -1
    wide = rank_agreement(gate, shap, 1000, 0, level=0.95)
    assert (wide["null_low"], wide["null_high"]) == pytest.approx((-1.0, 1.0))


def test_rank_agreement_of_one_swap():
    # ranks (1, 4, 3, 2) against (1, 4, 2, 3): S = 2, rho = 0.8; P(rho >= 0.8) = 4 / 24
    result = rank_agreement(np.array([0.1, 0.9, 0.5, 0.3]), np.array([1.0, 4.0, 2.0, 3.0]), 1000, 0)
    assert result["spearman"] == pytest.approx(0.8)
    assert result["p_value"] == pytest.approx(2 * 4 / 24)


def test_rank_agreement_samples_the_null_with_its_seed_when_it_cannot_enumerate():
    rng = np.random.default_rng(1)
    gate, shap = rng.uniform(size=30), rng.uniform(size=30)
    first, again = rank_agreement(gate, shap, 200, 5), rank_agreement(gate, shap, 200, 5)
    assert first == again
    assert -1 < first["null_low"] < 0 < first["null_high"] < 1
    assert first != rank_agreement(gate, shap, 200, 6)
    with pytest.raises(ValueError, match="same length"):
        rank_agreement(gate, shap[:-1], 200, 5)
    assert np.isnan(rank_agreement(np.ones(30), shap, 200, 5)["spearman"])  # every gate the same


def test_closed_gate_share_by_hand():
    gates = np.array([[0.9, 0.2, 0.0], [1.0, 1.0, 1.0], [0.4, 0.6, 0.5]])
    shap = np.array([[1.0, -1.0, 2.0], [0.0, 0.0, 0.0], [0.5, 0.5, 1.0]])
    share = closed_gate_share(gates, shap, 0.5)
    np.testing.assert_allclose(share[[0, 2]], [3 / 4, 0.5 / 2])
    assert np.isnan(share[1])  # no attribution at all: no share


# ------------------------------------------------------------------- the estimators
def test_expected_gradients_of_a_linear_model_against_one_reference_are_exact():
    weights = np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]], dtype="float32")
    inputs = keras.Input((3,))
    layer = keras.layers.Dense(2, use_bias=True)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([weights, np.array([0.3, -0.1], dtype="float32")])
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]], dtype="float32")
    reference = np.array([[0.5, 1.0, -1.0]], dtype="float32")
    values = expected_gradients(model, x, reference, samples=7, seed=0)
    assert values.shape == (2, 3, 2)
    np.testing.assert_allclose(values, (x - reference)[:, :, None] * weights[None], rtol=1e-5)


def test_expected_gradients_agree_with_shap_gradient_explainer():
    import shap
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(6, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(1))(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", kernel_initializer=keras.initializers.GlorotUniform(2))(hidden)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    x, reference = rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(1, 4)).astype("float32")
    ours = expected_gradients(model, x, reference, samples=1000, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shap's Keras 3 input-structure warning
        theirs = np.asarray(shap.GradientExplainer(model, reference, batch_size=1000).shap_values(x, nsamples=1000, rseed=0))
    assert theirs.shape == ours.shape
    np.testing.assert_allclose(ours, theirs, atol=0.05 * np.abs(theirs).max())  # both Monte Carlo
    # completeness: one reference, so the attributions add up to f(x) - f(reference)
    change = np.asarray(model(x)) - np.asarray(model(reference))
    np.testing.assert_allclose(ours.sum(axis=1), change, atol=0.02 * np.abs(change).max())


def test_xgboost_contributions_add_up_to_the_margin_and_find_the_informative_features():
    import xgboost

    from neuron_types.models.baselines import baseline_estimator, xgboost_model_json

    x, y = three_informative_of_ten(150)
    fitted = baseline_estimator("xgboost", 0).set_params(model__n_estimators=10, model__max_depth=2).fit(x, y)
    saved = xgboost_model_json(fitted)
    values = xgboost_contributions(saved, x)
    assert values.shape == (150, 10, 3)
    booster = fitted.named_steps["model"].get_booster()
    margin = booster.predict(xgboost.DMatrix(fitted.named_steps["scale"].transform(x)), output_margin=True)
    bias = margin - values.sum(axis=1)  # the dropped bias column: the same for every cell
    np.testing.assert_allclose(bias, np.broadcast_to(bias[0], bias.shape), atol=1e-4)
    for c, feature in enumerate(INFORMATIVE):
        assert np.abs(values[:, :, c]).mean(axis=0).argmax() == feature


# ----------------------------------------------- synthetic: gates and SHAP agree on truth
@pytest.fixture(scope="module")
def trained_on_three_informative():
    from neuron_types.models.lspin_ensemble import ensemble_gates, fit_cross_fitted_ensembles

    x, y = three_informative_of_ten()
    network = LspinNetwork.model_validate({
        "model": lspin_model(gating_units=[16], prediction_units=[16], lambda1=0.3).model_dump(),
        "training": lspin_training(max_epochs=40, optimizer="adam", learning_rate=0.05, check_every=5,
                                   patience=20, batch_size=64).model_dump(),
        "ensemble_members": 1,
    })
    train = np.arange(0, len(y), 2)
    ensembles, _ = fit_cross_fitted_ensembles(x, y, {0: train}, 3, network, 0)
    model, test = ensembles[0], np.arange(1, len(y), 2)
    return model, x[test], y[test], x[train], ensemble_gates(model, x[test])


def test_gates_and_shap_both_rank_the_informative_features_first(trained_on_three_informative):
    model, x, y, x_train, gates = trained_on_three_informative
    values = expected_gradients(model, x, x_train[:60], samples=30, seed=0)
    top_by_gate = set(np.argsort(gates.mean(axis=0))[::-1][:3])
    top_by_shap = set(np.argsort(np.abs(values).mean(axis=(0, 2)))[::-1][:3])
    assert top_by_gate == set(INFORMATIVE)
    assert top_by_shap == set(INFORMATIVE)
    # on each class's cells, its own output moves most with an informative feature (not
    # always its own: "not class 1" is read from feature 5 as well)
    for c in range(3):
        assert np.abs(values[y == c, :, c]).mean(axis=0).argmax() in INFORMATIVE
    agreement = rank_agreement(gates.mean(axis=0), np.abs(values).mean(axis=(0, 2)), 500, 0)
    assert agreement["spearman"] > agreement["null_high"]
    # the noise features' gates are shut, and little SHAP mass sits on them; not none (0.11
    # measured): a feature whose gate is shut still feeds the gating network
    noise = np.setdiff1d(np.arange(10), INFORMATIVE)
    assert (gates[:, noise] < 0.5).mean() > 0.95
    magnitude = np.abs(values).sum(axis=2)
    assert magnitude[:, noise].sum() / magnitude.sum() < 0.2
