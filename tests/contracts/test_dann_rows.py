"""Contracts 1 and 2 for the dann pipeline's other fits: the logistic regression (scaler and
every candidate C on its split's training cells, C chosen on its validation cells) and the
SHAP background (training cells of the explained split only)."""

from __future__ import annotations

import numpy as np
import pytest
import shap
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from neuron_types.models.networks import build_dann
from neuron_types.pipelines.dann import nodes
from tests.contracts.cells import NAMES, RowIds, ei_cells, ei_splits, ids_in, tiny_dann


@pytest.fixture(scope="module")
def cells_and_splits():
    cells = ei_cells()
    return cells, ei_splits(cells), RowIds(cells, NAMES)


def test_logistic_regression_scaler_and_fits_see_training_cells_only(monkeypatch, cells_and_splits):
    cells, splits, row_ids = cells_and_splits
    scaled, fitted, scored = [], [], []
    real_scaler, real_fit, real_proba = StandardScaler.fit, LogisticRegression.fit, LogisticRegression.predict_proba

    def scaler_fit(scaler, x, *args, **kwargs):
        scaled.append(np.array(x, dtype=float))
        return real_scaler(scaler, x, *args, **kwargs)

    def logistic_fit(model, x, y, *args, **kwargs):
        fitted.append((np.array(x, dtype=float), np.asarray(y)))
        return real_fit(model, x, y, *args, **kwargs)

    def logistic_proba(model, x):
        scored.append(np.array(x, dtype=float))
        return real_proba(model, x)

    monkeypatch.setattr(StandardScaler, "fit", scaler_fit)
    monkeypatch.setattr(LogisticRegression, "predict_proba", logistic_proba)
    monkeypatch.setattr(LogisticRegression, "fit", logistic_fit)
    dann = tiny_dann()
    nodes.fit_logistic_regression(cells, splits, NAMES, dann)
    split_ids = sorted(splits["split"].unique())
    grid = len(dann.logistic_regression.c_grid)
    assert len(scaled) == len(split_ids) and len(fitted) == grid * len(split_ids)
    for i, split in enumerate(split_ids):
        train = cells[cells["specimen_id"].isin(ids_in(splits, split, "train"))]
        assert set(row_ids(scaled[i])) == set(train["specimen_id"])
        design = train[NAMES].to_numpy(dtype=float)
        standardised = (design - design.mean(axis=0)) / design.std(axis=0)  # contract 2, by hand
        for x, y in fitted[i * grid:(i + 1) * grid]:
            np.testing.assert_allclose(x, standardised, rtol=1e-6, atol=1e-9)
            np.testing.assert_array_equal(y, train["excitatory"].to_numpy())
        # C is chosen on the validation cells (one scoring per candidate), then the test cells are scored
        validation = cells[cells["specimen_id"].isin(ids_in(splits, split, "validation"))][NAMES].to_numpy(float)
        test = cells[cells["specimen_id"].isin(ids_in(splits, split, "test"))][NAMES].to_numpy(float)
        for x in scored[i * (grid + 1):i * (grid + 1) + grid]:
            np.testing.assert_allclose(x, (validation - design.mean(axis=0)) / design.std(axis=0), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(scored[i * (grid + 1) + grid], (test - design.mean(axis=0)) / design.std(axis=0),
                                   rtol=1e-6, atol=1e-9)


class _RecordingExplainer:
    backgrounds: list = []

    def __init__(self, model, background):
        self.backgrounds.append(np.array(background))

    def shap_values(self, x, nsamples, rseed):
        return np.zeros((len(x), len(NAMES)))


def test_shap_background_is_drawn_from_the_explained_splits_training_cells(monkeypatch, cells_and_splits):
    cells, splits, row_ids = cells_and_splits
    _RecordingExplainer.backgrounds = []
    monkeypatch.setattr(shap, "GradientExplainer", _RecordingExplainer)
    dann = tiny_dann()
    model = build_dann(len(NAMES), dann.network, 0)
    table, _ = nodes.explain_dann_with_shap(model, cells, splits, NAMES, dann)
    (background,) = _RecordingExplainer.backgrounds
    split = dann.shap.split
    train = ids_in(splits, split, "train")
    assert len(background) == min(dann.shap.background_cells, len(train))
    assert set(row_ids(background)) <= train
    # and what is explained is the split's test cells
    assert set(table["specimen_id"]) == ids_in(splits, split, "test")


def test_gate_profiles_average_each_splits_test_cells_of_each_species(unsupervised_run):
    """A gated DANN's profile of split s and species c is over the test cells of s of species
    c (the oracle: the splits table), one row per feature, gates in [0, 1]."""
    cells, splits, profiles = unsupervised_run["cells"], unsupervised_run["splits"], unsupervised_run["gate_profiles"]
    species_of = dict(zip(cells["specimen_id"].astype(int), cells["species"].astype(str)))
    assert set(profiles["split"]) == set(splits["split"])
    for (split, species), rows in profiles.groupby(["split", "species"]):
        test_ids = ids_in(splits, int(split), "test")
        expected = sum(species_of[i] == species for i in test_ids)
        assert rows["cells"].unique().tolist() == [expected]
        assert sorted(rows["feature"]) == sorted(NAMES)
        assert rows["mean_gate"].between(0.0, 1.0).all()
