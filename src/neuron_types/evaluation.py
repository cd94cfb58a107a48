"""Scoring shared by every model pipeline: per-split metrics and their summary across splits.

Kedro-free so that a notebook can score a model the same way the pipelines do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm


def classification_metrics(
    y_true: Sequence,
    y_pred: Sequence,
    y_proba: np.ndarray | None = None,
    labels: Sequence | None = None,
) -> dict[str, float]:
    """Scores one model on one split's test cells.

    ``labels`` fixes the class order (and the columns of ``y_proba``); with two classes
    ``y_proba`` may be the probability of ``labels[1]`` alone. Precision, recall and F1
    are macro averages, so that the minority class weighs as much as the majority one.
    ROC AUC is one-vs-rest (macro) with more than two classes, and omitted when the test
    cells hold a single class.
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    labels = list(labels) if labels is not None else sorted(set(y_true) | set(y_pred))
    scores = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
        "f1_macro": skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "f1_weighted": skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0),
        "precision": skm.precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
        "recall": skm.recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
    }
    if y_proba is not None and len(np.unique(y_true)) > 1:
        y_proba = np.asarray(y_proba, dtype=float)
        if len(labels) == 2:
            positive = y_proba[:, 1] if y_proba.ndim == 2 else y_proba
            scores["roc_auc"] = skm.roc_auc_score(y_true == labels[1], positive)
        else:
            # sklearn wants labels sorted, with the probability columns in that order
            order = np.argsort(np.asarray(labels, dtype=object).astype(str))
            scores["roc_auc"] = skm.roc_auc_score(
                y_true,
                y_proba[:, order],
                labels=[labels[i] for i in order],
                multi_class="ovr",
                average="macro",
            )
    return {name: float(value) for name, value in scores.items()}


def per_class_f1(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> dict[str, float]:
    """F1 of each class, keyed by class name."""
    values = skm.f1_score(y_true, y_pred, labels=list(labels), average=None, zero_division=0)
    return {str(label): float(value) for label, value in zip(labels, values)}


def summarise_splits(
    per_split: Sequence[Mapping[str, float]],
    confidence: float = 0.95,
    bounds: tuple[float, float] = (0.0, 1.0),
) -> dict:
    """Mean, sample std and a Student-t confidence interval of each metric across splits.

    Returns ``{metric: {"mean", "std", "ci95": [lo, hi], "n_splits"}}``. The interval is
    clipped to ``bounds``, the range every score here lives in (a t-interval around 0.99
    would otherwise claim accuracies above 1). With one split the
    std is 0 and the interval collapses onto the mean: there is no spread to estimate.
    A metric missing from some splits (ROC AUC on a one-class split) is summarised over
    the splits that have it, and ``n_splits`` says how many.
    """
    if not per_split:
        raise ValueError("summarise_splits: no split results to summarise (expected at least one)")
    names = sorted({name for scores in per_split for name in scores})
    summary = {}
    for name in names:
        values = np.array([scores[name] for scores in per_split if name in scores], dtype=float)
        n = len(values)
        mean = float(values.mean())
        std = float(values.std(ddof=1)) if n > 1 else 0.0
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / np.sqrt(n)) if n > 1 else 0.0
        low, high = max(mean - half, bounds[0]), min(mean + half, bounds[1])
        summary[name] = {"mean": mean, "std": std, "ci95": [low, high], "n_splits": n}
    return summary


