"""The tuned baselines' splits spread over worker processes (``tune_baselines``)."""

from __future__ import annotations

import numpy as np
import pytest

from neuron_types.errors import ParameterError
from neuron_types.models.baselines import tune_baseline, tune_baselines
from tests.params import raw_params, typed_params

GRIDS = {
    "logistic_regression": {"C": [0.01, 1.0]},
    "svc": {"C": [0.3, 3.0], "gamma": ["scale", 0.1]},
    "xgboost": {"n_estimators": [20], "max_depth": [2, 3], "max_bin": [16]},
    "random_forest": {"n_estimators": [60], "max_depth": [2, 6]},
}


def _splits(n_splits: int = 3):
    """``n_splits`` different training sets of three classes (subsamples of one cohort)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.4).astype(int)
    rows = [rng.choice(len(x), 200, replace=False) for _ in range(n_splits)]
    return [(x[r], y[r]) for r in rows], x


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_splits_tuned_in_two_processes_are_the_sequential_fits_bit_for_bit(name):
    training, cells = _splits()
    jobs = [dict(name=name, x=x, y=y, grid=GRIDS[name], cv_folds=3, seed=seed)
            for seed, (x, y) in enumerate(training)]
    parallel = tune_baselines(jobs, n_jobs=2)
    assert len(parallel) == len(jobs)
    for job, (fitted, chosen, score) in zip(jobs, parallel):
        alone, alone_chosen, alone_score = tune_baseline(**job)
        assert chosen == alone_chosen
        assert score == alone_score or (np.isnan(score) and np.isnan(alone_score))
        np.testing.assert_array_equal(fitted.predict_proba(cells), alone.predict_proba(cells))
    # the jobs come back in order: each split's own fit, not a neighbour's
    assert len({parallel[k][0].predict_proba(cells).tobytes() for k in range(len(jobs))}) == len(jobs)


def test_a_bad_grid_in_a_worker_is_raised_as_the_parameter_error_it_is():
    training, _ = _splits(2)
    jobs = [dict(name="svc", x=x, y=y, grid={"depth": [1, 2]}, cv_folds=3, seed=0) for x, y in training]
    with pytest.raises(ParameterError, match="unknown hyperparameters"):
        tune_baselines(jobs, n_jobs=2)


@pytest.mark.parametrize("section, key", [("lspin", "baselines"), ("sensitivity", "subclass")])
def test_n_jobs_must_be_a_positive_count(section, key):
    settings = {**raw_params(section)[key], "n_jobs": 0}
    with pytest.raises(ValueError, match="n_jobs"):
        typed_params(section, **{key: settings})
