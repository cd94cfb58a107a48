"""Nodes of the predict pipeline: calibrate the exported models on held-out training-fold
cells, then classify new cells with them. Nothing is trained here but one temperature, a
conformal quantile per species and an out-of-distribution covariance; the statistics are
in :mod:`neuron_types.models.calibration`, ``.conformal`` and ``.ood`` (Kedro-free)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from neuron_types.cells import EI_LABEL, ID, MOUSE
from neuron_types.config import PredictParams
from neuron_types.errors import InputError
from neuron_types.pipelines.predict.cells import MISSING
from neuron_types.splits import cells_in_role

logger = logging.getLogger(__name__)

# neuron_types.models loads TensorFlow (~4 s) on import, which a command that predicts
# nothing should not pay for: its modules are imported inside the nodes.

SCALER_LAYER = "training_scaler"


def _features(cells: pd.DataFrame, features: list[str]) -> np.ndarray:
    return cells[list(features)].to_numpy(dtype="float32")


def p_excitatory(model: Any, x: np.ndarray) -> np.ndarray:
    """The exported network's uncalibrated P(excitatory) of raw cells ``x``."""
    outputs = model(x, training=False)
    label = outputs["label"] if isinstance(outputs, dict) else outputs
    return np.asarray(label, dtype="float64").reshape(-1)


def scaled_features(model: Any, x: np.ndarray) -> np.ndarray:
    """``x`` standardised by the training scaler baked into the exported network."""
    layer = model.get_layer(SCALER_LAYER)
    mean = np.asarray(layer.mean, dtype="float64").reshape(-1)
    variance = np.asarray(layer.variance, dtype="float64").reshape(-1)
    return (np.asarray(x, dtype="float64") - mean) / np.sqrt(np.maximum(variance, 1e-12))


def _quantile_of(quantiles: dict, species: np.ndarray) -> np.ndarray:
    if list(quantiles) == ["all"]:
        values = np.full(len(species), quantiles["all"], dtype="float64")
    else:
        values = np.array([quantiles[s] for s in species], dtype="float64")
    return np.where(np.isnan(values), np.inf, values)


