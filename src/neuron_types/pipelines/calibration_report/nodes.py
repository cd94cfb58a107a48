"""Nodes of the calibration report. Every row of its table is one task, model,
calibration, set of cells and species: ``task, model, calibration, cells, species,
predictions, ece, brier, accuracy`` and, for the exported network on its fold's test
cells, ``temperature, coverage_target, coverage, mean_set_size, ambiguous_share,
ood_flagged_share``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuron_types.cells import EI_LABEL, SUBCLASS_LABEL
from neuron_types.config import PredictParams
from neuron_types.figures.reliability import reliability_figure
from neuron_types.pipelines.predict.nodes import calibrated_outputs
from neuron_types.splits import cells_in_role

TEST_FOLDS = "test folds, every split pooled"


def _scores(task: str, model: str, calibration: str, cells: str, species: str, probabilities, labels,
            bins: int) -> dict:
    from neuron_types.models.calibration import brier_score, expected_calibration_error

    p = np.asarray(probabilities, dtype="float64")
    predicted = (p >= 0.5).astype(int) if p.ndim == 1 else p.argmax(axis=1)
    return {"task": task, "model": model, "calibration": calibration, "cells": cells, "species": species,
            "predictions": len(p), "ece": expected_calibration_error(p, labels, bins),
            "brier": brier_score(p, labels), "accuracy": float(np.mean(predicted == np.asarray(labels)))}


def _bins(probabilities, labels, bins: int) -> pd.DataFrame:
    from neuron_types.models.calibration import reliability_bins

    return reliability_bins(probabilities, labels, bins)


def score_test_folds(
    dann_test_predictions: pd.DataFrame, lspin_test_predictions: pd.DataFrame, subclass_names: list[str],
    predict: PredictParams,
) -> tuple[pd.DataFrame, dict[str, Figure]]:
    """ECE, Brier and accuracy of every model's uncalibrated test-cell probabilities, per
    species, pooled over every split (a cell counts once per repeat), and a reliability
    diagram per model."""
    bins, rows, figures = predict.reliability_bins, [], {}
    for model, cells in dann_test_predictions.groupby("model", sort=False):
        panels = {}
        for species, of_species in cells.groupby("species", sort=True):
            p, y = of_species["probability"].to_numpy(), of_species[EI_LABEL].to_numpy()
            rows.append(_scores("ei", model, "none", TEST_FOLDS, species, p, y, bins))
            panels[f"{species} test cells"] = _bins(p, y, bins)
        figures[f"ei_{model}.png"] = reliability_figure(panels, f"{model}: excitatory/inhibitory, {TEST_FOLDS}")
    columns = [f"proba_{name}" for name in subclass_names]
    index = {name: i for i, name in enumerate(subclass_names)}
    for model, cells in lspin_test_predictions.groupby("model", sort=False):
        p, y = cells[columns].to_numpy(), cells[SUBCLASS_LABEL].map(index).to_numpy()
        rows.append(_scores("subclass", model, "none", TEST_FOLDS, "mouse", p, y, bins))
        figures[f"subclass_{model}.png"] = reliability_figure(
            {"mouse test cells": _bins(p, y, bins)}, f"{model}: mouse subclass, {TEST_FOLDS}")
    return pd.DataFrame(rows), figures


def score_exported_model(
    ei_model: dict, calibration: dict, ei_model_input: pd.DataFrame, ei_splits: pd.DataFrame,
    feature_names: list[str], ei_model_card: dict, predict: PredictParams,
) -> tuple[pd.DataFrame, dict[str, Figure]]:
    """The network ``predict`` uses, on the test cells of its own fold (cells neither its
    training nor its calibration saw): ECE and Brier before and after temperature scaling,
    the conformal sets' coverage and sizes, and the share of cells flagged out of
    distribution, per species and for all cells."""
    split, bins = calibration["split"], predict.reliability_bins
    test = cells_in_role(ei_model_input, ei_splits, split, "test").reset_index(drop=True)
    outputs = calibrated_outputs(ei_model["model"], calibration, test, feature_names, list(ei_model_card["class_names"]))
    labels = test[EI_LABEL].to_numpy("int64")
    true_class = np.asarray(ei_model_card["class_names"], dtype=object)[labels]
    covered = np.array([name in answer.split("|") for name, answer in zip(true_class, outputs["prediction_set"])])
    name, where = f"{ei_model_card['model']} (exported, split {split})", f"test cells of split {split}"
    rows, panels = [], {}
    species_of = test["species"].astype(str).to_numpy()
    groups = [(s, species_of == s) for s in sorted(set(species_of))]
    for species, mask in [*groups, ("all", np.ones(len(test), dtype=bool))]:
        y = labels[mask]
        for kind, column in (("none", "p_excitatory_uncalibrated"), ("temperature", "p_excitatory")):
            p = outputs.loc[mask, column].to_numpy()
            row = _scores("ei", name, kind, where, species, p, y, bins)
            if kind == "temperature":
                sizes = outputs.loc[mask, "prediction_set_size"].to_numpy()
                row |= {"temperature": calibration["temperature"], "coverage_target": predict.conformal.coverage,
                        "coverage": float(covered[mask].mean()), "mean_set_size": float(sizes.mean()),
                        "ambiguous_share": float(np.mean(sizes == 2)),
                        "ood_flagged_share": float(outputs.loc[mask, "ood_flag"].mean())}
            rows.append(row)
            if species != "all":
                panels[f"{species}, {'temperature-scaled' if kind == 'temperature' else 'uncalibrated'}"] = (
                    _bins(p, y, bins))
    figure = reliability_figure(panels, f"{name}: {where}, before and after temperature scaling")
    return pd.DataFrame(rows), {"ei_exported_model.png": figure}


def collect_report(
    test_folds: pd.DataFrame, test_fold_figures: dict[str, Figure], exported: pd.DataFrame,
    exported_figures: dict[str, Figure],
) -> tuple[pd.DataFrame, dict[str, Figure]]:
    return pd.concat([exported, test_folds], ignore_index=True), {**exported_figures, **test_fold_figures}
