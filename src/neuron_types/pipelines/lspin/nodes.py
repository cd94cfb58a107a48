"""Nodes of the lspin pipeline: mouse subclass classification with LSPIN, a plain MLP and
tuned classical baselines, all scored on the same test cells of every split.

Training and tuning see only the non-test cells of a split (its ``train`` and
``validation`` roles); feature scaling is fitted inside each model on the rows it trains on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from neuron_types.cells import MOUSE as SPECIES
from neuron_types.cells import SUBCLASS_LABEL as LABEL
from neuron_types.cells import on_both_test_pools
from neuron_types.config import SKLEARN_BASELINES, LspinParams
from neuron_types.errors import InputError
from neuron_types.evaluation import classification_metrics, per_class_f1, split_metrics_table
from neuron_types.splits import cells_in_role

logger = logging.getLogger(__name__)

# The network code is imported inside the nodes that train or run a network: it loads
# TensorFlow (~4 s), which a command that trains nothing should not pay for. A trained
# ensemble (a Keras model) is annotated `Any` for the same reason.
NETWORKS = ("lspin", "mlp")
# LSPIN as the reference's code trains it (parameters lspin.lspin_reference_regime)
REFERENCE_REGIME = "lspin_reference_regime"
TRAINING_ROLES = ("train", "validation")
# the columns of every network's training history (lspin.training_history)
HISTORY_COLUMNS = ["epoch", "train_loss", "val_cross_entropy", "val_accuracy", "best_epoch", "member", "model", "split"]


# ----------------------------------------------------------------------------- inputs
def _arrays(cells: pd.DataFrame, columns: list[str], class_names: Sequence[str], may_be_missing: Sequence[str] = ()):
    """Features and class indices; ``may_be_missing`` columns may hold NaN (never inf)."""
    missing = [c for c in [*columns, LABEL, "specimen_id"] if c not in cells.columns]
    if missing:
        raise InputError(f"subclass_model_input: missing column(s) {missing}")
    unknown = sorted(set(cells[LABEL]) - set(class_names))
    if unknown:
        raise InputError(
            f"subclass_model_input.{LABEL}: values {unknown} are not in subclass_names "
            f"{list(class_names)}"
        )
    x = cells[columns].to_numpy(dtype="float32")
    values = {c: cells[c].to_numpy(dtype=float) for c in columns}
    bad = [c for c in columns if not (np.isfinite(values[c]) | (np.isnan(values[c]) & (c in may_be_missing))).all()]
    if bad:
        raise InputError(f"subclass_model_input: non-finite values in feature column(s) {bad}")
    y = cells[LABEL].map({name: i for i, name in enumerate(class_names)}).to_numpy("int32")
    return x, y


def _split_ids(splits: pd.DataFrame) -> list[int]:
    return sorted(int(split) for split in splits["split"].unique())


def _partition_split(key: str) -> int:
    """``split3`` -> 3 (the partition names of the saved ensembles)."""
    if not key.startswith("split") or not key[len("split"):].isdigit():
        raise InputError(f"lspin models: partition {key!r} is not named split<k>")
    return int(key[len("split"):])


def training_rows(cells: pd.DataFrame, splits: pd.DataFrame) -> dict[int, np.ndarray]:
    """Split -> the positions in ``cells`` of its non-test cells, the only ones a network of
    that split may fit, stop or be tuned on."""
    rows = {}
    for split in _split_ids(splits):
        allowed = set(cells_in_role(cells, splits, split, TRAINING_ROLES)["specimen_id"])
        rows[split] = np.flatnonzero(cells["specimen_id"].isin(allowed).to_numpy())
    return rows


def _prediction_table(
    model: str, split: int, cells: pd.DataFrame, proba: np.ndarray, class_names: Sequence[str],
    predicted: np.ndarray | None = None,
) -> pd.DataFrame:
    """``predicted``: class indices (default: the most probable class)."""
    predicted = proba.argmax(axis=1) if predicted is None else np.asarray(predicted, dtype=int)
    table = pd.DataFrame(
        {
            "model": model,
            "split": split,
            "specimen_id": cells["specimen_id"].to_numpy("int64"),
            LABEL: cells[LABEL].to_numpy(str),
            "predicted": np.asarray(class_names, dtype=object)[predicted],
        }
    )
    for i, name in enumerate(class_names):
        table[f"proba_{name}"] = proba[:, i].astype("float64")
    return table


# --------------------------------------------------------------------------- networks
def train_network(
    model_input: pd.DataFrame,
    splits: pd.DataFrame,
    feature_names: list[str],
    class_names: list[str],
    lspin: LspinParams,
    kind: str,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """LSPIN (``kind="lspin"``, or ``"lspin_reference_regime"``) or the same prediction network
    without gates (``"mlp"``), for every split a cross-fitted ensemble of the split's non-test cells whose members stop
    early on their held-out fold; every split's members train in one stack. Returns
    ``{"split<k>": ensemble}`` and the members' training histories."""
    from neuron_types.models.lspin_ensemble import fit_cross_fitted_ensembles
    from neuron_types.models.reproducibility import seed_everything

    if kind not in (*NETWORKS, REFERENCE_REGIME):
        raise ValueError(f"network kind: expected one of {(*NETWORKS, REFERENCE_REGIME)}, got {kind!r}")
    cells = model_input.sort_values("specimen_id", ignore_index=True)
    x, y = _arrays(cells, feature_names, class_names)
    rows = training_rows(cells, splits)
    network = getattr(lspin, kind)
    seed_everything(lspin.seed)
    started = time.perf_counter()
    ensembles, history = fit_cross_fitted_ensembles(x, y, rows, len(class_names), network, lspin.seed)
    best = history.groupby(["split", "member"])["best_epoch"].first()
    logger.info("%s: %d splits x %d members in one stack on %d cells, best epochs %s, %.1f s",
                kind, len(rows), network.ensemble_members, len(y), best.tolist(), time.perf_counter() - started)
    history = history.assign(model=kind)
    return {f"split{split}": model for split, model in ensembles.items()}, history[HISTORY_COLUMNS]


