"""Scoring shared by every model pipeline: per-split metrics, their corrected intervals
across folds, paired comparisons of models and confusion matrices over repeats.

Kedro-free so that a notebook can score a model the same way the pipelines do.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import metrics as skm

from neuron_types.errors import InputError

logger = logging.getLogger(__name__)


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


# --- the pipelines' summaries: fold scores read with the splits table they were scored on


class FoldDesign(NamedTuple):
    """What a splits table is: its ``protocol``, K folds and R repeats (random splits: J
    splits as K = J, R = 1), the repeat seeds, and per split the cells a model learns from
    (``n_train``: train and validation roles) and is scored on (``n_test``)."""

    protocol: str
    n_folds: int
    n_repeats: int
    seeds: list[int]
    sizes: pd.DataFrame

    @property
    def cross_validation(self) -> bool:
        return self.protocol != "random_splits"

    def describe(self) -> str:
        if self.cross_validation:
            return (f"{self.n_repeats} × {self.n_folds}-fold cross-validation "
                    f"({self.protocol}, seeds {', '.join(map(str, self.seeds))})")
        return f"{self.n_folds} random splits (seeds {', '.join(map(str, self.seeds))})"


SPLITS_COLUMNS = ("split", "seed", "specimen_id", "role")


def fold_design(splits: pd.DataFrame, source: str = "splits") -> FoldDesign:
    """The :class:`FoldDesign` of a table of :func:`neuron_types.splits.make_splits`.

    A table without ``repeat`` and ``fold`` (as :func:`~neuron_types.splits.repeated_stratified_splits`
    writes) is read as ``random_splits``; one without ``protocol`` but with folds as
    ``cross_validation``.
    """
    missing = [c for c in SPLITS_COLUMNS if c not in splits.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {missing}; expected {list(SPLITS_COLUMNS)} "
                         "(and repeat, fold for a cross-validation)")
    folded = {"repeat", "fold"} <= set(splits.columns)
    if "protocol" in splits.columns and splits["protocol"].nunique() == 1:
        protocol = str(splits["protocol"].iat[0])
    else:
        protocol = "cross_validation" if folded else "random_splits"
    is_test = splits["role"] == "test"
    sizes = pd.DataFrame({"n_train": (~is_test).groupby(splits["split"]).sum(),
                          "n_test": is_test.groupby(splits["split"]).sum()}).astype(float)
    if (sizes == 0).any(axis=None):
        raise InputError(f"{source}: splits {sizes.index[(sizes == 0).any(axis=1)].tolist()} lack "
                         "test or training cells; expected both in every split")
    per_split = splits.drop_duplicates("split").sort_values("split")
    if protocol == "random_splits":
        return FoldDesign(protocol, len(per_split), 1, per_split["seed"].astype(int).tolist(), sizes)
    if not folded:
        raise InputError(f"{source}: protocol {protocol!r} but no repeat and fold columns")
    n_folds, n_repeats = per_split["fold"].nunique(), per_split["repeat"].nunique()
    expected = set(range(n_folds * n_repeats))
    if set(per_split["split"]) != expected or len(per_split) != n_folds * n_repeats:
        raise InputError(f"{source}: splits {sorted(per_split['split'])}; expected 0..{len(expected) - 1} "
                         f"for {n_repeats} repeats of {n_folds} folds")
    seeds = per_split.drop_duplicates("repeat").sort_values("repeat")["seed"].astype(int).tolist()
    return FoldDesign(protocol, int(n_folds), int(n_repeats), seeds, sizes)


def _fold_values(split_metrics: pd.DataFrame, source: str) -> pd.DataFrame:
    """model, species, metric x split -> value (one column per split)."""
    missing = [c for c in SPLIT_METRIC_COLUMNS if c not in split_metrics.columns]
    if missing:
        raise InputError(f"{source}: missing columns {missing}; expected {list(SPLIT_METRIC_COLUMNS)}")
    keys = ["model", "species", "metric", "split"]
    doubled = split_metrics.duplicated(keys)
    if doubled.any():
        raise InputError(f"{source}: {int(doubled.sum())} rows repeat a (model, species, metric, split), "
                         f"first {split_metrics.loc[doubled, keys].iloc[0].tolist()}; expected one value each")
    return split_metrics.pivot(index=["model", "species", "metric"], columns="split", values="value").astype(float)


def summarise_split_metrics(
    split_metrics: pd.DataFrame,
    splits: pd.DataFrame,
    model_order: Sequence[str] = (),
    confidence: float = 0.95,
) -> dict:
    """Long per-split table -> ``{model: {species: {metric: {mean, std, ci95, n_folds, dof}}}}``.

    ``split_metrics`` has the columns ``model, split, species, metric, value`` (the
    pipelines' ``*_split_metrics``); ``splits`` is the splits table they were scored on.
    Each interval is the corrected one of :func:`corrected_repeated_cv_interval` over the
    J splits holding the metric (``n_folds`` = J; K R with every fold scored): with
    random splits it is Nadeau & Bengio's corrected resampled t, the same formula with J
    splits. n_test / n_train is the mean over those splits of test cells over non-test
    (train + validation) cells of all species. Models in ``model_order`` come first, then
    the others as the table first has them.
    """
    design = fold_design(splits)
    values = _fold_values(split_metrics, "split_metrics")
    unknown = sorted(set(values.columns) - set(design.sizes.index))
    if unknown:
        raise InputError(f"split_metrics: splits {unknown} are not in the splits table "
                         f"(splits 0..{len(design.sizes) - 1}); are both from the same run?")
    summary: dict = {}
    for (model, species, metric), row in values.iterrows():
        row = row.dropna()
        sizes = design.sizes.loc[row.index]
        one = _corrected_interval(row.to_numpy(), _test_train_ratio(sizes["n_train"], sizes["n_test"]), confidence)
        summary.setdefault(str(model), {}).setdefault(str(species), {})[str(metric)] = {
            "mean": one.mean, "std": one.std, "ci95": list(one.interval), "n_folds": len(row), "dof": one.dof}
    for model, per_species in summary.items():
        for species, per_metric in per_species.items():
            folds = max(stats["n_folds"] for stats in per_metric.values())
            if folds < len(design.sizes):
                logger.warning("%s, %s: scored on %d of the %d splits of %s", model, species, folds,
                               len(design.sizes), design.describe())
            if "accuracy" in per_metric:
                stats = per_metric["accuracy"]
                logger.info("%s, %s test cells: accuracy %.3f [%.3f, %.3f] over %d folds", model, species,
                            stats["mean"], *stats["ci95"], stats["n_folds"])
    # models, species and metrics in the order the table first has them
    appearance = {c: [str(v) for v in pd.unique(split_metrics[c])] for c in ("model", "species", "metric")}
    order = [m for m in model_order if m in summary] + [m for m in appearance["model"] if m not in model_order]
    return {model: {species: {metric: summary[model][species][metric]
                              for metric in appearance["metric"] if metric in summary[model][species]}
                    for species in appearance["species"] if species in summary[model]}
            for model in order if model in summary}


COMPARISON_KEYS = ("a", "b", "task", "species", "metric")


def paired_comparisons(
    comparisons: Sequence[Mapping[str, str]],
    split_metrics: Mapping[str, pd.DataFrame],
    splits: Mapping[str, pd.DataFrame],
    confidence: float = 0.95,
) -> list[dict]:
    """Each declared comparison ``{a, b, task, species, metric}`` by :func:`paired_comparison`
    on the splits both models were scored on, Holm-adjusted over the whole list.

    ``split_metrics[task]`` and ``splits[task]`` are the task's per-split table and splits
    table. Returns, in the order declared, the comparison's keys with ``n_folds``,
    ``mean_a``, ``mean_b``, ``mean_difference`` (a − b), ``std``, ``ci95``, ``t``, ``dof``,
    ``p_value`` and ``p_holm``.
    """
    results = []
    for number, comparison in enumerate(comparisons):
        task, species, metric = comparison["task"], comparison["species"], comparison["metric"]
        where = f"comparison {number} ({comparison['a']} vs {comparison['b']}, {task}, {species}, {metric})"
        if task not in split_metrics or task not in splits:
            raise InputError(f"{where}: no per-split metrics or splits for task {task!r}")
        design = fold_design(splits[task], f"{task} splits")
        values = _fold_values(split_metrics[task], f"{task} split metrics")
        rows = {}
        for side in ("a", "b"):
            key = (comparison[side], species, metric)
            if key not in values.index:
                raise InputError(f"{where}: no {metric} of model {comparison[side]!r} on {species} test cells; "
                                 f"expected one of the models {sorted(set(values.index.get_level_values(0)))}")
            rows[side] = values.loc[key].dropna()
        common = rows["a"].index.intersection(rows["b"].index)
        if len(common) < 2:
            raise InputError(f"{where}: the two models share {len(common)} scored splits; expected at least 2")
        sizes = design.sizes.loc[common]
        a, b = rows["a"][common].to_numpy(), rows["b"][common].to_numpy()
        test = paired_comparison(a, b, sizes["n_train"].mean(), sizes["n_test"].mean(), len(common), 1, confidence)
        results.append({**{key: comparison[key] for key in COMPARISON_KEYS}, "n_folds": len(common),
                        "mean_a": float(a.mean()), "mean_b": float(b.mean()), **test})
    for result, adjusted in zip(results, holm_adjust([r["p_value"] for r in results])):
        result["p_holm"] = adjusted
    return results


def confusion_averaged_over_repeats(
    predictions: pd.DataFrame,
    splits: pd.DataFrame,
    labels: Sequence,
    true: str,
    predicted: str = "predicted",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One model's confusion matrix over the splits in ``predictions``, each cell counted
    once per repeat: ``(fractions, counts)``.

    ``predictions`` holds one row per split and test cell (``split``, ``true``,
    ``predicted`` columns; one model, one species if the figure has one). A repeated
    cross-validation tests every cell once per repeat, so pooling its folds counts a cell R
    times; ``counts`` is the mean over the repeats present of each repeat's confusion
    counts (random splits: the mean over splits), a table of the cohort's size, and
    ``fractions`` its rows normalised to 1 (rows = true class, columns = predicted).
    """
    design = fold_design(splits)
    missing = [c for c in ("split", true, predicted) if c not in predictions.columns]
    if missing:
        raise InputError(f"predictions: missing column(s) {missing}")
    per_split = splits.drop_duplicates("split").set_index("split")
    repeat = (predictions["split"].map(per_split["repeat"]) if design.cross_validation
              else predictions["split"])
    if repeat.isna().any():
        raise InputError(f"predictions: splits {sorted(predictions.loc[repeat.isna(), 'split'].unique())} "
                         "are not in the splits table")
    names = [str(label) for label in labels]
    counts = np.zeros((len(names), len(names)))
    for _, rows in predictions.groupby(repeat):
        counts += skm.confusion_matrix(rows[true].astype(str), rows[predicted].astype(str), labels=names)
    counts /= max(repeat.nunique(), 1)
    totals = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    index, columns = pd.Index(names, name="true"), pd.Index(names, name="predicted")
    return pd.DataFrame(fractions, index, columns), pd.DataFrame(counts, index, columns)
