"""Optuna tuning of the cross-fitted LSPIN and MLP ensembles inside each split's non-test cells.

One TPE study per split, seeded ``seed + split``. A trial is scored the way ``GridSearchCV``
scores a baseline's candidate: each of the split's cross-fitting folds (the untuned
ensemble's own folds and member seeds, so a tuned ensemble differs from its untuned twin by
its hyperparameters alone) is held out once, a member trains on the other folds and stops
early on it, and the trial's value is the mean of the members' ``scoring`` on their
held-out folds. The chosen trial's members are the split's tuned ensemble: nothing is
refitted, and no test cell is seen.

Trials come in waves: every study asks ``trials_per_wave`` trials (TPE's constant liar keeps
a wave's proposals apart), every split's proposals train together in one stack per batch
size (:class:`~neuron_types.models.stacked_lspin.MemberHyperparameters` carry the rest) and
are told before the next wave. With a fixed budget, seed and data, reruns propose, train
and choose the same. Kedro-free.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from neuron_types.config import LspinNetwork, MlpNetwork, NetworkTuning
from neuron_types.models.lspin_ensemble import LSPINEnsemble, cross_fitting_folds, member_history
from neuron_types.models.stacked_lspin import (MemberHyperparameters, StackedLSPIN, StackedLSPINData,
                                               export_lspin_member, fit_stacked_lspin)

logger = logging.getLogger(__name__)

# the baselines' scoring names (GridSearchCV's), as functions of true and predicted classes
SCORERS = {
    "f1_macro": lambda y, predicted: f1_score(y, predicted, average="macro"),
    "accuracy": accuracy_score,
    "balanced_accuracy": balanced_accuracy_score,
}
GATE_SETTINGS = ("sigma", "lambda1")


@dataclass(frozen=True)
class TunedEnsembles:
    """Per split the chosen trial's ensemble, its members' training histories, every trial
    (``split``, ``trial``, ``wave``, ``value``, the hyperparameters, ``chosen``) and the
    studies, keyed ``split<k>``."""

    ensembles: dict[int, LSPINEnsemble]
    history: pd.DataFrame
    trials: pd.DataFrame
    studies: dict[str, optuna.Study]


def suggest(trial: optuna.Trial, tuning: NetworkTuning, gated: bool) -> dict:
    """One trial's hyperparameters from ``tuning.space`` (rates and weights on log scales)."""
    space = tuning.space
    chosen = {
        "learning_rate": trial.suggest_float("learning_rate", *space.learning_rate, log=True),
        "batch_size": trial.suggest_categorical("batch_size", list(space.batch_size)),
        "weight_decay": trial.suggest_float("weight_decay", *space.weight_decay, log=True),
        "balance_classes": trial.suggest_categorical("balance_classes", list(space.balance_classes)),
    }
    if gated:
        chosen["sigma"] = trial.suggest_float("sigma", *space.sigma)
        chosen["lambda1"] = trial.suggest_float("lambda1", *space.lambda1, log=True)
    return chosen


def _study(split: int, seed: int, tuning: NetworkTuning) -> optuna.Study:
    sampler = optuna.samplers.TPESampler(seed=seed + split, n_startup_trials=tuning.startup_trials,
                                         constant_liar=True)
    return optuna.create_study(study_name=f"split{split}", direction="maximize", sampler=sampler)


@dataclass(frozen=True)
class _Member:
    split: int
    trial: int
    fold: int
    seed: int
    fit_rows: np.ndarray
    stop_rows: np.ndarray
    settings: dict


