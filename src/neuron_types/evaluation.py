"""Scoring shared by every model pipeline: per-split metrics and their summary across splits.

Kedro-free so that a notebook can score a model the same way the pipelines do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