def _json_number(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def fit_calibration(
    ei_model: dict, ei_model_card: dict, ei_model_input: pd.DataFrame, ei_splits: pd.DataFrame,
    feature_names: list[str], predict: PredictParams,
) -> dict:
    """Temperature, conformal quantiles and the out-of-distribution detector of the exported
    network, fitted on the validation cells of its fold (``ei_model_card["split"]``, the
    fold it was trained on): held out from its training, never its test cells. Returned as
    JSON-ready data."""
    from neuron_types.models.calibration import fit_temperature, logits_of, scale
    from neuron_types.models.conformal import fit_group_quantiles, two_class
    from neuron_types.models.ood import fit_mahalanobis

    model, split = ei_model["model"], int(ei_model_card["split"])
    train = cells_in_role(ei_model_input, ei_splits, split, "train")
    held_out = cells_in_role(ei_model_input, ei_splits, split, "validation").reset_index(drop=True)
    if len(held_out) < 4:
        raise InputError(f"ei_splits, split {split}: {len(held_out)} validation cells; expected enough "
                         "held-out cells to calibrate on (ei_model_card split)")
    strata = held_out["species"].astype(str) + "/" + held_out[EI_LABEL].astype(str)
    for_temperature, for_conformal = train_test_split(
        np.arange(len(held_out)), train_size=predict.temperature_share, random_state=predict.seed,
        stratify=strata if strata.value_counts().min() >= 2 else None)
    logits = logits_of(p_excitatory(model, _features(held_out, feature_names)))
    labels = held_out[EI_LABEL].to_numpy("int64")
    temperature = fit_temperature(logits[for_temperature], labels[for_temperature])
    conformal = held_out.iloc[for_conformal]
    groups = conformal["species"].astype(str).to_numpy() if predict.conformal.per_species else None
    quantiles = fit_group_quantiles(two_class(scale(logits[for_conformal], temperature)), labels[for_conformal],
                                    predict.conformal.coverage, groups)
    detector = fit_mahalanobis(scaled_features(model, _features(train, feature_names)),
                               scaled_features(model, _features(held_out, feature_names)), predict.ood.quantile)
    logger.info("predict: split %d, temperature %.3f on %d cells, conformal quantiles %s on %d cells, "
                "OOD threshold %.2f", split, temperature, len(for_temperature),
                {k: round(v, 3) for k, v in quantiles.items()}, len(for_conformal), detector.threshold)
    return {
        "model_version": ei_model["version"],
        "split": split,
        "temperature": temperature,
        "temperature_cells": len(for_temperature),
        "conformal": {
            "coverage": predict.conformal.coverage,
            "quantiles": {("all" if k is None else k): _json_number(v) for k, v in quantiles.items()},
            "cells": ({str(k): int(n) for k, n in pd.Series(groups).value_counts().items()}
                      if groups is not None else {"all": len(conformal)}),
        },
        "ood": {**detector.to_dict(), "quantile": predict.ood.quantile, "training_cells": len(train),
                "threshold_cells": len(held_out)},
    }


def calibrated_outputs(model: Any, calibration: dict, cells: pd.DataFrame, feature_names: list[str],
                       class_names: list[str]) -> pd.DataFrame:
    """Per cell: calibrated P(excitatory), its conformal set, the OOD score and flag."""
    from neuron_types.models.calibration import logits_of, scale
    from neuron_types.models.conformal import prediction_sets, set_labels, two_class
    from neuron_types.models.ood import MahalanobisDetector

    x = _features(cells, feature_names)
    raw = p_excitatory(model, x)
    calibrated = scale(logits_of(raw), calibration["temperature"])
    quantiles = {k: (np.nan if v is None else v) for k, v in calibration["conformal"]["quantiles"].items()}
    sets = prediction_sets(two_class(calibrated), _quantile_of(quantiles, cells["species"].to_numpy()))
    detector = MahalanobisDetector.from_dict(calibration["ood"])
    score = detector.score(scaled_features(model, x))
    return pd.DataFrame({
        "p_excitatory": calibrated,
        "p_excitatory_uncalibrated": raw,
        "predicted_class": np.where(calibrated >= 0.5, class_names[1], class_names[0]),
        "prediction_set": set_labels(sets, class_names),
        "prediction_set_size": sets.sum(axis=1).astype("int64"),
        "ood_score": score,
        "ood_flag": score > detector.threshold,
    }, index=cells.index)


def predict_new_cells(
    cells: pd.DataFrame, ei_model: dict, subclass_model: dict, calibration: dict, feature_names: list[str],
    subclass_names: list[str], ei_model_card: dict,
) -> pd.DataFrame:
    """One row per cell: identifiers, the calibrated excitatory/inhibitory answer with its
    conformal set, the five subclass probabilities of mouse cells (NaN for human ones), the
    OOD score and flag, which features were missing and how that was handled, and the
    versions of the models. A cell lacking features (``predict.missing_features: skip``)
    keeps its row, unclassified."""
    started = time.perf_counter()
    class_names = list(ei_model_card["class_names"])
    complete = (cells[MISSING] == "").to_numpy()
    table = cells[[ID, "species"]].copy()
    answers = calibrated_outputs(ei_model["model"], calibration, cells.loc[complete], feature_names, class_names)
    table = table.join(answers)
    mouse = (cells["species"] == MOUSE).to_numpy() & complete
    proba = np.full((len(cells), len(subclass_names)), np.nan)
    if mouse.any():
        x = _features(cells.loc[mouse], feature_names)
        proba[mouse] = np.asarray(subclass_model["model"](x, training=False), dtype="float64")
    for i, name in enumerate(subclass_names):
        table[f"p_subclass_{name}"] = proba[:, i]
    best = np.nan_to_num(proba, nan=-1.0).argmax(axis=1)
    table["predicted_subclass"] = np.where(mouse, np.asarray(subclass_names, dtype=object)[best], None)
    table[MISSING] = cells[MISSING]
    table["missing_handling"] = np.where(complete, "none missing", "skipped: not classified")
    table["ei_model_version"] = ei_model["version"]
    table["subclass_model_version"] = subclass_model["version"]
    table["calibration_split"] = calibration["split"]
    passthrough = [c for c in cells.columns if c not in (ID, "species", MISSING, *feature_names)]
    table = table.join(cells[passthrough])
    seconds = time.perf_counter() - started
    logger.info("predict: %d cells (%d mouse, %d skipped for missing features) in %.2f s (%.0f cells/s); "
                "%d flagged out of distribution", len(table), int(mouse.sum()), int((~complete).sum()), seconds,
                len(table) / max(seconds, 1e-9), int(table["ood_flag"].fillna(False).sum()))
    return table