def _train_wave(x, y, n_classes, network, members: list[_Member], seed: int, scorer):
    """Trains ``members`` (one stack per batch size); returns per member its held-out score,
    its export and its history rows."""
    results = {}
    batch_sizes = sorted({m.settings["batch_size"] for m in members})
    for batch_size in batch_sizes:
        group = [m for m in members if m.settings["batch_size"] == batch_size]
        train = np.zeros((len(x), len(group)), bool)
        validation = train.copy()
        for k, member in enumerate(group):
            train[member.fit_rows, k], validation[member.stop_rows, k] = True, True
        hyperparameters = MemberHyperparameters.build(
            [{key: value for key, value in m.settings.items() if key != "batch_size"} for m in group])
        stack = StackedLSPIN(x.shape[1], n_classes, [m.seed for m in group], network.model, members=hyperparameters)
        config = network.training.model_copy(update={"batch_size": int(batch_size)})
        history = fit_stacked_lspin(stack, StackedLSPINData.build(x, y, train, validation), config,
                                    shuffle_seed=seed)
        proba = np.asarray(stack(x), dtype="float64")  # (K, cells, classes)
        for k, member in enumerate(group):
            score = scorer(y[member.stop_rows], proba[k, member.stop_rows].argmax(axis=1))
            results[(member.split, member.trial, member.fold)] = (
                float(score), stack, k, history[history["member"] == k])
    return results


def tune_cross_fitted_ensembles(x: np.ndarray, y: np.ndarray, rows: dict[int, np.ndarray], n_classes: int,
                                network: LspinNetwork | MlpNetwork, seed: int, tuning: NetworkTuning,
                                scoring: str) -> TunedEnsembles:
    """Tunes and trains every split's ensemble (``rows``: split -> the row indices of ``x``
    it may train on, as in :func:`~neuron_types.models.lspin_ensemble.fit_cross_fitted_ensembles`,
    with the same folds and member seeds); ``tuning.trials`` trials per split, chosen by
    ``scoring`` (ties: the earlier trial)."""
    if network.training.optimizer != "sgd":
        raise ValueError(f"training.optimizer: tuning learning rates per member needs sgd, got "
                         f"{network.training.optimizer!r}")
    if scoring not in SCORERS:
        raise ValueError(f"scoring: expected one of {sorted(SCORERS)}, got {scoring!r}")
    x, y = np.asarray(x, dtype="float32"), np.asarray(y, dtype="int32")
    gated = isinstance(network, LspinNetwork)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial would drown the run's log
    studies = {split: _study(split, seed, tuning) for split in sorted(rows)}
    folds = {split: cross_fitting_folds(y[rows[split]], network.ensemble_members, seed + split) for split in rows}
    chosen: dict[int, tuple[float, int, list]] = {}
    records = []
    waves = math.ceil(tuning.trials / tuning.trials_per_wave)
    for wave in range(waves):
        size = min(tuning.trials_per_wave, tuning.trials - wave * tuning.trials_per_wave)
        asked = [(split, study.ask()) for split, study in studies.items() for _ in range(size)]
        settings = {(split, trial.number): suggest(trial, tuning, gated) for split, trial in asked}
        members = [
            _Member(split, trial.number, j, (seed + split) * 100 + j, rows[split][fit], rows[split][stop],
                    settings[(split, trial.number)])
            for split, trial in asked for j, (fit, stop) in enumerate(folds[split])
        ]
        results = _train_wave(x, y, n_classes, network, members, seed, SCORERS[scoring])
        for split, trial in asked:
            fold_results = [results[(split, trial.number, j)] for j in range(len(folds[split]))]
            value = float(np.mean([r[0] for r in fold_results]))
            studies[split].tell(trial, value)
            records.append({"split": split, "trial": trial.number, "wave": wave, "value": value,
                            **settings[(split, trial.number)]})
            if split not in chosen or value > chosen[split][0]:
                exported = [export_lspin_member(stack, k) for _, stack, k, _ in fold_results]
                chosen[split] = (value, trial.number, exported, [h for *_, h in fold_results])
    ensembles, histories = {}, []
    for split, (_, number, exported, member_histories) in sorted(chosen.items()):
        ensemble = LSPINEnsemble(exported)
        ensemble.build((None, x.shape[1]))
        ensembles[split] = ensemble
        for j, history in enumerate(member_histories):
            histories.append(member_history(history.assign(member=0), [(split, j)]).assign(trial=number))
    trials = pd.DataFrame(records).sort_values(["split", "trial"], ignore_index=True)
    trials["chosen"] = [chosen[s][1] == t for s, t in zip(trials["split"], trials["trial"])]
    return TunedEnsembles(ensembles, pd.concat(histories, ignore_index=True), trials,
                          {f"split{split}": study for split, study in studies.items()})
