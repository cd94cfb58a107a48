"""Sensitivity analyses: the primary splits and every variant of ``sensitivity_splits``,
scored by the same fast models (``params:sensitivity``), so that a difference between two
rows is the variant's, not a model's.

A variant's folds are not the primary folds (another protocol, or another cohort), so a
variant and the primary are not paired fold by fold: the difference of their means gets
an unpaired interval, the two corrected standard errors combined (docs/evaluation.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy import stats

from neuron_types.cells import EI_LABEL, SOURCE, SUBCLASS_LABEL
from neuron_types.config import SensitivityParams
from neuron_types.errors import InputError
from neuron_types.evaluation import classification_metrics, split_metrics_table, summarise_split_metrics
from neuron_types.splits import cells_in_role

logger = logging.getLogger(__name__)

PRIMARY = "primary"
VARIANT_COLUMNS = ("variant", "task")
TRAINING_ROLES = ("train", "validation")


def _variant_splits(primary: pd.DataFrame, sensitivity_splits: pd.DataFrame, task: str
                    ) -> Iterator[tuple[str, pd.DataFrame]]:
    """``(name, splits)``: the primary splits first, then the task's variants in table order."""
    missing = [c for c in VARIANT_COLUMNS if c not in sensitivity_splits.columns]
    if missing:
        raise InputError(f"sensitivity_splits: missing column(s) {missing}; expected {list(VARIANT_COLUMNS)} "
                         "and the columns of a splits table")
    yield PRIMARY, primary
    of_task = sensitivity_splits[sensitivity_splits["task"] == task]
    for name in pd.unique(of_task["variant"]):
        rows = of_task[of_task["variant"] == name]
        yield str(name), rows.drop(columns=list(VARIANT_COLUMNS)).reset_index(drop=True)


def _split_ids(splits: pd.DataFrame) -> list[int]:
    return sorted(int(split) for split in splits["split"].unique())


def score_ei_variants(
    ei_model_input: pd.DataFrame,
    ei_splits: pd.DataFrame,
    sensitivity_splits: pd.DataFrame,
    feature_names: list[str],
    sensitivity: SensitivityParams,
) -> pd.DataFrame:
    """Per variant, model, split and test species, the excitatory/inhibitory metrics: the
    long table ``variant, model, split, species, metric, value``.

    ``logistic_regression`` trains on both species' training cells;
    ``logistic_regression_source_only`` on the mouse ones, C chosen on mouse validation
    cells, so that no human label reaches it."""
    from neuron_types.models import cross_species as cs

    cs.check_model_input(ei_model_input, feature_names)
    tables = []
    for variant, splits in _variant_splits(ei_splits, sensitivity_splits, "ei"):
        scores = {}
        for split in _split_ids(splits):
            cells = cs.split_cells(ei_model_input, splits, split)
            for model in sensitivity.ei.models:
                seen = cells if model == "logistic_regression" else cs.SplitCells(
                    *(part[part["species"].astype(str) == SOURCE] for part in (cells.train, cells.validation)),
                    cells.test)
                predictions, _ = cs.logistic_regression_on_split(seen, feature_names, sensitivity.ei.c_grid, split,
                                                                 model)
                for species, test in predictions.groupby("species"):
                    probability = test["probability"].to_numpy()
                    scores[(model, split, str(species))] = classification_metrics(
                        test[EI_LABEL], (probability >= 0.5).astype(int), probability, labels=[0, 1])
        tables.append(split_metrics_table(scores).assign(variant=variant))
        logger.info("sensitivity (ei): %s scored on %d splits", variant, len(_split_ids(splits)))
    return _variant_first(tables)


