"""The lspin pipeline's SHAP nodes on tiny synthetic cells, without training a network."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuron_types.config import LspinParams
from neuron_types.errors import InputError
from neuron_types.models.baselines import baseline_estimator, xgboost_model_json
from neuron_types.pipelines.lspin.explanation import (
    _explained_cells, explain_baseline_with_shap, gate_shap_agreement,
)
from neuron_types.splits import cells_in_role, repeated_stratified_splits
from tests.pipelines.test_lspin import CLASSES, FEATURES, synthetic_cells, tiny_parameters

NAMES = [*FEATURES["noise_spike"], *FEATURES["precomputed"]]


def params(**explanation) -> LspinParams:
    raw = tiny_parameters()
    raw["explanation"].update(explanation)
    return LspinParams.model_validate(raw)


@pytest.fixture(scope="module")
def cells_and_splits():
    cells = synthetic_cells()
    return cells, repeated_stratified_splits(cells, ["subclass"], [11, 23], 0.2, 0.15)


@pytest.fixture(scope="module")
def boosters(cells_and_splits):
    cells, splits = cells_and_splits
    saved = {}
    for split in (0, 1):
        train = cells_in_role(cells, splits, split, ("train", "validation"))
        y = train["subclass"].map({c: i for i, c in enumerate(CLASSES)}).to_numpy()
        fitted = baseline_estimator("xgboost", 0).set_params(model__n_estimators=5, model__max_depth=2)
        saved[f"split{split}"] = xgboost_model_json(fitted.fit(train[NAMES].to_numpy("float32"), y))
    return saved


def test_background_comes_from_the_splits_non_test_cells_and_the_cells_are_capped(cells_and_splits):
    cells, splits = cells_and_splits
    chosen = list(_explained_cells(cells, splits, NAMES, CLASSES,
                                   params(splits=5, cells_per_split=7, background_cells=10)))
    assert [split for split, *_ in chosen] == [0, 1]  # 5 asked for, 2 exist
    for split, test, x, background in chosen:
        assert len(test) == 7 and set(test["specimen_id"]) <= set(cells_in_role(cells, splits, split, "test")["specimen_id"])
        training = cells_in_role(cells, splits, split, ("train", "validation"))[NAMES].to_numpy("float32")
        assert len(background) == 10
        assert all((training == row).all(axis=1).any() for row in background)
        np.testing.assert_array_equal(x, test[NAMES].to_numpy("float32"))


def test_baseline_shap_table_is_long_per_class_and_seeded(cells_and_splits, boosters):
    cells, splits = cells_and_splits
    settings = params(cells_per_split=6)
    table = explain_baseline_with_shap(boosters, cells, splits, NAMES, CLASSES, settings)
    assert list(table.columns) == ["model", "split", "specimen_id", "subclass", "class", "feature",
                                   "feature_value", "shap_value"]
    assert len(table) == 2 * 6 * len(CLASSES) * len(NAMES)
    assert set(table["class"]) == set(CLASSES) and set(table["model"]) == {"xgboost"}
    again = explain_baseline_with_shap(boosters, cells, splits, NAMES, CLASSES, settings)
    pd.testing.assert_frame_equal(table, again)


def test_a_missing_model_or_missing_gates_are_named(cells_and_splits, boosters):
    cells, splits = cells_and_splits
    with pytest.raises(InputError, match="no model of split 1"):
        explain_baseline_with_shap({"split0": boosters["split0"]}, cells, splits, NAMES, CLASSES, params())
    table = explain_baseline_with_shap(boosters, cells, splits, NAMES, CLASSES, params(cells_per_split=4))
    gates = table.drop_duplicates(["split", "specimen_id"])[["split", "specimen_id"]].assign(**dict.fromkeys(NAMES, 1.0))
    agreement, shares = gate_shap_agreement(table, gates, NAMES, CLASSES, params())
    assert (shares["closed_gates"] == 0).all() and (shares["closed_gate_shap_share"].fillna(0) == 0).all()
    assert (agreement["closed_share_pooled"] == 0).all()
    assert agreement["spearman"].isna().all()  # every gate 1: no ranking to correlate
    with pytest.raises(InputError, match="no gates for some explained cells"):
        gate_shap_agreement(table, gates.iloc[1:], NAMES, CLASSES, params())
