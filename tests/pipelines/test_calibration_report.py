"""The calibration report on hand-made test predictions and on the small trained network
of tests/pipelines/test_predict.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from neuron_types.pipelines.calibration_report.nodes import collect_report, score_exported_model, score_test_folds
from neuron_types.pipelines.predict.nodes import fit_calibration
from tests.params import raw_params
from tests.pipelines.test_dann import NAMES
from tests.pipelines.test_predict import SUBCLASSES, predict_params, trained  # noqa: F401  (fixture)


def test_fold_scores_by_hand():
    # human: confidences 0.95 (right), 0.85 (wrong), 0.75 (right), 0.65 (right); mouse: all right at 0.9
    dann = pd.DataFrame({
        "model": "dann", "split": 0, "specimen_id": range(8),
        "species": ["human"] * 4 + ["mouse"] * 4,
        "excitatory": [1, 0, 0, 1, 1, 1, 0, 0],
        "probability": [0.95, 0.85, 0.25, 0.65, 0.9, 0.9, 0.1, 0.1],
    })
    proba = np.array([[0.7, 0.1, 0.1, 0.05, 0.05], [0.1, 0.1, 0.1, 0.1, 0.6]])
    lspin = pd.DataFrame({"model": "lspin", "split": 0, "specimen_id": [1, 2], "subclass": ["Pvalb+", "Sst+"],
                          **{f"proba_{name}": proba[:, i] for i, name in enumerate(SUBCLASSES)}})
    table, figures = score_test_folds(dann, lspin, SUBCLASSES, predict_params())
    assert set(table["task"]) == {"ei", "subclass"}
    rows = table.set_index(["model", "species"])
    assert rows.loc[("dann", "human"), "ece"] == pytest.approx(1.5 / 4)
    assert rows.loc[("dann", "mouse"), "ece"] == pytest.approx(0.1)
    assert rows.loc[("dann", "mouse"), "brier"] == pytest.approx(0.01)
    # Pvalb+ right at 0.7: gap 0.3; Sst+ predicted Glutamatergic at 0.6, wrong: gap 0.6
    assert rows.loc[("lspin", "mouse"), "ece"] == pytest.approx(0.45)
    # squared distances to the one-hot labels: 0.3² + 2 × 0.1² + 2 × 0.05², 3 × 0.1² + 0.9² + 0.6²
    assert rows.loc[("lspin", "mouse"), "brier"] == pytest.approx((0.115 + 1.2) / 2)
    assert rows.loc[("lspin", "mouse"), "accuracy"] == 0.5
    assert set(figures) == {"ei_dann.png", "subclass_lspin.png"}
    assert all(isinstance(f, Figure) for f in figures.values())


def test_exported_model_is_scored_on_its_folds_test_cells(trained):  # noqa: F811
    cells, splits, ei_model, _ = trained
    card = {"model": "dann", "split": 0, "class_names": raw_params("dann")["class_names"]}
    calibration = fit_calibration(ei_model, card, cells, splits, NAMES, predict_params())
    exported, figures = score_exported_model(ei_model, calibration, cells, splits, NAMES, card, predict_params())
    table, plots = collect_report(exported, {}, exported.iloc[:0], figures)
    assert set(table["species"]) == {"human", "mouse", "all"} and set(table["calibration"]) == {"none", "temperature"}
    scaled = table[table["calibration"] == "temperature"].set_index("species")
    n_test = (splits[(splits["split"] == 0) & (splits["role"] == "test")]).shape[0]
    assert scaled.loc["all", "predictions"] == n_test
    assert scaled["coverage"].between(0, 1).all() and scaled["mean_set_size"].between(1, 2).all()
    assert (scaled["temperature"] == calibration["temperature"]).all()
    assert list(plots) == ["ei_exported_model.png"]
