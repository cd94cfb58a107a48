"""Soft voting of LSPIN, the MLP and the SVC: per split, the weighted mean of their test-cell
probabilities, the weights chosen on out-of-fold probabilities of the split's non-test
cells only (:mod:`neuron_types.models.soft_voting`).

Out of fold: each cross-fitted network member predicts the fold it was held out from (and
stopped early on); the SVC, refitted with its split's chosen hyperparameters, predicts each
fold of the stratified CV it was tuned with. Both are a little optimistic (the networks
stopped on those cells, the SVC's hyperparameters were chosen on them), alike for every
member of the vote; no test cell is read before the weights are fixed. The three members
are fixed here, not in parameters: the node's inputs are the datasets of those three.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from neuron_types.config import LspinParams
from neuron_types.errors import InputError
from neuron_types.pipelines.lspin.nodes import (
    TRAINING_ROLES,
    _arrays,
    _partition_split,
    _prediction_table,
    _split_ids,
    loaded_ensemble,
)
from neuron_types.splits import cells_in_role

logger = logging.getLogger(__name__)

MEMBERS = ("lspin", "mlp", "svc")
NAME = "soft_vote"


def _ensemble(models: dict[str, Any], split: int, kind: str):
    key = f"split{split}"
    if key not in models:
        raise InputError(f"lspin.{kind}_models: no model of split {split} (has {sorted(models, key=_partition_split)})")
    return loaded_ensemble(models, key)


def _network_out_of_fold(ensemble, x: np.ndarray, y: np.ndarray, members: int, seed: int) -> np.ndarray:
    """Each member's probabilities on the fold it was held out from (NaN where no member
    held a cell out: a one-member ensemble holds out 15%)."""
    from neuron_types.models.lspin_ensemble import cross_fitting_folds

    folds = cross_fitting_folds(y, members, seed)
    if len(folds) != len(ensemble.members):
        raise InputError(f"lspin models: an ensemble of {len(ensemble.members)} members, but "
                         f"ensemble_members is {members}; expected the ensembles this configuration trains")
    out = np.full((len(y), ensemble.n_classes), np.nan)
    for member, (_, held_out) in zip(ensemble.members, folds):
        out[held_out] = np.asarray(member(x[held_out], training=False), dtype="float64")
    return out


def _svc_out_of_fold(x: np.ndarray, y: np.ndarray, hyperparameters: dict, lspin: LspinParams, seed: int,
                     n_classes: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    from neuron_types.models.baselines import aligned_proba, baseline_estimator

    out = np.full((len(y), n_classes), np.nan)
    folds = StratifiedKFold(lspin.baselines.cv_folds, shuffle=True, random_state=seed)
    for fit_rows, held_out in folds.split(x, y):
        model = baseline_estimator("svc", seed).set_params(**{f"model__{k}": v for k, v in hyperparameters.items()})
        out[held_out] = aligned_proba(model.fit(x[fit_rows], y[fit_rows]), x[held_out], n_classes)
    return out


def _test_probabilities(predictions: pd.DataFrame, split: int, ids: np.ndarray, class_names, name: str) -> np.ndarray:
    rows = predictions[predictions["split"] == split].set_index("specimen_id")
    missing = np.setdiff1d(ids, rows.index.to_numpy())
    if len(missing):
        raise InputError(f"lspin.{name}_test_predictions: split {split} lacks test cells {missing[:5].tolist()}")
    return rows.loc[ids, [f"proba_{c}" for c in class_names]].to_numpy(dtype="float64")


def soft_vote(
    lspin_models: dict[str, Any], mlp_models: dict[str, Any], lspin_test_predictions: pd.DataFrame,
    mlp_test_predictions: pd.DataFrame, svc_test_predictions: pd.DataFrame, svc_hyperparameters: dict,
    model_input: pd.DataFrame, splits: pd.DataFrame, feature_names: list[str], class_names: list[str],
    lspin: LspinParams,
) -> tuple[pd.DataFrame, dict]:
    """The vote's test predictions (model ``soft_vote``) and, per split, the chosen weights
    and their out-of-fold score (``lspin.baselines.scoring``)."""
    from neuron_types.models.baselines import SCORERS
    from neuron_types.models.soft_voting import choose_weights, vote

    settings = lspin.soft_voting
    cells = model_input.sort_values("specimen_id", ignore_index=True)
    tests = {"lspin": lspin_test_predictions, "mlp": mlp_test_predictions, "svc": svc_test_predictions}
    tables, chosen = [], {}
    for split in _split_ids(splits):
        allowed = set(cells_in_role(cells, splits, split, TRAINING_ROLES)["specimen_id"])
        non_test = cells[cells["specimen_id"].isin(allowed).to_numpy()].reset_index(drop=True)
        x, y = _arrays(non_test, list(feature_names), class_names)
        seed = lspin.seed + split
        out_of_fold = [
            _network_out_of_fold(_ensemble(lspin_models, split, "lspin"), x, y, lspin.lspin.ensemble_members, seed),
            _network_out_of_fold(_ensemble(mlp_models, split, "mlp"), x, y, lspin.mlp.ensemble_members, seed),
            _svc_out_of_fold(x, y, svc_hyperparameters[f"split{split}"]["hyperparameters"], lspin, seed,
                             len(class_names)),
        ]
        scored = ~np.isnan(np.stack(out_of_fold)).any(axis=(0, 2))
        weights, score = choose_weights([p[scored] for p in out_of_fold], y[scored], settings.weight_step,
                                        SCORERS[lspin.baselines.scoring])
        test = cells_in_role(model_input, splits, split, "test")
        ids = test["specimen_id"].to_numpy("int64")
        proba = vote([_test_probabilities(tests[m], split, ids, class_names, m) for m in MEMBERS], weights)
        tables.append(_prediction_table(NAME, split, test, proba, class_names))
        chosen[f"split{split}"] = {"weights": dict(zip(MEMBERS, map(float, weights))),
                                   f"out_of_fold_{lspin.baselines.scoring}": score, "out_of_fold_cells": int(scored.sum())}
    logger.info("soft vote: weights (%s) per split %s", ", ".join(MEMBERS),
                [tuple(round(w, 2) for w in c["weights"].values()) for c in chosen.values()])
    return pd.concat(tables, ignore_index=True), chosen
