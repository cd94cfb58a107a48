"""Contracts 1 and 2 for the subclass models: LSPIN and the MLP (cross-fitted ensembles in
one stack) and every tuned baseline are fitted, stopped, tuned and scaled on their split's
non-test cells only, and their scalers hold those cells' statistics.

Spies record what the training entry points are handed (the stack's data, ``GridSearchCV.fit``,
every ``StandardScaler.fit``); a recording stub stops the networks before the first step."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from neuron_types.models import baselines, lspin_ensemble, lspin_tuning, stacked_lspin
from neuron_types.pipelines.lspin import nodes, tuning
from tests.contracts.cells import (SUBCLASS_FEATURES, SUBCLASSES, Recorder, RowIds, Stop, ids_in, subclass_cells,
                                   subclass_splits, tiny_lspin)

FEATURES = SUBCLASS_FEATURES


@pytest.fixture(scope="module")
def subclass():
    cells = subclass_cells()
    return cells, subclass_splits(cells), RowIds(cells, FEATURES)


@pytest.mark.parametrize("kind", ["lspin", "mlp"])
def test_each_ensemble_member_fits_and_stops_on_its_splits_non_test_cells(monkeypatch, subclass, kind):
    cells, splits, row_ids = subclass
    fit = Recorder(stacked_lspin.fit_stacked_lspin)
    monkeypatch.setattr(lspin_ensemble, "fit_stacked_lspin", fit)
    monkeypatch.setattr(stacked_lspin, "member_batches", Recorder(stop=True))
    with pytest.raises(Stop):
        nodes.train_network(cells, splits, FEATURES, SUBCLASSES, tiny_lspin(), kind)
    (model, data, _), _ = fit.calls[0]
    members = tiny_lspin().lspin.ensemble_members
    split_ids = sorted(splits["split"].unique())
    assert data.train.shape[1] == members * len(split_ids)
    for s, split in enumerate(split_ids):
        allowed = ids_in(splits, split, "train", "validation")
        stopped_on = []
        for k in range(s * members, (s + 1) * members):
            fitted, stops = set(row_ids(data.x[data.train[:, k]])), set(row_ids(data.x[data.validation[:, k]]))
            assert fitted | stops == allowed and not fitted & stops
            stopped_on.append(stops)
            # contract 2: mean and std of its own fitting cells (LSPIN.adapt_scaling; std 1 if constant)
            design = cells.loc[cells["specimen_id"].isin(fitted), FEATURES].to_numpy(dtype=float)
            np.testing.assert_allclose(model.scaler.mean.numpy()[k], design.mean(axis=0), rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(np.sqrt(model.scaler.variance.numpy()[k]), design.std(axis=0), rtol=1e-5)
        # cross-fitting: the members' stopping folds partition the split's non-test cells
        assert sorted(i for fold in stopped_on for i in fold) == sorted(allowed)


@pytest.mark.parametrize("kind", ["lspin", "mlp"])
def test_every_tuning_trial_and_the_refit_fit_and_stop_on_their_splits_non_test_cells(monkeypatch, subclass, kind):
    """Optuna's trials (each holds out the split's CV folds in turn) and the refitted
    ensemble: every member fits and stops on the split's non-test cells only."""
    cells, splits, row_ids = subclass
    fit = Recorder(stacked_lspin.fit_stacked_lspin)
    monkeypatch.setattr(lspin_ensemble, "fit_stacked_lspin", fit)
    params = tiny_lspin()
    tuning.tune_network(cells, splits, FEATURES, SUBCLASSES, params, kind)
    held_out = {}
    for (model, data, _), _ in fit.calls:
        for k, seed in enumerate(model.seeds):
            split, fold = divmod(seed, 100)  # member seeds (seed + split) * 100 + fold, seed 0
            fitted, stops = set(row_ids(data.x[data.train[:, k]])), set(row_ids(data.x[data.validation[:, k]]))
            assert fitted | stops == ids_in(splits, split, "train", "validation") and not fitted & stops
            held_out.setdefault(split, []).append(frozenset(stops))
    for split in sorted(splits["split"].unique()):
        assert len(held_out[split]) == params.tuning.trials * params.tuning.cv_folds + getattr(params, kind).ensemble_members
        # every trial holds out the same folds, which partition the non-test cells
        folds = set(held_out[split][:params.tuning.trials * params.tuning.cv_folds])
        assert len(folds) == params.tuning.cv_folds
        assert sorted(i for fold in folds for i in fold) == sorted(ids_in(splits, split, "train", "validation"))


class _Spied:
    """Every ``StandardScaler.fit`` and ``GridSearchCV.fit`` input, as cell ids."""

    def __init__(self, monkeypatch, row_ids):
        self.scaled, self.searched, self.row_ids = [], [], row_ids
        real_scaler, real_search = StandardScaler.fit, GridSearchCV.fit

        def scaler_fit(scaler, x, *args, **kwargs):
            self.scaled.append(set(row_ids(x)))
            return real_scaler(scaler, x, *args, **kwargs)

        def search_fit(search, x, *args, **kwargs):
            self.searched.append(set(row_ids(x)))
            return real_search(search, x, *args, **kwargs)

        monkeypatch.setattr(StandardScaler, "fit", scaler_fit)
        monkeypatch.setattr(GridSearchCV, "fit", search_fit)


@pytest.mark.parametrize("name", ["logistic_regression", "svc", "random_forest", "xgboost"])
def test_each_baseline_is_tuned_refitted_and_scaled_on_non_test_cells_only(monkeypatch, subclass, name):
    cells, splits, row_ids = subclass
    spied = _Spied(monkeypatch, row_ids)
    tuned = Recorder(baselines.tune_baseline)
    monkeypatch.setattr(baselines, "tune_baseline", tuned)
    lspin = tiny_lspin()
    if name == "xgboost":
        nodes.tune_and_test_xgboost(cells, splits, FEATURES, SUBCLASSES, lspin)
    else:
        nodes.tune_and_test_baseline(cells, splits, FEATURES, SUBCLASSES, lspin, name)
    split_ids = sorted(splits["split"].unique())
    assert len(tuned.calls) == len(split_ids) and spied.scaled
    allowed = [ids_in(splits, split, "train", "validation") for split in split_ids]
    # every scaler fit (CV folds, candidates, refit) is within one split's non-test cells
    assert all(any(fitted <= rows for rows in allowed) for fitted in spied.scaled)
    if name in ("logistic_regression", "svc"):
        assert spied.searched == allowed  # the grid search is handed exactly the non-test cells
    for (args, kwargs), rows, split in zip(tuned.calls, allowed, split_ids):
        assert set(row_ids(kwargs["x"])) == rows  # the tuning and refit rows
        assert not rows & ids_in(splits, split, "test")
    # contract 2: the refitted pipeline's scaler holds the non-test cells' mean and variance
    for (args, kwargs), rows in zip(tuned.calls, allowed):
        fitted, _, _ = baselines.tune_baseline(*args, **kwargs)
        scaler = fitted.named_steps["scale"]
        design = cells.loc[cells["specimen_id"].isin(rows), FEATURES].to_numpy(dtype=float)
        np.testing.assert_allclose(scaler.mean_, design.mean(axis=0), rtol=1e-5)
        np.testing.assert_allclose(scaler.var_, design.var(axis=0), rtol=1e-4)
