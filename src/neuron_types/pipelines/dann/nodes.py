"""Nodes of the dann pipeline: train every model on every split, score the test cells of
each species, and draw the figures. The modelling itself is in
:mod:`neuron_types.models.cross_species` (Kedro-free)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import keras
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuron_types.evaluation import classification_metrics, normalised_confusion
from neuron_types.models import cross_species as cs
from neuron_types.models.networks import NetworkConfig
from neuron_types.models.reproducibility import seed_everything
from neuron_types.models.training import TrainingConfig
from neuron_types.pipelines.feature_engineering.nodes import feature_names
from neuron_types.plotting import (
    confusion_matrices_figure,
    shap_bar_figure,
    shap_beeswarm_figure,
    split_metrics_table,
    training_curves_figure,
)
from neuron_types.progress import progress
from neuron_types.splits import cells_in_role

logger = logging.getLogger(__name__)


# -- parameters --------------------------------------------------------------------------------
def model_specs(dann: Mapping) -> dict[str, cs.ModelSpec]:
    specs = {}
    for name, options in dict(dann["models"]).items():
        options = dict(options or {})
        for key in ("train_species", "labelled_species"):
            if key in options:
                options[key] = tuple(options[key])
        try:
            specs[name] = cs.ModelSpec(name=name, **options)
        except TypeError as error:
            raise ValueError(f"parameters_dann.yml, dann.models.{name}: {error}") from error
    return specs


def _configs(dann: Mapping) -> tuple[NetworkConfig, TrainingConfig]:
    return NetworkConfig.from_params(dict(dann["network"])), TrainingConfig.from_params(dict(dann["training"]))


def _group(dann: Mapping, kind: str) -> list[cs.ModelSpec]:
    """``baseline``: no domain head; ``supervised`` / ``unsupervised``: DANNs that may / may
    not use human labels."""
    chosen = []
    for spec in model_specs(dann).values():
        spec_kind = "baseline" if not spec.domain_head else (
            "unsupervised" if cs.TARGET not in spec.labelled_species else "supervised")
        if spec_kind == kind:
            chosen.append(spec)
    return chosen


def _train_models(
    specs: Sequence[cs.ModelSpec],
    ei_model_input: pd.DataFrame,
    ei_splits: pd.DataFrame,
    features: list[str],
    dann: Mapping,
    target_priors: pd.DataFrame | None = None,
    export: str | None = None,
):
    cs.check_model_input(ei_model_input, features)
    seed_everything(int(dann["seed"]))
    pool = cs.TrainerPool(*_configs(dann))
    predictions, histories, priors, exported = [], [], [], None
    split_ids = sorted(int(split) for split in ei_splits["split"].unique())
    cells = {split: cs.split_cells(ei_model_input, ei_splits, split) for split in split_ids}
    fits = [(spec, split) for spec in specs for split in split_ids]
    started = time.perf_counter()
    for spec, split in progress(fits, "dann: training"):
        prior = None
        if spec.reweighting != "none":
            row = target_priors[(target_priors["model"] == dann["target_prior_model"])
                                & (target_priors["split"] == split)]
            prior = float(row[spec.reweighting].iloc[0])
        result = cs.train_on_split(
            spec, cells[split], features, pool, split, seed=int(dann["seed"]) + split, target_prior=prior,
            export=spec.name == export and split == int(dann["export"]["split"]),
        )
        predictions.append(result.predictions)
        histories.append(result.history)
        if result.priors:
            priors.append({"model": spec.name, "split": split, **result.priors})
        exported = result.exported or exported
        best = result.history[result.history["best_epoch"]].iloc[0]
        logger.info(
            "dann: %s split %d: best epoch %d, validation label accuracy %.3f (loss %.3f), %.1f s so far",
            spec.name, split, int(best["epoch"]), best["val_label_accuracy"], best["val_label_loss"],
            time.perf_counter() - started,
        )
    return (
        pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(),
        pd.concat(histories, ignore_index=True) if histories else pd.DataFrame(),
        pd.DataFrame(priors, columns=["model", "split", "source_prior", "em", "bbse"]),
        exported,
    )


# -- training nodes ----------------------------------------------------------------------------
def train_baseline_networks(ei_model_input, ei_splits, features, dann) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The DANN's network without a domain head: source-only, human-to-mouse, joint (41 and
    42 features). Also the human-prior estimates of the models that never see human labels."""
    specs = _group(dann, "baseline")
    if dann["target_prior_model"] not in {s.name for s in specs if cs.TARGET not in s.labelled_species}:
        raise ValueError(
            f"parameters_dann.yml, dann.target_prior_model: {dann['target_prior_model']!r} must name a model "
            "without domain head that never sees human labels"
        )
    predictions, histories, priors, _ = _train_models(specs, ei_model_input, ei_splits, feature_names(features), dann)
    return predictions, histories, priors


