"""Cross-fitted LSPIN ensembles and the pickle-free baselines used beside them."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from neuron_types.models.baselines import (
    tune_baseline,
    xgboost_model_json,
    xgboost_predict_proba,
)
from neuron_types.models.lspin_ensemble import (
    LSPINEnsemble,
    ensemble_gates,
    cross_fitting_folds,
    fit_cross_fitted_ensembles,
)
from tests.params import lspin_training, raw_params, typed_params


def three_classes(n: int = 240, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0.5).astype("int32")
    return x, y


def network(members: int):
    from neuron_types.config import LspinNetwork

    section = raw_params("lspin")["lspin"]
    section["model"].update(gating_units=[8], prediction_units=[8])
    section["training"].update(max_epochs=15, batch_size=32, check_every=5, patience=10)
    return LspinNetwork.model_validate({**section, "ensemble_members": members})


def small_ensemble(x, y, members: int = 3) -> tuple[LSPINEnsemble, object]:
    ensembles, history = fit_cross_fitted_ensembles(x, y, {0: np.arange(len(y))}, 3, network(members), seed=4)
    return ensembles[0], history


def test_members_stop_on_their_own_fold_and_average():
    x, y = three_classes()
    ensemble, history = small_ensemble(x, y)
    assert len(ensemble.members) == 3
    assert sorted(history["member"].unique()) == [0, 1, 2]
    assert (history.groupby("member")["best_epoch"].nunique() == 1).all()
    members = np.mean([np.asarray(m(x)) for m in ensemble.members], axis=0)
    np.testing.assert_allclose(np.asarray(ensemble(x)), members, rtol=1e-6)
    gates = ensemble_gates(ensemble, x)
    assert gates.shape == x.shape and gates.min() >= 0 and gates.max() <= 1
    np.testing.assert_allclose(np.asarray(ensemble.gates(x)), gates, rtol=1e-6)


def test_ensemble_save_and_load_round_trips_exactly(tmp_path):
    x, y = three_classes()
    ensemble, _ = small_ensemble(x, y, members=2)
    ensemble.save(tmp_path / "ensemble.keras")
    loaded = keras.models.load_model(tmp_path / "ensemble.keras", safe_mode=True)
    assert isinstance(loaded, LSPINEnsemble) and len(loaded.members) == 2
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(ensemble(x)))
    np.testing.assert_array_equal(ensemble_gates(loaded, x), ensemble_gates(ensemble, x))


def test_every_split_gets_its_own_ensemble_from_its_own_rows_only():
    """Two splits in one stack: each split's members train and stop on folds of that split's
    rows alone (the other rows are its test cells), and its ensemble has its own members."""
    x, y = three_classes()
    rows = {0: np.arange(0, 160), 3: np.arange(80, 240)}
    ensembles, history = fit_cross_fitted_ensembles(x, y, rows, 3, network(2), seed=4)
    assert sorted(ensembles) == [0, 3] and set(history["split"]) == {0, 3}
    assert all(len(e.members) == 2 for e in ensembles.values())
    assert not np.allclose(np.asarray(ensembles[0](x)), np.asarray(ensembles[3](x)))
    for split, split_rows in rows.items():
        folds = cross_fitting_folds(y[split_rows], 2, 4 + split)
        covered = np.sort(np.concatenate([split_rows[stop] for _, stop in folds]))
        np.testing.assert_array_equal(covered, split_rows)  # every non-test row stops one member


def test_too_many_members_for_the_smallest_class_is_explained():
    x, y = three_classes(40)
    y[:] = 0
    y[:2] = 1
    y[2:4] = 2
    with pytest.raises(ValueError, match="smallest class"):
        small_ensemble(x, y, members=3)


def test_baseline_grid_search_picks_from_the_grid():
    x, y = three_classes()
    fitted, chosen, score = tune_baseline(
        "logistic_regression", x, y, {"C": [0.01, 1.0]}, cv_folds=3, seed=0
    )
    assert chosen["C"] in (0.01, 1.0) and 0 <= score <= 1
    assert fitted.predict(x).shape == y.shape
    with pytest.raises(ValueError, match="unknown hyperparameters"):
        tune_baseline("svc", x, y, {"depth": [1, 2]}, cv_folds=3, seed=0)


def test_xgboost_json_model_predicts_like_the_fitted_model():
    x, y = three_classes()
    fitted, _, _ = tune_baseline(
        "xgboost", x, y, {"n_estimators": [10], "max_depth": [2]}, cv_folds=3, seed=0
    )
    saved = xgboost_model_json(fitted)
    np.testing.assert_allclose(xgboost_predict_proba(saved, x), fitted.predict_proba(x), atol=1e-5)


def test_forest_is_chosen_out_of_bag_and_svc_still_gives_probabilities():
    x, y = three_classes()
    forest, chosen, score = tune_baseline(
        "random_forest", x, y, {"n_estimators": [30], "max_depth": [1, 6]}, cv_folds=3, seed=0
    )
    assert chosen["max_depth"] == 6  # depth 1 cannot separate three classes
    assert 0.5 < score <= 1
    svc, chosen, _ = tune_baseline("svc", x, y, {"C": [0.1, 10.0]}, cv_folds=3, seed=0)
    assert svc.predict_proba(x).shape == (len(y), 3)
