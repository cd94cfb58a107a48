"""Nodes that explain the subclass models with SHAP and compare the attributions with
LSPIN's gates: does "gate open" mean "feature matters"?

The explained cells are the test cells of the first ``explanation.splits`` splits; each
split's background is drawn from that split's non-test cells only (what its models were
trained on). SHAP values are per class: LSPIN's in change of P(class) (expected gradients
of the ensemble's mean probabilities), XGBoost's in log-odds of the class (exact tree SHAP).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuron_types.cells import SUBCLASS_LABEL as LABEL
from neuron_types.config import LspinParams
from neuron_types.errors import InputError
from neuron_types.figures.gate_shap import gate_vs_shap_figure
from neuron_types.figures.shap import shap_bar_figure, shap_beeswarm_figure
from neuron_types.pipelines.lspin.nodes import TRAINING_ROLES, _arrays, _split_ids
from neuron_types.splits import cells_in_role

logger = logging.getLogger(__name__)

UNITS = {"lspin": "change in P(class)", "xgboost": "log-odds of the class"}
SHAP_COLUMNS = ["model", "split", "specimen_id", LABEL, "class", "feature", "feature_value", "shap_value"]


def _explained_cells(model_input, splits, feature_names, class_names, lspin: LspinParams):
    """Per explained split: (split, test cells, their features, background features)."""
    settings = lspin.explanation
    available = _split_ids(splits)
    chosen = available[:settings.splits]
    if len(chosen) < settings.splits:
        logger.info("explanation: %d splits asked for, %d exist", settings.splits, len(chosen))
    for split in chosen:
        rng = np.random.default_rng(lspin.seed + split)
        test = cells_in_role(model_input, splits, split, "test").sort_values("specimen_id", ignore_index=True)
        if settings.cells_per_split is not None and len(test) > settings.cells_per_split:
            keep = np.sort(rng.choice(len(test), settings.cells_per_split, replace=False))
            test = test.iloc[keep].reset_index(drop=True)
        training = cells_in_role(model_input, splits, split, TRAINING_ROLES)
        x_train, _ = _arrays(training, list(feature_names), class_names)
        background = x_train[rng.choice(len(x_train), min(settings.background_cells, len(x_train)), replace=False)]
        x_test, _ = _arrays(test, list(feature_names), class_names)
        yield split, test, x_test, background


def _long_table(model: str, split: int, cells: pd.DataFrame, x: np.ndarray, values: np.ndarray,
                feature_names: list[str], class_names: list[str]) -> pd.DataFrame:
    """``values``: cells x features x classes -> one row per cell, class and feature."""
    n_cells, n_features, n_classes = values.shape
    return pd.DataFrame({
        "model": model,
        "split": split,
        "specimen_id": np.repeat(cells["specimen_id"].to_numpy("int64"), n_classes * n_features),
        LABEL: np.repeat(cells[LABEL].to_numpy(str), n_classes * n_features),
        "class": np.tile(np.repeat(np.asarray(class_names, dtype=object), n_features), n_cells),
        "feature": np.tile(np.asarray(feature_names, dtype=object), n_cells * n_classes),
        "feature_value": np.repeat(x[:, None, :], n_classes, axis=1).reshape(-1).astype("float64"),
        "shap_value": values.transpose(0, 2, 1).reshape(-1),
    })[SHAP_COLUMNS]


def _model_of_split(models: dict[str, Any], split: int, dataset: str):
    key = f"split{split}"
    if key not in models:
        raise InputError(f"{dataset}: no model of split {split} (have {sorted(models)})")
    model = models[key]
    # a partitioned dataset hands over loaders; a run in memory, the objects themselves
    return model if hasattr(model, "predict") or isinstance(model, dict) else model()


def explain_lspin_with_shap(
    lspin_models: dict[str, Any], model_input: pd.DataFrame, splits: pd.DataFrame,
    feature_names: list[str], class_names: list[str], lspin: LspinParams,
) -> pd.DataFrame:
    """SHAP values of each explained split's LSPIN ensemble, per class (expected gradients
    of its class probabilities, :func:`~neuron_types.models.explain.expected_gradients`).
    Long table: model, split, specimen_id, subclass (true), class (the explained output),
    feature, feature_value, shap_value."""
    from neuron_types.models.explain import expected_gradients

    settings = lspin.explanation
    tables, started = [], time.perf_counter()
    for split, cells, x, background in _explained_cells(model_input, splits, feature_names, class_names, lspin):
        model = _model_of_split(lspin_models, split, "lspin.lspin_models")
        values = expected_gradients(model, x, background, settings.samples, lspin.seed + split)
        tables.append(_long_table("lspin", split, cells, x, values, list(feature_names), list(class_names)))
    logger.info("lspin SHAP: %d splits, %d cells, %d samples each, %.1f s", len(tables),
                sum(t["specimen_id"].nunique() for t in tables), settings.samples, time.perf_counter() - started)
    return pd.concat(tables, ignore_index=True)


def explain_baseline_with_shap(
    xgboost_models: dict, model_input: pd.DataFrame, splits: pd.DataFrame,
    feature_names: list[str], class_names: list[str], lspin: LspinParams,
) -> pd.DataFrame:
    """Exact tree SHAP values (log-odds, per class) of each explained split's tuned XGBoost
    on the same cells as :func:`explain_lspin_with_shap`; the same long table."""
    from neuron_types.models.explain import xgboost_contributions

    tables, started = [], time.perf_counter()
    for split, cells, x, _ in _explained_cells(model_input, splits, feature_names, class_names, lspin):
        values = xgboost_contributions(_model_of_split(xgboost_models, split, "lspin.xgboost_models"), x)
        if values.shape[2] != len(class_names):
            raise InputError(f"lspin.xgboost_models: split {split} has {values.shape[2]} classes, "
                             f"subclass_names {len(class_names)}")
        tables.append(_long_table(lspin.explanation.baseline, split, cells, x, values,
                                  list(feature_names), list(class_names)))
    logger.info("%s SHAP: %d splits in %.1f s", lspin.explanation.baseline, len(tables), time.perf_counter() - started)
    return pd.concat(tables, ignore_index=True)


# ----------------------------------------------------------------------- with the gates
def _true_class_matrices(shap_values: pd.DataFrame, gates: pd.DataFrame, feature_names: list[str]):
    """Per model: the cells (model, split, specimen_id, subclass) and their gates and SHAP
    values of their own true class's output, both cells x features in ``feature_names`` order."""
    own = shap_values[shap_values["class"] == shap_values[LABEL]]
    wide = own.pivot_table(index=["model", "split", "specimen_id", LABEL], columns="feature",
                           values="shap_value", aggfunc="first")[list(feature_names)].reset_index()
    merged = wide.merge(gates[["split", "specimen_id", *feature_names]], on=["split", "specimen_id"],
                        how="left", suffixes=("", "_gate"), validate="many_to_one")
    gate_columns = [f"{name}_gate" for name in feature_names]
    if merged[gate_columns].isna().any().any():
        raise InputError("lspin.test_gates: no gates for some explained cells (split, specimen_id)")
    for model, cells in merged.groupby("model", sort=False):
        yield (model, cells[["model", "split", "specimen_id", LABEL]].reset_index(drop=True),
               cells[gate_columns].to_numpy(float), cells[list(feature_names)].to_numpy(float))