def train_supervised_dann(ei_model_input, ei_splits, features, dann) -> tuple[pd.DataFrame, pd.DataFrame, keras.Model]:
    """DANNs trained with the labels of both species' training cells (the reference setting)."""
    specs = _group(dann, "supervised")
    _require_export(specs, dann, "supervised")
    predictions, histories, _, model = _train_models(
        specs, ei_model_input, ei_splits, feature_names(features), dann, export=dann["export"]["supervised"])
    return predictions, histories, model


def train_unsupervised_danns(
    ei_model_input, ei_splits, features, dann, target_priors
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, keras.Model]:
    """DANNs that never see a human label: human training cells feed only the domain loss."""
    specs = _group(dann, "unsupervised")
    _require_export(specs, dann, "unsupervised")
    predictions, histories, priors, model = _train_models(
        specs, ei_model_input, ei_splits, feature_names(features), dann, target_priors,
        export=dann["export"]["unsupervised"])
    return predictions, histories, priors, model


def _require_export(specs, dann, kind) -> None:
    if dann["export"][kind] not in {s.name for s in specs}:
        raise ValueError(f"parameters_dann.yml, dann.export.{kind}: {dann['export'][kind]!r} is not one of the "
                         f"{kind} DANNs in dann.models ({[s.name for s in specs]})")


def fit_logistic_regression(ei_model_input, ei_splits, features, dann) -> pd.DataFrame:
    """Logistic regression on both species (41 features), C chosen on validation cells."""
    features = feature_names(features)
    cs.check_model_input(ei_model_input, features)
    frames = []
    for split in sorted(ei_splits["split"].unique()):
        cells = cs.split_cells(ei_model_input, ei_splits, int(split))
        frame, c = cs.logistic_regression_on_split(cells, features, dann["logistic_regression"]["c_grid"], int(split))
        logger.info("dann: logistic regression split %d: C=%g", split, c)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# -- collecting and scoring --------------------------------------------------------------------
def collect_test_predictions(*predictions: pd.DataFrame) -> pd.DataFrame:
    """Every model's test-cell probabilities: model, split, specimen_id, species, excitatory,
    probability, predicted (threshold 0.5)."""
    table = pd.concat([p for p in predictions if len(p)], ignore_index=True)
    table["predicted"] = (table["probability"] >= 0.5).astype("int64")
    return table


