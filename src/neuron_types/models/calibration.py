"""Calibrated probabilities and how calibrated a model is: temperature scaling (Guo et al.,
ICML 2017), the expected calibration error, reliability-diagram bins and the Brier score.
Kedro-free and TensorFlow-free.

Binary models are given as P(class 1) (shape ``(n,)``), multiclass ones as probabilities
``(n, k)``; labels are integer class indices. The ECE and the reliability bins use the
top-label confidence (the probability of the predicted class), so that one definition
serves both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, logit
from sklearn.metrics import brier_score_loss

# probabilities are clipped this far from 0 and 1 before a logit: float32 sigmoids saturate
EPSILON = 1e-7
# log-temperature search interval: temperatures from 0.02 to 50
LOG_TEMPERATURE_BOUNDS = (-4.0, 4.0)


def logits_of(probabilities: np.ndarray) -> np.ndarray:
    """Logits (binary, ``(n,)``) or log-probabilities (multiclass, ``(n, k)``), which softmax
    maps back to the same probabilities."""
    p = np.clip(np.asarray(probabilities, dtype="float64"), EPSILON, 1 - EPSILON)
    return logit(p) if p.ndim == 1 else np.log(p)


def scale(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities of ``logits / temperature``: P(class 1) for binary, rows for multiclass."""
    z = np.asarray(logits, dtype="float64") / float(temperature)
    return expit(z) if z.ndim == 1 else np.exp(log_softmax(z, axis=1))


def _negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    if z.ndim == 1:
        # log sigmoid(z) for label 1, log sigmoid(-z) for label 0, stably
        return float(np.mean(np.logaddexp(0.0, -np.where(labels == 1, z, -z))))
    return float(-np.mean(log_softmax(z, axis=1)[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the mean negative log-likelihood of ``logits / T`` on
    held-out cells (one parameter: the ranking of the cells, hence accuracy and AUC, is
    unchanged). Searched over log T with scipy's bounded scalar minimiser."""
    logits = np.asarray(logits, dtype="float64")
    labels = np.asarray(labels, dtype="int64")
    if len(labels) == 0:
        raise ValueError("fit_temperature: no cells; expected held-out cells with labels")
    result = minimize_scalar(
        lambda log_t: _negative_log_likelihood(logits, labels, float(np.exp(log_t))),
        bounds=LOG_TEMPERATURE_BOUNDS, method="bounded",
    )
    return float(np.exp(result.x))


def _top_label(probabilities: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Confidence of the predicted class and whether the prediction is right."""
    p = np.asarray(probabilities, dtype="float64")
    labels = np.asarray(labels, dtype="int64")
    if p.ndim == 1:
        predicted = (p >= 0.5).astype("int64")
        confidence = np.where(predicted == 1, p, 1 - p)
    else:
        predicted = p.argmax(axis=1)
        confidence = p.max(axis=1)
    return confidence, (predicted == labels).astype("float64")


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, n_bins: int) -> pd.DataFrame:
    """Equal-width confidence bins over [0, 1]: ``bin_lower, bin_upper, cells,
    mean_confidence, accuracy`` (NaN in an empty bin); the last bin includes 1."""
    confidence, correct = _top_label(probabilities, labels)
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    cells = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(index, confidence, minlength=n_bins) / cells
        accuracy = np.bincount(index, correct, minlength=n_bins) / cells
    return pd.DataFrame({"bin_lower": edges[:-1], "bin_upper": edges[1:], "cells": cells,
                         "mean_confidence": mean_confidence, "accuracy": accuracy})


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, n_bins: int) -> float:
    """Sum over bins of (cells in bin / cells) x |accuracy - mean confidence|."""
    bins = reliability_bins(probabilities, labels, n_bins)
    used = bins[bins["cells"] > 0]
    gaps = (used["accuracy"] - used["mean_confidence"]).abs()
    return float((used["cells"] * gaps).sum() / used["cells"].sum())


def brier_score(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Binary: mean (p - y)^2. Multiclass: mean over cells of the squared distance between
    the probability row and the one-hot label (sklearn's definitions; range [0, 2])."""
    p = np.asarray(probabilities, dtype="float64")
    labels = np.asarray(labels, dtype="int64")
    if p.ndim == 1:
        return float(brier_score_loss(labels, p, labels=[0, 1]))
    return float(brier_score_loss(labels, p, labels=list(range(p.shape[1]))))
