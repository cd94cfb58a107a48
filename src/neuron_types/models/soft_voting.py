"""Soft voting of several subclass models: a weighted mean of their class probabilities,
the weights chosen on out-of-fold probabilities of one split's non-test cells. Kedro-free
and TensorFlow-free.

The weights come from a grid on the simplex (every weight a multiple of ``step``, summing
to 1); the chosen weights maximise the score of the vote's argmax on the out-of-fold
probabilities, ties going to the candidate nearest to equal weights, then to grid order.
A grid and not a continuous optimiser: macro F1 of an argmax is piecewise constant in the
weights, so a gradient or a simplex search stalls on its plateaus.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np


def simplex_grid(n_models: int, step: float) -> np.ndarray:
    """Every weight vector of ``n_models`` non-negative multiples of ``step`` summing to 1,
    ``(candidates, n_models)``."""
    parts = round(1 / step)
    if n_models < 1 or parts < 1 or not np.isclose(parts * step, 1.0):
        raise ValueError(f"soft voting: step {step} must divide 1 into a whole number of parts; "
                         f"expected e.g. 0.1, 0.25 or 0.5 (and at least one model, got {n_models})")
    candidates = [c for c in itertools.product(range(parts + 1), repeat=n_models) if sum(c) == parts]
    return np.asarray(candidates, dtype=float) / parts


def vote(probabilities: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The weighted mean of ``(cells, classes)`` probability tables."""
    stacked = np.stack([np.asarray(p, dtype=float) for p in probabilities])
    if stacked.ndim != 3:
        raise ValueError(f"soft voting: expected (cells, classes) tables of one shape, got {stacked.shape[1:]}")
    return np.tensordot(np.asarray(weights, dtype=float), stacked, axes=1)


def choose_weights(
    out_of_fold: Sequence[np.ndarray], labels: np.ndarray, step: float,
    score: Callable[[np.ndarray, np.ndarray], float],
) -> tuple[np.ndarray, float]:
    """The grid weights whose vote on ``out_of_fold`` (one ``(cells, classes)`` table per
    model, the same cells) scores best against ``labels`` (class indices); and that score."""
    labels = np.asarray(labels)
    grid = simplex_grid(len(out_of_fold), step)
    scores = np.array([score(labels, vote(out_of_fold, w).argmax(axis=1)) for w in grid])
    best = np.flatnonzero(np.isclose(scores, scores.max(), rtol=0, atol=1e-12))
    distance = np.abs(grid[best] - 1 / len(out_of_fold)).sum(axis=1)
    chosen = best[np.argmin(distance)]  # argmin keeps grid order among equal distances
    return grid[chosen], float(scores[chosen])