def collect_training_histories(*histories: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([h for h in histories if len(h)], ignore_index=True)


def tabulate_target_priors(
    baseline_priors: pd.DataFrame, unsupervised_priors: pd.DataFrame, ei_model_input: pd.DataFrame,
    ei_splits: pd.DataFrame,
) -> pd.DataFrame:
    """The human-prior estimates (EM, BBSE) beside the observed prior of the human training
    cells. The observed column is read here, for this report only: no model sees it."""
    table = pd.concat([baseline_priors, unsupervised_priors], ignore_index=True)
    observed = {}
    for split in table["split"].unique():
        train = cells_in_role(ei_model_input, ei_splits, int(split), "train")
        observed[split] = float(train.loc[train["species"].astype(str) == cs.TARGET, cs.LABEL].mean())
    table["observed_human_training_prior"] = table["split"].map(observed)
    return table


def score_test_cells_per_split(dann_test_predictions: pd.DataFrame) -> pd.DataFrame:
    """Metrics of every model, split and test species: the long table model, split,
    species, metric, value."""
    scores = {}
    for (model, split, species), cells in dann_test_predictions.groupby(["model", "split", "species"], sort=False):
        scores[(model, int(split), species)] = classification_metrics(
            cells[cs.LABEL], cells["predicted"], cells["probability"], labels=[0, 1])
    return split_metrics_table(scores)


# -- figures ----------------------------------------------------------------------------------
def plot_confusion_matrices(dann_test_predictions: pd.DataFrame, dann: Mapping) -> dict[str, Figure]:
    """One figure per model: human and mouse test cells pooled over splits, rows = true
    class normalised to 1."""
    names = list(dann["class_names"])
    figures = {}
    for model, cells in dann_test_predictions.groupby("model", sort=False):
        confusions, counts = {}, {}
        for species in (cs.TARGET, cs.SOURCE):
            rows = cells[cells["species"] == species]
            true = np.asarray(names)[rows[cs.LABEL].to_numpy()]
            predicted = np.asarray(names)[rows["predicted"].to_numpy()]
            key = f"{species} test cells (n={len(rows)})"
            confusions[key] = normalised_confusion(true, predicted, names)
            counts[key] = pd.crosstab(pd.Categorical(true, names), pd.Categorical(predicted, names), dropna=False)
        n_splits = cells["split"].nunique()
        figures[f"{model}.png"] = confusion_matrices_figure(
            confusions, f"{model}: confusion matrices, test cells pooled over {n_splits} splits", counts)
    return figures


def plot_training_curves(dann_training_history: pd.DataFrame) -> dict[str, Figure]:
    """One figure per network: label loss, domain loss, domain accuracy and lambda per epoch."""
    return {
        f"{model}.png": training_curves_figure(history.drop(columns=["model"]), f"{model}: training curves")
        for model, history in dann_training_history.groupby("model", sort=False)
    }


def explain_dann_with_shap(
    dann_model: keras.Model, ei_model_input: pd.DataFrame, ei_splits: pd.DataFrame, features, dann: Mapping
) -> tuple[pd.DataFrame, dict[str, Figure]]:
    """SHAP values (GradientExplainer: expected gradients) of the exported DANN's
    P(excitatory) on the human and the mouse test cells of one split, against a background
    of training cells. Returns the long table and a bar and a beeswarm plot per species."""
    import shap

    settings = dann["shap"]
    features = feature_names(features)
    split = int(settings["split"])
    train, test_cells = (cells_in_role(ei_model_input, ei_splits, split, role) for role in ("train", "test"))
    rng = np.random.default_rng(int(dann["seed"]))
    n_background = min(int(settings["background_cells"]), len(train))
    background = train[features].to_numpy(dtype="float32")[rng.choice(len(train), n_background, replace=False)]
    label_model = keras.Model(dann_model.inputs, dann_model.get_layer("label").output)
    explainer = shap.GradientExplainer(label_model, background)
    tables, figures = [], {}
    for species in progress((cs.TARGET, cs.SOURCE), "dann: SHAP"):
        test = test_cells[test_cells["species"].astype(str) == species]
        x = test[features].to_numpy(dtype="float32")
        values = np.asarray(explainer.shap_values(x, nsamples=int(settings["samples"]), rseed=int(dann["seed"])))
        values = values.reshape(len(x), len(features))
        tables.append(pd.DataFrame({
            "split": split,
            "species": species,
            "specimen_id": np.repeat(test["specimen_id"].to_numpy(), len(features)),
            "feature": np.tile(features, len(x)),
            "feature_value": x.reshape(-1).astype(float),
            "shap_value": values.reshape(-1).astype(float),
        }))
        title = f"DANN, {species} test cells (split {settings['split']}, n={len(x)})"
        top = int(settings["top_features"])
        figures[f"{species}_bar.png"] = shap_bar_figure(values, features, f"{title}: mean |SHAP|", top)
        figures[f"{species}_beeswarm.png"] = shap_beeswarm_figure(values, x, features, f"{title}: SHAP values", top)
    return pd.concat(tables, ignore_index=True), figures
