"""Contract 7: where one setting of a grid is clearly best, the selection chooses it, judged
by an oracle computed here (the validation log-loss of each C refitted by hand, the
out-of-bag score of each forest), and the refit uses the chosen setting. The best setting
sits in the middle of each grid, so that neither 'first' nor 'last' passes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from neuron_types.models import cross_species as cs
from neuron_types.models.baselines import tune_baseline

FEATURES = ["a", "b", "c"]


def _cells(n: int, species: str, seed: int, start: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    label = (x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=n) > 0).astype("int64")
    frame = pd.DataFrame(x * [3.0, 0.5, 10.0], columns=FEATURES)
    frame.insert(0, "specimen_id", np.arange(start, start + n))
    frame.insert(1, "species", species)
    frame.insert(2, "domain", int(species == "human"))
    frame.insert(3, "excitatory", label)
    return frame


def test_logistic_regression_picks_the_c_of_the_lowest_validation_loss():
    train = pd.concat([_cells(60, "mouse", 0, 0), _cells(20, "human", 1, 100)], ignore_index=True)
    validation = pd.concat([_cells(60, "mouse", 2, 200), _cells(20, "human", 3, 300)], ignore_index=True)
    split = cs.SplitCells(train, validation, _cells(10, "human", 4, 400))
    grid = [1e-4, 1.0, 1e-3]
    scaler = StandardScaler().fit(train[FEATURES])
    weights = np.where(validation["domain"] == 1, 0.5 / 20, 0.5 / 60)  # each species half
    losses = [log_loss(validation["excitatory"], LogisticRegression(C=c, max_iter=5000).fit(
        scaler.transform(train[FEATURES]), train["excitatory"]).predict_proba(scaler.transform(
            validation[FEATURES]))[:, 1], sample_weight=weights) for c in grid]
    assert np.argmin(losses) == 1 and min(losses) < 0.8 * sorted(losses)[1]  # clearly best
    _, chosen = cs.logistic_regression_on_split(split, FEATURES, grid, 0)
    assert chosen == 1.0


def _classes(n: int = 240, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0).astype(int) * 2  # four classes
    return x, y


def test_baseline_grid_search_refits_the_best_cross_validated_setting():
    x, y = _classes()
    fitted, chosen, score = tune_baseline("logistic_regression", x, y, {"C": [1e-4, 1.0, 1e-3]}, 3, seed=0)
    assert chosen == {"C": 1.0}
    assert fitted.named_steps["model"].C == 1.0  # the refit is the chosen setting
    assert score > 0.7


def test_forest_picks_the_setting_of_the_best_out_of_bag_score():
    x, _ = _classes()
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(int)  # XOR: stumps and 100-cell leaves cannot draw it
    grid = {"n_estimators": [40], "max_depth": [1, None], "min_samples_leaf": [1, 100]}
    fitted, chosen, score = tune_baseline("random_forest", x, y, grid, 3, seed=0)
    assert chosen == {"n_estimators": 40, "max_depth": None, "min_samples_leaf": 1}
    assert fitted.named_steps["model"].max_depth is None and fitted.named_steps["model"].min_samples_leaf == 1
    _, _, stumps = tune_baseline("random_forest", x, y, {"n_estimators": [40], "max_depth": [1]}, 3, seed=0)
    assert score > stumps + 0.2


def test_early_stopping_keeps_the_epoch_of_the_lowest_validation_loss(unsupervised_run):
    history = unsupervised_run["histories"]
    for (model, split, member), curve in history.groupby(["model", "split", "ensemble_member"]):
        kept = curve[curve["best_epoch"]]
        assert len(kept) == 1, (model, split, member)
        assert kept["val_label_loss"].iloc[0] == curve["val_label_loss"].min(), (model, split, member)
    assert history.loc[history["model"] == "dann_unsupervised_cross_fitted", "ensemble_member"].nunique() > 1