def normalised_confusion(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> pd.DataFrame:
    """Confusion matrix with rows = true class, each row normalised to sum to 1."""
    counts = skm.confusion_matrix(y_true, y_pred, labels=list(labels)).astype(float)
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    index = pd.Index([str(label) for label in labels], name="true")
    columns = pd.Index([str(label) for label in labels], name="predicted")
    return pd.DataFrame(fractions, index=index, columns=columns)


SPLIT_METRIC_COLUMNS = ("model", "split", "species", "metric", "value")


def summarise_split_metrics(split_metrics: pd.DataFrame) -> dict:
    """Long per-split table -> ``{model: {species: {metric: {mean, std, ci95, n_splits}}}}``.

    ``split_metrics`` has the columns ``model, split, species, metric, value`` (one row per
    model, split, test species and metric), as the pipelines' ``*_split_metrics`` tables.
    """
    missing = [c for c in SPLIT_METRIC_COLUMNS if c not in split_metrics.columns]
    if missing:
        raise ValueError(f"split_metrics: missing columns {missing}; expected {list(SPLIT_METRIC_COLUMNS)}")
    summary: dict = {}
    for (model, species), rows in split_metrics.groupby(["model", "species"], sort=False):
        per_split = [
            dict(zip(group["metric"], group["value"].astype(float)))
            for _, group in rows.groupby("split", sort=True)
        ]
        summary.setdefault(str(model), {})[str(species)] = summarise_splits(per_split)
    return summary


def split_metrics_table(per_split: Mapping[tuple[str, int, str], Mapping[str, float]]) -> pd.DataFrame:
    """``{(model, split, species): {metric: value}}`` -> the long per-split table."""
    rows = [
        {"model": model, "split": int(split), "species": species, "metric": metric, "value": float(value)}
        for (model, split, species), scores in per_split.items()
        for metric, value in scores.items()
    ]
    return pd.DataFrame(rows, columns=list(SPLIT_METRIC_COLUMNS))


# --- Protocol v2: repeated K-fold cross-validation, corrected for overlapping training sets
#
# Nadeau & Bengio (2003), "Inference for the generalization error", Machine Learning 52,
# 239-281; Bouckaert & Frank (2004), "Evaluating the replicability of significance tests
# for comparing learning algorithms", PAKDD, LNCS 3056, 3-12. The K R fold scores of an
# R-times repeated K-fold cross-validation share training cells, so their plain variance
# of the mean (s^2 / (K R)) is too small; the corrected one is (1/(K R) + n_test/n_train) s^2,
# with K R - 1 degrees of freedom. See docs/evaluation.md, "Protocol v2".


class CorrectedInterval(NamedTuple):
    """A metric's mean over folds with its corrected ``confidence`` t interval (unclipped)."""

    mean: float
    std: float
    interval: tuple[float, float]
    dof: int
    standard_error: float


def corrected_repeated_cv_interval(
    values: Sequence[float],
    n_train: float,
    n_test: float,
    n_folds: int,
    n_repeats: int,
    confidence: float = 0.95,
) -> CorrectedInterval:
    """Corrected repeated K-fold t interval of the mean of ``values`` (one per fold, K R).

    ``n_train`` and ``n_test`` are the cells a fold trains on and is tested on (a mean
    when folds differ by a few cells). The interval is mean ± t(1/2 + confidence/2,
    K R − 1) · sqrt((1/(K R) + n_test/n_train) · s²), s² the sample variance of the K R
    values, and is not clipped: a bound past 1 says the data cannot place the score.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) != n_folds * n_repeats:
        raise ValueError(
            f"corrected_repeated_cv_interval: expected n_folds * n_repeats = "
            f"{n_folds} * {n_repeats} = {n_folds * n_repeats} fold values, got shape {values.shape}"
        )
    return _corrected_interval(values, _test_train_ratio(n_train, n_test), confidence)


def paired_comparison(
    a_per_fold: Sequence[float],
    b_per_fold: Sequence[float],
    n_train: float,
    n_test: float,
    n_folds: int,
    n_repeats: int,
    confidence: float = 0.95,
) -> dict:
    """Model a against model b on the same folds: the corrected resampled t-test.

    ``a_per_fold[j]`` and ``b_per_fold[j]`` are the two models' scores on fold j (same
    cells). Returns ``{"mean_difference" (a − b), "std", "ci95": [lo, hi], "t", "p_value"
    (two-sided), "dof"}``; ``ci95`` is at ``confidence``. When every fold gives the same
    difference the standard error is 0: p is 1 for a zero difference, else 0.
    """
    a, b = np.asarray(a_per_fold, dtype=float), np.asarray(b_per_fold, dtype=float)
    if a.shape != b.shape:
        raise ValueError(
            f"paired_comparison: a_per_fold and b_per_fold must score the same folds, got "
            f"{a.shape} and {b.shape} values"
        )
    difference = corrected_repeated_cv_interval(a - b, n_train, n_test, n_folds, n_repeats, confidence)
    if difference.standard_error > 0:
        t = difference.mean / difference.standard_error
        p_value = float(2 * stats.t.sf(abs(t), difference.dof))
    else:
        t = 0.0 if difference.mean == 0 else float(np.copysign(np.inf, difference.mean))
        p_value = 1.0 if difference.mean == 0 else 0.0
    return {
        "mean_difference": difference.mean,
        "std": difference.std,
        "ci95": list(difference.interval),
        "t": float(t),
        "p_value": p_value,
        "dof": difference.dof,
    }


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni step-down adjusted p-values, in the order given (statsmodels'
    ``multipletests(method="holm")``): the family-wise error stays below alpha when each
    adjusted p is compared with alpha."""
    from statsmodels.stats.multitest import multipletests  # 1-2 s to import: only when used

    p_values = np.asarray(p_values, dtype=float)
    if p_values.ndim != 1 or np.isnan(p_values).any() or ((p_values < 0) | (p_values > 1)).any():
        raise ValueError(f"holm_adjust: expected a list of p-values in [0, 1], got {p_values.tolist()}")
    if not len(p_values):
        return []
    return [float(p) for p in multipletests(p_values, method="holm")[1]]


