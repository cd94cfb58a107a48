"""Attributions of the subclass models (SHAP values) and how they compare with LSPIN's
gates. Kedro-free.

* :func:`expected_gradients`: SHAP values of a Keras classifier's class probabilities by
  expected gradients, the estimator of ``shap.GradientExplainer``.
* :func:`xgboost_contributions`: exact tree SHAP values of an XGBoost booster's margins
  (XGBoost's own ``pred_contribs``; shap 0.49's ``TreeExplainer`` fails on xgboost 3.2).
* :func:`rank_agreement` and :func:`closed_gate_share`: whether "gate open" means
  "feature matters".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.stats import permutation_test, spearmanr

# Points (cell x sample x class rows) per gradient call: a few MB of activations.
CHUNK_ROWS = 40960


def expected_gradients(model, x: np.ndarray, background: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """SHAP values (cells x features x classes) of ``model``'s class probabilities at ``x``.

    For every cell, ``samples`` pairs (background row ``r``, ``t ~ U(0, 1)``) give
    ``phi = mean (x - r) * grad f(r + t (x - r))``: expected gradients (Erion et al. 2021),
    what ``shap.GradientExplainer`` computes. Written here because shap's explainer loops in
    Python over cells, samples and classes: on the 5-member LSPIN ensemble (43 features,
    5 classes, 100 samples) it took 21 s per 100 cells on this project's shared 2-core
    machine (load ~9); this function, which draws every cell's points at once and takes
    every class's gradient in one backward pass, took 3-5 s per 277 cells there, plus one
    trace per model. ``seed`` fixes the draws.
    """
    import tensorflow as tf

    x = np.asarray(x, dtype="float32")
    background = np.asarray(background, dtype="float32")
    if x.ndim != 2 or background.ndim != 2 or x.shape[1] != background.shape[1]:
        raise ValueError(f"expected_gradients: x {x.shape} and background {background.shape} must be "
                         f"(cells, features) with the same features")
    if len(background) == 0 or samples < 1:
        raise ValueError("expected_gradients: need at least one background row and one sample")
    rng = np.random.default_rng(seed)
    n_cells, n_features = x.shape
    n_classes = int(model(background[:1], training=False).shape[-1])
    reference = background[rng.integers(0, len(background), size=(n_cells, samples))]
    t = rng.uniform(size=(n_cells, samples, 1)).astype("float32")
    delta = x[:, None, :] - reference
    points = (reference + t * delta).reshape(-1, n_features)

    @tf.function
    def class_gradients(batch, selector):
        # a row's gradient is that of its own selected class: one backward pass for all
        with tf.GradientTape() as tape:
            tape.watch(batch)
            chosen = tf.reduce_sum(model(batch, training=False) * selector)
        return tape.gradient(chosen, batch)

    per_chunk = max(1, min(CHUNK_ROWS // n_classes, len(points)))
    selector = tf.constant(np.repeat(np.eye(n_classes, dtype="float32"), per_chunk, axis=0))
    gradients = np.empty((len(points), n_classes, n_features), dtype="float32")
    for start in range(0, len(points), per_chunk):
        chunk = points[start:start + per_chunk]
        padded = np.zeros((per_chunk, n_features), dtype="float32")  # one shape: one trace
        padded[:len(chunk)] = chunk
        stacked = tf.constant(np.tile(padded, (n_classes, 1)))
        grad = class_gradients(stacked, selector).numpy().reshape(n_classes, per_chunk, n_features)
        gradients[start:start + len(chunk)] = grad[:, :len(chunk)].transpose(1, 0, 2)
    gradients = gradients.reshape(n_cells, samples, n_classes, n_features)
    phi = (gradients * delta[:, :, None, :]).mean(axis=1)
    return phi.transpose(0, 2, 1).astype("float64")


def xgboost_contributions(model_json: Mapping, x: np.ndarray) -> np.ndarray:
    """Exact tree SHAP values (cells x features x classes) of a booster saved by
    :func:`~neuron_types.models.baselines.xgboost_model_json`, in margin (log-odds) units,
    from ``Booster.predict(DMatrix, pred_contribs=True)`` on the scaled features; the bias
    column is dropped."""
    from neuron_types.models.baselines import xgboost_booster_and_input

    x = np.asarray(x)
    booster, scaled = xgboost_booster_and_input(model_json, x)
    contributions = booster.predict(scaled, pred_contribs=True)
    if contributions.ndim != 3 or contributions.shape[2] != x.shape[1] + 1:
        raise ValueError(f"xgboost_contributions: expected (cells, classes, {x.shape[1] + 1}) contributions of a "
                         f"multi-class booster, got shape {contributions.shape}")
    return contributions[:, :, :-1].transpose(0, 2, 1).astype("float64")


def rank_agreement(
    mean_gate: np.ndarray, mean_abs_shap: np.ndarray, permutations: int, seed: int, level: float = 0.95
) -> dict[str, float]:
    """Spearman's rho between the features' mean gates and mean |SHAP|, and its null.

    ``null_low``/``null_high``: the central ``level`` interval (percentiles
    ``(1 - level) / 2`` and ``(1 + level) / 2``, NumPy's linear interpolation) of rho over
    ``permutations`` random re-pairings of the two vectors (``scipy.stats.permutation_test``,
    ``permutation_type="pairings"``, seeded; exact, over every ordering, when the
    ``(n!)^2`` orderings of the two vectors are no more than ``permutations``): the range rho falls in with probability ``level`` when
    gate ranks and SHAP ranks are unrelated. Not a confidence interval of rho. ``p_value``:
    two-sided, from the same null distribution. All NaN when either vector is constant.
    """
    gate, shap = np.asarray(mean_gate, dtype=float), np.asarray(mean_abs_shap, dtype=float)
    if gate.shape != shap.shape or gate.ndim != 1 or len(gate) < 3:
        raise ValueError(f"rank_agreement: expected two vectors of the same length >= 3, got {gate.shape} "
                         f"and {shap.shape}")
    if np.ptp(gate) == 0 or np.ptp(shap) == 0:  # rank correlation undefined (all gates shut, say)
        return dict.fromkeys(("spearman", "null_low", "null_high", "p_value"), float("nan"))
    result = permutation_test(
        (gate, shap), lambda a, b: spearmanr(a, b).statistic, permutation_type="pairings",
        n_resamples=permutations, alternative="two-sided", random_state=np.random.default_rng(seed),
    )
    low, high = np.percentile(result.null_distribution, [50 * (1 - level), 50 * (1 + level)])
    return {"spearman": float(result.statistic), "null_low": float(low), "null_high": float(high),
            "p_value": float(result.pvalue)}


def closed_gate_share(gates: np.ndarray, shap_values: np.ndarray, threshold: float) -> np.ndarray:
    """Per cell, the share of its total |SHAP| that falls on features whose gate is below
    ``threshold`` (gates and SHAP values: cells x features; NaN for a cell without any
    attribution)."""
    gates, magnitude = np.asarray(gates, dtype=float), np.abs(np.asarray(shap_values, dtype=float))
    if gates.shape != magnitude.shape:
        raise ValueError(f"closed_gate_share: gates {gates.shape} and SHAP values {magnitude.shape} differ in shape")
    total = magnitude.sum(axis=1)
    closed = np.where(gates < threshold, magnitude, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, closed / total, np.nan)
