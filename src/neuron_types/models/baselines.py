"""Tuned classical baselines for the subclass task: each is a scaler + classifier whose
hyperparameters are chosen on the rows it is given (the non-test rows of one split) by
stratified cross-validation, or out-of-bag for the random forest, then refitted on all of
them. Kedro-free.

Nothing here is persisted with pickle: the sklearn models are cheap to refit from their
chosen hyperparameters, and XGBoost has its own JSON model format (:func:`xgboost_model_json`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from neuron_types.config import SKLEARN_BASELINES
from neuron_types.errors import ParameterError
from neuron_types.models.processes import map_in_processes



def baseline_estimator(name: str, seed: int, n_jobs: int = 1, imputation: str | None = None) -> Pipeline:
    """Standard scaler (fitted on the rows the pipeline is fitted on) + the classifier;
    with ``imputation`` (median or mean), an imputer with missingness indicators first, so
    that every fit, each cross-validation fold's too, imputes from its own rows."""
    if name == "random_forest":
        model: BaseEstimator = RandomForestClassifier(random_state=seed, n_jobs=n_jobs)
    elif name == "svc":
        model = SVC(probability=True, random_state=seed)
    elif name == "logistic_regression":
        model = LogisticRegression(max_iter=5000)
    elif name == "xgboost":
        from xgboost import XGBClassifier

        model = XGBClassifier(
            random_state=seed, n_jobs=n_jobs, tree_method="hist", eval_metric="mlogloss"
        )
    else:
        raise ValueError(f"baseline: expected one of {SKLEARN_BASELINES}, got {name!r}")
    steps = [("scale", StandardScaler()), ("model", model)]
    if imputation is not None:
        steps.insert(0, ("impute", SimpleImputer(strategy=imputation, add_indicator=True)))
    return Pipeline(steps)


SCORERS = {
    "f1_macro": lambda y, p: f1_score(y, p, average="macro", zero_division=0),
    "accuracy": accuracy_score,
    "balanced_accuracy": balanced_accuracy_score,
}


def tune_baseline(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    grid: Mapping[str, Sequence],
    cv_folds: int,
    seed: int,
    scoring: str = "f1_macro",
    n_jobs: int = 1,
    grid_source: str = "parameters_lspin.yml, lspin.baselines.grids",
    imputation: str | None = None,
) -> tuple[Pipeline, dict, float]:
    """Picks the best hyperparameters of a small grid on ``x, y`` alone and refits on them.

    ``grid`` maps the classifier's hyperparameters (without the ``model__`` prefix) to the
    values to try. The random forest is judged on its out-of-bag predictions (each cell
    scored by the trees that did not see it: a CV estimate for the price of one fit per
    candidate); the other models by ``cv_folds``-fold stratified CV. Returns the refitted
    pipeline, the chosen hyperparameters and their score (NaN for a one-point grid).
    ``grid_source`` names the parameters the grid came from, for the message of a bad one.
    ``imputation``: see :func:`baseline_estimator`.
    """
    estimator = baseline_estimator(name, seed, imputation=imputation)
    unknown = set(grid) - set(estimator.named_steps["model"].get_params())
    if unknown:
        raise ParameterError(f"{grid_source}.{name}: unknown hyperparameters "
                             f"{sorted(unknown)}; expected some of {sorted(estimator.named_steps['model'].get_params())}")
    candidates = expand_grid(grid)
    if name == "random_forest":
        return _tune_forest_out_of_bag(x, y, candidates, seed, scoring, n_jobs, imputation)
    if len(candidates) == 1:
        estimator.set_params(**_prefixed(candidates[0]))
        return estimator.fit(x, y), candidates[0], float("nan")
    if name == "svc":
        # Platt scaling runs an internal 5-fold CV per fit; choosing by predicted labels
        # does not need it, so only the final refit pays for probabilities.
        estimator.set_params(model__probability=False)
    search = GridSearchCV(
        estimator,
        {f"model__{key}": list(values) for key, values in grid.items()},
        scoring=scoring,
        cv=StratifiedKFold(cv_folds, shuffle=True, random_state=seed),
        n_jobs=n_jobs,
        refit=False,
    )
    search.fit(x, y)
    chosen = {key.removeprefix("model__"): _plain(value) for key, value in search.best_params_.items()}
    final = baseline_estimator(name, seed, imputation=imputation).set_params(**_prefixed(chosen))
    return final.fit(x, y), chosen, float(search.best_score_)