def loaded_ensemble(models: dict[str, Any], key: str):
    """``models[key]``: a trained ensemble, or the loader a partitioned dataset gives for it."""
    import keras

    return models[key] if isinstance(models[key], keras.Model) else models[key]()


def network_test_outputs(
    models: dict[str, Any],
    model_input: pd.DataFrame,
    splits: pd.DataFrame,
    feature_names: list[str],
    class_names: list[str],
    kind: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test-cell class probabilities of every split's trained ensemble (``models``: split
    name -> ensemble, or its loader as a partitioned dataset gives it), and the test cells'
    inference gates (cells x features; empty for the MLP, which has none)."""
    from neuron_types.models.lspin_ensemble import ensemble_gates

    columns = list(feature_names)
    known = _split_ids(splits)
    predictions, gates = [], []
    for key in sorted(models, key=_partition_split):
        split = _partition_split(key)
        if split not in known:
            raise InputError(f"lspin.{kind}_models: a model of split {split}, which subclass_splits "
                             f"(splits {known}) does not have")
        model = loaded_ensemble(models, key)
        cells = cells_in_role(model_input, splits, split, "test")
        x, _ = _arrays(cells, columns, class_names)
        proba = np.asarray(model(x, training=False), dtype="float64")
        table = _prediction_table(kind, split, cells, proba, class_names)
        predictions.append(table)
        if model.use_gates:
            values = pd.DataFrame(ensemble_gates(model, x).astype("float64"), columns=columns)
            gates.append(pd.concat([table[["split", "specimen_id", LABEL, "predicted"]], values], axis=1))
    missing = sorted(set(known) - {_partition_split(key) for key in models})
    if missing:
        raise InputError(f"lspin.{kind}_models: no model of splits {missing}")
    return (pd.concat(predictions, ignore_index=True),
            pd.concat(gates, ignore_index=True) if gates else pd.DataFrame())


# -------------------------------------------------------------------------- baselines
def _tune_and_test(
    model_input: pd.DataFrame,
    splits: pd.DataFrame,
    feature_names: list[str],
    class_names: list[str],
    lspin: LspinParams,
    name: str,
    imputed: Sequence[str] = (),
    entry: str | None = None,
) -> tuple[pd.DataFrame, dict, dict]:
    """``imputed``: feature columns that may be missing, imputed inside every fit (the
    ``_extended`` entries, named ``<name>_extended``; ``entry``: another name)."""
    from neuron_types.models.baselines import aligned_proba, tune_baselines, xgboost_model_json

    if name not in SKLEARN_BASELINES:
        raise ValueError(f"baseline: expected one of {SKLEARN_BASELINES}, got {name!r}")
    settings = lspin.baselines
    columns = list(feature_names)
    entry = entry or (f"{name}_extended" if imputed else name)
    imputation = settings.imputation if imputed else None
    tables, chosen, saved = [], {}, {}
    started = time.perf_counter()
    split_ids = sorted(int(s) for s in splits["split"].unique())
    jobs = []
    for split in split_ids:
        x, y = _arrays(cells_in_role(model_input, splits, split, TRAINING_ROLES), columns, class_names, imputed)
        jobs.append(dict(name=name, x=x, y=y, grid=getattr(settings.grids, name), cv_folds=settings.cv_folds,
                         seed=lspin.seed + split, scoring=settings.scoring, imputation=imputation))
    for split, (fitted, best, cv_score) in zip(split_ids, tune_baselines(jobs, settings.n_jobs)):
        test = cells_in_role(model_input, splits, split, "test")
        x_test, _ = _arrays(test, columns, class_names, imputed)
        proba = aligned_proba(fitted, x_test, len(class_names))
        # scored by the rule it was selected by (GridSearchCV scores `predict`): for the SVC,
        # one-vs-one votes of its decision function, which Platt's probabilities can reorder
        tables.append(_prediction_table(entry, split, test, proba, class_names, fitted.predict(x_test)))
        chosen[f"split{split}"] = {"hyperparameters": best, f"cv_{settings.scoring}": cv_score}
        if name == "xgboost":
            saved[f"split{split}"] = xgboost_model_json(fitted)
    logger.info("%s: tuned and tested on %d splits (%d features) in %.1f s", entry, len(tables), len(columns),
                time.perf_counter() - started)
    return pd.concat(tables, ignore_index=True), chosen, saved


def tune_and_test_baseline(
    model_input: pd.DataFrame,
    splits: pd.DataFrame,
    feature_names: list[str],
    class_names: list[str],
    lspin: LspinParams,
    name: str,
) -> tuple[pd.DataFrame, dict]:
    """For every split: grid search by stratified CV on the non-test cells, refit on them,
    predict the test cells. Returns the predictions and the chosen hyperparameters per
    split (sklearn models are not persisted: no pickle, and they refit in a second)."""
    predictions, chosen, _ = _tune_and_test(model_input, splits, feature_names, class_names, lspin, name)
    return predictions, chosen


def tune_and_test_extended_baseline(
    model_input: pd.DataFrame,
    splits: pd.DataFrame,
    extended_feature_names: list[str],
    feature_names: list[str],
    class_names: list[str],
    lspin: LspinParams,
    name: str,
) -> tuple[pd.DataFrame, dict]:
    """As :func:`tune_and_test_baseline` on the extended features (model ``<name>_extended``):
    those beyond ``feature_names`` may be missing and are imputed, with a missingness
    indicator, inside every fit from its own rows (``lspin.baselines.imputation``)."""
    imputed = [c for c in extended_feature_names if c not in feature_names]
    predictions, chosen, _ = _tune_and_test(model_input, splits, extended_feature_names, class_names, lspin, name,
                                            imputed=imputed)
    return predictions, chosen


def tune_and_test_imputed_baseline(
    subclass_every_cell_model_input: pd.DataFrame,
    subclass_every_cell_splits: pd.DataFrame,
    feature_names: list[str],
    class_names: list[str],
    lspin: LspinParams,
    name: str,
) -> tuple[pd.DataFrame, dict]:
    """As :func:`tune_and_test_baseline` on every labelled cell (model ``<name>_imputed``):
    the primary folds with the cells lacking features dealt to them, a missing feature
    imputed, with a missingness indicator, inside every fit from its own rows
    (``lspin.baselines.imputation``). Scored on the test cells with every feature (its name,
    paired with every other model) and on every labelled test cell
    (``<name>_imputed_every_labelled_cell``)."""
    entry = f"{name}_imputed"
    predictions, chosen, _ = _tune_and_test(subclass_every_cell_model_input, subclass_every_cell_splits,
                                            feature_names, class_names, lspin, name, imputed=feature_names,
                                            entry=entry)
    return on_both_test_pools(predictions, subclass_every_cell_model_input), chosen


def tune_and_test_xgboost(
    model_input: pd.DataFrame,
    splits: pd.DataFrame,
    feature_names: list[str],
    class_names: list[str],
    lspin: LspinParams,
) -> tuple[pd.DataFrame, dict, dict]:
    """As :func:`tune_and_test_baseline` for XGBoost, plus each split's booster in
    XGBoost's JSON model format (with its scaler), keyed ``split<k>``."""
    return _tune_and_test(model_input, splits, feature_names, class_names, lspin, "xgboost")