def gate_shap_agreement(
    shap_values: pd.DataFrame, gates: pd.DataFrame, feature_names: list[str], class_names: list[str],
    lspin: LspinParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model and class, over the explained test cells of that true class: Spearman's rho
    across features between LSPIN's mean gate and the model's mean |SHAP| of that class's
    output, with its permutation null interval (:func:`~neuron_types.models.explain.rank_agreement`:
    the central ``explanation.interval`` of rho over ``explanation.permutations`` random
    re-pairings of the features, seeded with ``seed``; not a confidence interval) and p-value;
    and the share of each cell's |SHAP| (its own class's output) on features whose LSPIN
    gate (for either model) is below ``interpretation.open_gate_threshold``: its mean and median over the class's cells,
    and the pooled share (closed-gate |SHAP| over all |SHAP| of the class). Returns that table
    and the per-cell shares."""
    from neuron_types.models.explain import closed_gate_share, rank_agreement

    settings, threshold = lspin.explanation, lspin.interpretation.open_gate_threshold
    rows, shares = [], []
    for model, cells, gate, shap in _true_class_matrices(shap_values, gates, list(feature_names)):
        share = closed_gate_share(gate, shap, threshold)
        shares.append(cells.assign(closed_gates=(gate < threshold).sum(axis=1), closed_gate_shap_share=share))
        for name in class_names:
            mine = (cells[LABEL] == name).to_numpy()
            if not mine.any():
                continue
            magnitude = np.abs(shap[mine])
            rows.append({
                "model": model, "class": name, "n_cells": int(mine.sum()),
                **rank_agreement(gate[mine].mean(axis=0), magnitude.mean(axis=0), settings.permutations,
                                 lspin.seed, settings.interval),
                "permutations": settings.permutations, "interval": settings.interval,
                "mean_closed_gates": float((gate[mine] < threshold).sum(axis=1).mean()),
                "closed_share_mean": float(np.nanmean(share[mine])),
                "closed_share_median": float(np.nanmedian(share[mine])),
                "closed_share_pooled": float(magnitude[gate[mine] < threshold].sum() / magnitude.sum()),
            })
    return pd.DataFrame(rows), pd.concat(shares, ignore_index=True)


# ------------------------------------------------------------------------------ figures
def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


def shap_plots(shap_values: pd.DataFrame, feature_names: list[str], class_names: list[str],
               lspin: LspinParams) -> dict[str, Figure]:
    """Per model and explained class, over every explained test cell: a bar plot of mean
    |SHAP| and a beeswarm (``<model>_<class>_bar.png``, ``..._beeswarm.png``)."""
    features, top = list(feature_names), lspin.explanation.top_features
    figures = {}
    for (model, name), rows in shap_values.groupby(["model", "class"], sort=False):
        wide = rows.pivot_table(index=["split", "specimen_id"], columns="feature", aggfunc="first",
                                values=["shap_value", "feature_value"])
        values, x = wide["shap_value"][features].to_numpy(), wide["feature_value"][features].to_numpy()
        title = f"{model}, output {name} ({len(wide)} test cells, {rows['split'].nunique()} splits)"
        stem = f"{model}_{_file_name(name)}"
        figures[f"{stem}_bar.png"] = shap_bar_figure(values, features, f"{title}: mean |SHAP|", top, UNITS.get(model, "SHAP"))
        figures[f"{stem}_beeswarm.png"] = shap_beeswarm_figure(values, x, features, f"{title}: SHAP values", top,
                                                               UNITS.get(model, "SHAP"))
    return figures


def gate_vs_shap_plot(shap_values: pd.DataFrame, gates: pd.DataFrame, agreement: pd.DataFrame,
                      feature_names: list[str], class_names: list[str]) -> Figure:
    """Per class, over the explained test cells of that class: LSPIN's mean gate beside its
    mean |SHAP| of that class's output, for every feature."""
    features = list(feature_names)
    for model, cells, gate, shap in _true_class_matrices(shap_values, gates, features):
        if model != "lspin":
            continue
        labels = cells[LABEL].to_numpy()
        present = [name for name in class_names if (labels == name).any()]
        mean_gate = pd.DataFrame({name: gate[labels == name].mean(axis=0) for name in present}, index=features)
        mean_shap = pd.DataFrame({name: np.abs(shap[labels == name]).mean(axis=0) for name in present},
                                 index=features)
        rho = agreement[agreement["model"] == "lspin"].set_index("class")["spearman"].to_dict()
        return gate_vs_shap_figure(mean_gate, mean_shap, rho,
                                   f"LSPIN: mean gate and mean |SHAP| of the true class's output per feature "
                                   f"({len(cells)} test cells)")
    raise InputError("lspin.shap_values: no rows of model 'lspin'")