def summarise_folds(
    per_fold_scores: Sequence[Mapping[str, float]],
    n_train: float,
    n_test: float,
    n_folds: int,
    n_repeats: int,
    confidence: float = 0.95,
) -> dict:
    """:func:`summarise_splits` for repeated K-fold scores, with corrected intervals.

    ``per_fold_scores`` holds one ``{metric: value}`` per fold (K R of them). Returns
    ``{metric: {"mean", "std", "ci95": [lo, hi], "n_folds", "dof"}}``, unclipped. A metric
    missing from some folds (ROC AUC on a one-class fold) is summarised over the J folds
    that have it, with 1/J for 1/(K R) and J − 1 degrees of freedom; ``n_folds`` says J.
    """
    if len(per_fold_scores) != n_folds * n_repeats:
        raise ValueError(
            f"summarise_folds: expected n_folds * n_repeats = {n_folds * n_repeats} fold "
            f"results, got {len(per_fold_scores)}"
        )
    ratio = _test_train_ratio(n_train, n_test)
    summary = {}
    for name in sorted({name for scores in per_fold_scores for name in scores}):
        values = np.array([scores[name] for scores in per_fold_scores if name in scores], dtype=float)
        one = _corrected_interval(values, ratio, confidence)
        summary[name] = {"mean": one.mean, "std": one.std, "ci95": list(one.interval),
                         "n_folds": len(values), "dof": one.dof}
    return summary


def _test_train_ratio(n_train: float, n_test: float) -> float:
    n_train, n_test = float(np.mean(n_train)), float(np.mean(n_test))
    if not (n_train > 0 and n_test > 0):
        raise ValueError(f"n_train and n_test: expected positive cell counts, got {n_train} and {n_test}")
    return n_test / n_train


def _corrected_interval(values: np.ndarray, test_train_ratio: float, confidence: float) -> CorrectedInterval:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a level in (0, 1), got {confidence}")
    if np.isnan(values).any():
        raise ValueError(f"fold values: expected numbers, got NaN in {values.tolist()}")
    n = len(values)
    if n < 2:
        raise ValueError(f"fold values: a corrected interval needs at least 2 folds, got {n}")
    mean, std = float(values.mean()), float(values.std(ddof=1))
    standard_error = float(np.sqrt((1 / n + test_train_ratio) * std**2))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * standard_error
    return CorrectedInterval(mean, std, (mean - half, mean + half), n - 1, standard_error)