def tune_baselines(jobs: Sequence[Mapping], n_jobs: int = 1) -> list[tuple[Pipeline, dict, float]]:
    """:func:`tune_baseline` ``(**job)`` for every job (keyword arguments; their ``n_jobs``
    is 1), in order, spread over ``n_jobs`` worker processes
    (:func:`~neuron_types.models.processes.map_in_processes`).

    The jobs are the splits of one model (or the variants' splits): each is small (a fit
    takes milliseconds to a second), so parallel splits keep two cores busy where
    ``GridSearchCV(n_jobs=2)`` paid more for its workers than the fits. Every fit is the
    one a sequential run makes, bit for bit (every reported table of the default run
    byte-identical). In the default run on 2 cores (benchmarks/results/
    full_run-2026-12-03b-default.json) 2 processes against 1: XGBoost 79 s -> 45 s, the
    SVC 43 s -> 24 s, the sensitivity variants 128 s -> 77 s, the logistic regression
    4.7 s -> 9.6 s (its fits are shorter than the workers' start-up, paid once per run).
    An error in a job (a bad grid) is raised as it is.
    """
    return map_in_processes(tune_baseline, [{**job, "n_jobs": 1} for job in jobs], n_jobs)


def _tune_forest_out_of_bag(x, y, candidates, seed, scoring, n_jobs, imputation=None):
    best = None
    for candidate in candidates:
        forest = baseline_estimator("random_forest", seed, n_jobs=n_jobs, imputation=imputation)
        forest.set_params(model__oob_score=True, **_prefixed(candidate)).fit(x, y)
        votes = forest.named_steps["model"].oob_decision_function_
        scored = ~np.isnan(votes).any(axis=1)  # cells every tree saw have no OOB vote
        predicted = forest.named_steps["model"].classes_[votes[scored].argmax(axis=1)]
        score = float(SCORERS[scoring](np.asarray(y)[scored], predicted))
        if best is None or score > best[2]:
            best = (forest, candidate, score)
    forest, candidate, score = best
    return forest, {k: _plain(v) for k, v in candidate.items()}, score


def _prefixed(hyperparameters: Mapping) -> dict:
    return {f"model__{key}": value for key, value in hyperparameters.items()}


def _plain(value):
    """NumPy scalars -> Python scalars, so the chosen hyperparameters serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def aligned_proba(fitted, x: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities in class-index order, even if a class was absent from training."""
    raw = fitted.predict_proba(x)
    proba = np.zeros((len(x), n_classes))
    proba[:, fitted.classes_.astype(int)] = raw
    return proba


def xgboost_model_json(fitted: Pipeline) -> dict:
    """The booster of a fitted XGBoost pipeline in XGBoost's own JSON model format, plus
    the scaler's mean and scale that its inputs need."""
    booster = fitted.named_steps["model"].get_booster()
    scaler = fitted.named_steps["scale"]
    return {
        "scaler": {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()},
        "booster": json.loads(bytes(booster.save_raw(raw_format="json"))),
    }


def xgboost_predict_proba(model_json: Mapping, x: np.ndarray) -> np.ndarray:
    """Class probabilities from :func:`xgboost_model_json`'s output, without pickle."""
    booster, scaled = xgboost_booster_and_input(model_json, x)
    return booster.predict(scaled)


def xgboost_booster_and_input(model_json: Mapping, x: np.ndarray):
    """``(booster, DMatrix of x scaled)`` from :func:`xgboost_model_json`'s output."""
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(json.dumps(model_json["booster"]).encode()))
    # Scale in place in the input's own precision, as StandardScaler.transform does: a cell
    # on a tree's threshold must fall on the same side as when the model was fitted.
    x = np.asarray(x)
    scaled = np.array(x, dtype=np.result_type(x.dtype, np.float32), copy=True)
    scaled -= np.asarray(model_json["scaler"]["mean"])
    scaled /= np.asarray(model_json["scaler"]["scale"])
    return booster, xgboost.DMatrix(scaled)


def expand_grid(grid: Mapping[str, Sequence]) -> list[dict]:
    """Every combination of a small grid, in a stable order."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
