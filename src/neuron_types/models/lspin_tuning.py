"""Optuna tuning of the cross-fitted LSPIN and MLP ensembles inside each split's non-test cells.

One TPE study per split, seeded ``seed + split``. A trial is scored the way ``GridSearchCV``
scores a baseline's candidate: the split's non-test cells are cut into ``tuning.cv_folds``
stratified folds (the baselines' ``cv_folds``), each held out once, a member trains on the
others with the trial's hyperparameters and stops early on it, and the trial's value is
the mean ``scoring`` of the held-out folds. As for a baseline, the chosen trial's
hyperparameters are then refitted: the split's cross-fitted ensemble (the untuned
ensemble's folds and member seeds, so a tuned ensemble differs from its untuned twin by its
hyperparameters alone). No test cell is seen.

Trials come in waves: every study asks ``trials_per_wave`` trials (TPE's constant liar keeps
a wave's proposals apart), every split's proposals train together in one stack per batch
size (:class:`~neuron_types.models.stacked_lspin.MemberHyperparameters` carry the rest) and
are told before the next wave. With a fixed budget, seed and data, reruns propose, train
and choose the same. Kedro-free.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from neuron_types.config import LspinNetwork, MlpNetwork, NetworkTuning
from neuron_types.models.lspin_ensemble import (LSPINEnsemble, TrainedMember, cross_fitted_members,
                                                fit_cross_fitted_ensembles, fit_members)

logger = logging.getLogger(__name__)

# the baselines' scoring names (GridSearchCV's), as functions of true and predicted classes
SCORERS = {
    "f1_macro": lambda y, predicted: f1_score(y, predicted, average="macro"),
    "accuracy": accuracy_score,
    "balanced_accuracy": balanced_accuracy_score,
}


@dataclass(frozen=True)
class TunedEnsembles:
    """Per split the ensemble of the chosen trial's hyperparameters, its members' training
    histories, every trial
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


def _scores(x: np.ndarray, y: np.ndarray, trained: list[TrainedMember], scorer) -> list[float]:
    """Each trained member's ``scorer`` on the cells it stopped on."""
    probabilities = {}
    for t in trained:
        if id(t.stack) not in probabilities:
            probabilities[id(t.stack)] = np.asarray(t.stack(x), dtype="float64")  # (K, cells, classes)
    return [float(scorer(y[t.member.stop_rows], probabilities[id(t.stack)][t.index, t.member.stop_rows].argmax(axis=1)))
            for t in trained]


def tune_cross_fitted_ensembles(x: np.ndarray, y: np.ndarray, rows: dict[int, np.ndarray], n_classes: int,
                                network: LspinNetwork | MlpNetwork, seed: int, tuning: NetworkTuning,
                                scoring: str) -> TunedEnsembles:
    """Tunes every split's network on its rows (``rows``: split -> the row indices of ``x``
    it may train on) with ``tuning.trials`` trials chosen by ``scoring`` (ties: the earlier
    trial), then trains its cross-fitted ensemble with the chosen hyperparameters, as
    :func:`~neuron_types.models.lspin_ensemble.fit_cross_fitted_ensembles` does with the
    section's."""
    if scoring not in SCORERS:
        raise ValueError(f"scoring: expected one of {sorted(SCORERS)}, got {scoring!r}")
    x, y = np.asarray(x, dtype="float32"), np.asarray(y, dtype="int32")
    gated = isinstance(network, LspinNetwork)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial would drown the run's log
    studies = {split: _study(split, seed, tuning) for split in sorted(rows)}
    cv_members = cross_fitted_members(y, rows, tuning.cv_folds, seed)
    chosen: dict[int, tuple[float, int, dict]] = {}  # split -> value, trial, hyperparameters
    records = []
    for wave in range(math.ceil(tuning.trials / tuning.trials_per_wave)):
        started = time.perf_counter()
        size = min(tuning.trials_per_wave, tuning.trials - wave * tuning.trials_per_wave)
        asked = [(split, study.ask()) for split, study in studies.items() for _ in range(size)]
        settings = {(split, trial.number): suggest(trial, tuning, gated) for split, trial in asked}
        pairs = [((split, trial.number), m) for split, trial in asked for m in cv_members if m.split == split]
        members = [replace(m, settings=settings[key]) for key, m in pairs]
        scores = _scores(x, y, fit_members(x, y, members, n_classes, network, seed), SCORERS[scoring])
        by_trial: dict[tuple[int, int], list[float]] = {}
        for (key, _), score in zip(pairs, scores):
            by_trial.setdefault(key, []).append(score)
        for split, trial in asked:
            value = float(np.mean(by_trial[(split, trial.number)]))
            studies[split].tell(trial, value)
            records.append({"split": split, "trial": trial.number, "wave": wave, "value": value,
                            **settings[(split, trial.number)]})
            if split not in chosen or value > chosen[split][0]:
                chosen[split] = (value, trial.number, settings[(split, trial.number)])
        logger.info("wave %d: %d trials (%d member fits) in %.1f s", wave, len(asked), len(members),
                    time.perf_counter() - started)
    trials = pd.DataFrame(records).sort_values(["split", "trial"], ignore_index=True)
    trials["chosen"] = [chosen[s][1] == t for s, t in zip(trials["split"], trials["trial"])]
    ensembles, history = fit_cross_fitted_ensembles(x, y, rows, n_classes, network, seed,
                                                    settings={split: c[2] for split, c in chosen.items()})
    return TunedEnsembles(ensembles, history, trials, {f"split{split}": study for split, study in studies.items()})
