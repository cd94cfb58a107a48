"""Split-conformal prediction sets (Vovk et al. 2005; Sadinle, Lei & Wasserman 2019's
least-ambiguous sets): every class whose probability clears a threshold fitted on held-out
calibration cells, so that the true class is in the set for at least ``coverage`` of new
cells exchangeable with them. Kedro-free.

Probabilities are rows ``(n, k)``; a binary model's P(class 1) is turned into two columns
by :func:`two_class`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def two_class(p_positive: np.ndarray) -> np.ndarray:
    """``(n,)`` P(class 1) -> ``(n, 2)`` rows [P(class 0), P(class 1)]."""
    p = np.asarray(p_positive, dtype="float64")
    return np.column_stack([1 - p, p])


def nonconformity(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """1 - the probability the model gives the true class."""
    p = np.asarray(probabilities, dtype="float64")
    return 1.0 - p[np.arange(len(p)), np.asarray(labels, dtype="int64")]


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """The ceil((n + 1) coverage)-th smallest of n calibration scores; infinite when
    (n + 1) coverage > n (too few cells for the coverage: every set is then every class)."""
    scores = np.sort(np.asarray(scores, dtype="float64"))
    n = len(scores)
    rank = int(np.ceil((n + 1) * float(coverage)))
    if n == 0 or rank > n:
        return float("inf")
    return float(scores[rank - 1])


def prediction_sets(probabilities: np.ndarray, quantile: float | np.ndarray, non_empty: bool = True) -> np.ndarray:
    """Boolean ``(n, k)``: class j is in cell i's set when 1 - p_ij <= the quantile (one
    quantile, or one per cell). ``non_empty``: a cell whose set would be empty (no class
    probable enough, which happens when the model is more accurate than the coverage asks)
    gets its most probable class instead; coverage can only rise."""
    p = np.asarray(probabilities, dtype="float64")
    q = np.broadcast_to(np.asarray(quantile, dtype="float64"), (len(p),))
    sets = (1.0 - p) <= q[:, None]
    if non_empty:
        empty = ~sets.any(axis=1)
        sets[empty, p[empty].argmax(axis=1)] = True
    return sets


def fit_group_quantiles(
    probabilities: np.ndarray, labels: np.ndarray, coverage: float,
    groups: Sequence[Hashable] | None = None,
) -> dict[Hashable, float]:
    """One conformal quantile per group (Mondrian conformal: coverage per group), or
    ``{None: q}`` for all cells together when ``groups`` is None."""
    scores = nonconformity(probabilities, labels)
    if groups is None:
        return {None: conformal_quantile(scores, coverage)}
    groups = np.asarray(groups, dtype=object)
    return {group: conformal_quantile(scores[groups == group], coverage) for group in sorted(set(groups))}


def set_labels(sets: np.ndarray, class_names: Sequence[str]) -> list[str]:
    """Each set as its class names joined by ``|`` (``""`` for an empty set)."""
    names = np.asarray(class_names, dtype=object)
    return ["|".join(names[row]) for row in np.asarray(sets, dtype=bool)]