def collect_hyperparameters(**per_model: dict) -> dict:
    """The baselines' chosen hyperparameters in one mapping: model -> split -> choice."""
    return dict(per_model)


# ---------------------------------------------------------------------------- scoring
def collect_tables(*tables: pd.DataFrame) -> pd.DataFrame:
    """Stacks per-split or per-model tables, skipping empty ones."""
    kept = [t for t in tables if not t.empty]
    if not kept:
        raise InputError("lspin pipeline: nothing to collect (every table is empty)")
    return pd.concat(kept, ignore_index=True)


def split_metrics(predictions: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """Long table model x split x metric of test-cell scores (per-class F1 as
    ``f1_<class>``): what the reporting pipeline reads."""
    scores = {}
    # sklearn's multi-class ROC AUC wants the labels (and probability columns) sorted.
    ordered = sorted(class_names)
    proba_columns = [f"proba_{name}" for name in ordered]
    for (model, split), cells in predictions.groupby(["model", "split"], sort=True):
        scores[(model, split, SPECIES)] = {
            **classification_metrics(
                cells[LABEL], cells["predicted"], cells[proba_columns].to_numpy(), ordered
            ),
            **{f"f1_{k}": v for k, v in per_class_f1(cells[LABEL], cells["predicted"], class_names).items()},
        }
    # this table's columns keep species before split
    return split_metrics_table(scores)[["model", "species", "split", "metric", "value"]]