def score_subclass_variants(
    subclass_model_input: pd.DataFrame,
    subclass_splits: pd.DataFrame,
    sensitivity_splits: pd.DataFrame,
    feature_names: list[str],
    subclass_names: list[str],
    sensitivity: SensitivityParams,
) -> pd.DataFrame:
    """As :func:`score_ei_variants` for the subclass task: each model of
    ``sensitivity.subclass`` tuned by cross-validation on the non-test cells of each split
    (:func:`neuron_types.models.baselines.tune_baseline`), refitted on them, scored on the
    test cells; every variant's splits tuned in ``sensitivity.subclass.n_jobs`` worker
    processes (:func:`~neuron_types.models.baselines.tune_baselines`)."""
    from neuron_types.models.baselines import aligned_proba, tune_baselines

    settings = sensitivity.subclass
    codes = {name: code for code, name in enumerate(subclass_names)}
    unknown = sorted(set(subclass_model_input[SUBCLASS_LABEL]) - set(codes))
    if unknown:
        raise InputError(f"subclass_model_input.{SUBCLASS_LABEL}: values {unknown} are not in subclass_names "
                         f"{list(subclass_names)}")
    fits, jobs = [], []  # every (variant, split, model) of every variant, tuned in one parallel batch
    for variant, splits in _variant_splits(subclass_splits, sensitivity_splits, "subclass"):
        for split in _split_ids(splits):
            train = cells_in_role(subclass_model_input, splits, split, TRAINING_ROLES)
            test = cells_in_role(subclass_model_input, splits, split, "test")
            x_train, x_test = (cells[list(feature_names)].to_numpy(float) for cells in (train, test))
            for model in settings.models:
                fits.append((variant, split, model, test, x_test))
                jobs.append(dict(name=model, x=x_train, y=train[SUBCLASS_LABEL].map(codes).to_numpy(),
                                 grid=settings.grids[model], cv_folds=settings.cv_folds,
                                 seed=sensitivity.seed + split, scoring=settings.scoring,
                                 grid_source="parameters_sensitivity.yml, sensitivity.subclass.grids"))
    scores: dict[str, dict] = {}
    for (variant, split, model, test, x_test), (fitted, _, _) in zip(fits, tune_baselines(jobs, settings.n_jobs)):
        proba = aligned_proba(fitted, x_test, len(subclass_names))
        # the rule it was selected by (as the lspin pipeline's baselines)
        predicted = np.asarray(subclass_names, dtype=object)[fitted.predict(x_test).astype(int)]
        scores.setdefault(variant, {})[(model, split, "mouse")] = classification_metrics(
            test[SUBCLASS_LABEL].to_numpy(str), predicted, proba, list(subclass_names))
    tables = []
    for variant, per_fit in scores.items():
        tables.append(split_metrics_table(per_fit).assign(variant=variant))
        logger.info("sensitivity (subclass): %s scored on %d splits", variant,
                    len({split for _, split, _ in per_fit}))
    return _variant_first(tables)


def _variant_first(tables: list[pd.DataFrame]) -> pd.DataFrame:
    table = pd.concat(tables, ignore_index=True)
    return table[["variant", *(c for c in table.columns if c != "variant")]]


def summarise_sensitivity(
    ei_variant_metrics: pd.DataFrame,
    subclass_variant_metrics: pd.DataFrame,
    ei_splits: pd.DataFrame,
    subclass_splits: pd.DataFrame,
    sensitivity_splits: pd.DataFrame,
    sensitivity_variants: dict,
) -> dict:
    """``{task: {variant: {description, protocol, n_cells, models, difference}}}``: each
    variant's corrected mean and interval per model, species and metric, and its
    difference from the primary row of the same model (variant − primary) with the
    unpaired interval of the module docstring; a skipped variant has ``skipped`` (why)
    instead of ``models``."""
    summary: dict = {}
    for task, metrics, primary in (("ei", ei_variant_metrics, ei_splits),
                                   ("subclass", subclass_variant_metrics, subclass_splits)):
        per_variant: dict = {}
        for variant, splits in _variant_splits(primary, sensitivity_splits, task):
            rows = metrics[metrics["variant"] == variant].drop(columns="variant")
            if rows.empty:
                raise InputError(f"{task} sensitivity metrics: no rows of variant {variant!r}, which "
                                 "sensitivity_splits holds; are both from the same run?")
            models = summarise_split_metrics(rows, splits)
            per_variant[variant] = {
                "description": sensitivity_variants.get(variant, {}).get("description",
                                                                         "the primary cohort and protocol"),
                "protocol": str(splits["protocol"].iat[0]) if "protocol" in splits else None,
                "n_cells": int(splits["specimen_id"].nunique()),
                "models": models,
            }
        for variant, content in per_variant.items():
            if variant != PRIMARY:
                content["difference"] = _differences(content["models"], per_variant[PRIMARY]["models"])
        for variant, content in sensitivity_variants.items():
            skipped = content["tasks"].get(task, {}).get("skipped")
            if skipped:
                per_variant[variant] = {"description": content["description"], "skipped": skipped}
        summary[task] = per_variant
    return summary


def _differences(variant: dict, primary: dict) -> dict:
    out: dict = {}
    for model, per_species in variant.items():
        for species, per_metric in per_species.items():
            for metric, a in per_metric.items():
                b = primary.get(model, {}).get(species, {}).get(metric)
                if b is not None:
                    out.setdefault(model, {}).setdefault(species, {})[metric] = unpaired_difference(a, b)
    return out


def unpaired_difference(a: dict, b: dict, confidence: float = 0.95) -> dict:
    """``a`` − ``b`` for two summaries of :func:`summarise_split_metrics` on different
    folds: the difference of means, ± t(min dof) times the root of the sum of the two
    squared corrected standard errors (each recovered from its interval's half-width)."""
    dof = min(a["dof"], b["dof"])
    errors = [(s["ci95"][1] - s["ci95"][0]) / 2 / stats.t.ppf(0.975, s["dof"]) for s in (a, b)]
    standard_error = float(np.hypot(*errors))
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * standard_error
    difference = a["mean"] - b["mean"]
    return {"mean": difference, "ci95": [difference - half, difference + half], "dof": dof,
            "standard_error": standard_error}
