"""Nodes of the dann pipeline: train every model on every split, score the test cells of
each species, and draw the figures. The modelling itself is in
:mod:`neuron_types.models.cross_species` (Kedro-free)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from neuron_types.cells import EI_LABEL, GATE_PROFILE_COLUMNS, SOURCE, TARGET, features_without, on_both_test_pools
from neuron_types.config import DannModel, DannParams
from neuron_types.evaluation import classification_metrics, confusion_averaged_over_repeats, split_metrics_table
from neuron_types.figures.confusion import confusion_matrices_figure
from neuron_types.figures.shap import shap_bar_figure, shap_beeswarm_figure
from neuron_types.figures.training import training_curves_figure
from neuron_types.splits import cells_in_role

logger = logging.getLogger(__name__)

# The model code is imported inside the training and SHAP nodes: it loads TensorFlow (~4 s),
# which a command that trains nothing (`kedro registry list`, a data-only run) should not
# pay for. Trained Keras models are annotated `Any` for the same reason.


def _progress(items, description: str, unit: str = "fit"):
    """A progress bar on a terminal; silent in CI logs, where the per-fit log lines show progress."""
    return tqdm(items, desc=description, leave=False, disable=None, unit=unit)


def _split_priors(target_priors: pd.DataFrame, model: str, column: str) -> dict[int, float]:
    rows = target_priors[target_priors["model"] == model]
    return {int(split): float(value) for split, value in zip(rows["split"], rows[column])}


def _seeded_stack(**job):
    """``cross_species.train_stack(**job)`` after seeding every generator with the job's
    seed: each model starts from the same state wherever it trains."""
    from neuron_types.models.cross_species import train_stack
    from neuron_types.models.reproducibility import seed_everything

    seed_everything(job["seed"])
    return train_stack(**job)


def _train_models(
    models: dict[str, DannModel],
    ei_model_input: pd.DataFrame,
    ei_splits: pd.DataFrame,
    features: list[str],
    dann: DannParams,
    target_priors: pd.DataFrame | None = None,
    export: str | None = None,
    every_cell: tuple[pd.DataFrame, pd.DataFrame] | None = None,
):
    """Each model trained as one stack over every split (a member per split), the models
    side by side in ``dann.n_jobs`` worker processes. A model with
    ``imputation`` trains on ``every_cell`` (``ei_every_cell_model_input`` and its splits:
    the same folds, the cells lacking features dealt to them) and is scored twice, as the
    simple models that impute (:func:`fit_simple_models`)."""
    from neuron_types.models import cross_species as cs
    from neuron_types.models.processes import map_in_processes

    cs.check_model_input(ei_model_input, features)
    if any(spec.imputation != "none" for spec in models.values()):
        if every_cell is None:
            raise ValueError(f"dann: {sorted(n for n, m in models.items() if m.imputation != 'none')} impute; "
                             "expected ei_every_cell_model_input and ei_every_cell_splits")
        cs.check_model_input(every_cell[0], features, "ei_every_cell_model_input", complete=False)
    jobs = []
    for name, spec in models.items():
        split_priors = None
        if spec.reweighting != "none":
            split_priors = _split_priors(target_priors, dann.target_prior_model, spec.reweighting)
        model_input, splits = every_cell if spec.imputation != "none" else (ei_model_input, ei_splits)
        network, training = dann.settings_of(spec)
        jobs.append(dict(
            name=name, spec=spec, model_input=model_input, splits=splits,
            features=features_without(list(features), spec.without_features, f"dann.models.{name}.without_features"),
            network=network, training=training, seed=dann.seed,
            target_priors=split_priors, export_split=dann.export.split if name == export else None,
        ))
    started = time.perf_counter()
    logger.info("dann: training %s, %d at a time", list(models), min(dann.n_jobs, len(jobs)))
    results = map_in_processes(_seeded_stack, jobs, dann.n_jobs)
    predictions, histories, priors, gate_profiles, exported = [], [], [], [], None
    for job, result in zip(jobs, results):
        name, spec = job["name"], job["spec"]
        predictions.append(result.predictions if spec.imputation == "none"
                           else on_both_test_pools(result.predictions, job["model_input"]))
        histories.append(result.history)
        priors.extend({"model": name, **row} for row in result.priors)
        exported = result.exported or exported
        if result.gate_profiles is not None:
            gate_profiles.append(result.gate_profiles)
        best = result.history[result.history["best_epoch"]]
        logger.info(
            "dann: %s, %d members (%d splits): best epochs %s, validation label accuracy %s",
            name, len(best), best["split"].nunique(), best["epoch"].tolist(), [round(v, 3) for v in best["val_label_accuracy"]],
        )
    logger.info("dann: %d models trained in %.1f s", len(jobs), time.perf_counter() - started)
    return (
        pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame(),
        pd.concat(histories, ignore_index=True) if histories else pd.DataFrame(),
        pd.DataFrame(priors, columns=["model", "split", "source_prior", "em", "em_calibrated", "temperature", "bbse"]),
        exported,
        pd.concat(gate_profiles, ignore_index=True) if gate_profiles else pd.DataFrame(columns=GATE_PROFILE_COLUMNS),
    )



# -- training nodes ----------------------------------------------------------------------------
def _of_run(dann: DannParams, study: bool, kind: str | None = None) -> DannParams:
    """``dann`` with only the models and simple models the run trains: every entry in the
    full study (``study``), the entries not marked ``study`` in the default run. A node
    argument, not a dataset of its own, so that ``--from-nodes`` can resume any node. The
    node training the models of ``kind`` says which gated ones lose their figures."""
    run = dann.for_run(study)
    gated = sorted(name for name, model in run.of_kind(kind).items() if model.gated) if kind else []
    if gated and not study:
        logger.warning("dann: the default run trains the gated DANNs %s; their gate profiles are in "
                       "dann_gate_profiles.csv, their figures are drawn by the full study only "
                       "(kedro run --pipeline=study)", gated)
    return run


def train_baseline_networks(
    ei_model_input: pd.DataFrame, ei_splits: pd.DataFrame, feature_names: list[str], dann: DannParams,
    ei_every_cell_model_input: pd.DataFrame | None = None, ei_every_cell_splits: pd.DataFrame | None = None, study: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The DANN's network without a domain head: source-only, human-to-mouse, joint (41 and
    42 features). Also the human-prior estimates of the models that never see human labels."""
    dann = _of_run(dann, study)
    predictions, histories, priors, _, _ = _train_models(
        dann.of_kind("baseline"), ei_model_input, ei_splits, feature_names, dann,
        every_cell=_every_cell(ei_every_cell_model_input, ei_every_cell_splits))
    return predictions, histories, priors


def _every_cell(model_input: pd.DataFrame | None, splits: pd.DataFrame | None):
    return None if model_input is None or splits is None else (model_input, splits)


def train_supervised_dann(
    ei_model_input: pd.DataFrame, ei_splits: pd.DataFrame, feature_names: list[str], dann: DannParams,
    ei_every_cell_model_input: pd.DataFrame | None = None, ei_every_cell_splits: pd.DataFrame | None = None, study: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, Any, dict, pd.DataFrame]:
    """DANNs trained with the labels of both species' training cells (the reference
    setting); the third output is the exported Keras model ``dann.export.supervised``, the
    fourth its card (``ei_model_card``): the split it was trained on and its class names,
    what ``predict`` reads, so that a later change of ``dann.export`` cannot make it
    calibrate on cells the saved model trained on; the fifth the gated models' gate profiles."""
    dann = _of_run(dann, study, "supervised")
    predictions, histories, _, model, gate_profiles = _train_models(
        dann.of_kind("supervised"), ei_model_input, ei_splits, feature_names, dann, export=dann.export.supervised,
        every_cell=_every_cell(ei_every_cell_model_input, ei_every_cell_splits))
    card = {"model": dann.export.supervised, "split": dann.export.split, "class_names": list(dann.class_names)}
    return predictions, histories, model, card, gate_profiles


def train_unsupervised_danns(
    ei_model_input: pd.DataFrame, ei_splits: pd.DataFrame, feature_names: list[str], dann: DannParams,
    target_priors: pd.DataFrame, ei_every_cell_model_input: pd.DataFrame | None = None,
    ei_every_cell_splits: pd.DataFrame | None = None, study: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Any, pd.DataFrame]:
    """DANNs that never see a human label: human training cells feed only the domain loss.
    The fourth output is the exported Keras model ``dann.export.unsupervised``, the fifth
    the gated models' gate profiles."""
    dann = _of_run(dann, study, "unsupervised")
    return _train_models(dann.of_kind("unsupervised"), ei_model_input, ei_splits, feature_names, dann, target_priors,
                         export=dann.export.unsupervised,
                         every_cell=_every_cell(ei_every_cell_model_input, ei_every_cell_splits))


def fit_logistic_regression(
    ei_model_input: pd.DataFrame, ei_splits: pd.DataFrame, feature_names: list[str], dann: DannParams
) -> pd.DataFrame:
    """Logistic regression on both species (41 features), C chosen on validation cells."""
    from neuron_types.models import cross_species as cs

    cs.check_model_input(ei_model_input, feature_names)
    frames = []
    for split in sorted(ei_splits["split"].unique()):
        cells = cs.split_cells(ei_model_input, ei_splits, int(split))
        frame, c = cs.logistic_regression_on_split(cells, feature_names, dann.logistic_regression.c_grid, int(split))
        logger.info("dann: logistic regression split %d: C=%g", split, c)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def fit_simple_models(
    ei_model_input: pd.DataFrame, ei_splits: pd.DataFrame, feature_names: list[str], dann: DannParams,
    ei_every_cell_model_input: pd.DataFrame, ei_every_cell_splits: pd.DataFrame, study: bool = False,
) -> pd.DataFrame:
    """Every entry of ``dann.simple_models`` on every split: its test cells' P(excitatory).
    An entry with ``imputation`` trains on every labelled cell of its split's training folds
    (``ei_every_cell_*``: the same folds, with the cells lacking features dealt to them) and
    is scored twice: on the test cells with every feature (its name) and on every labelled
    test cell (``<name>_every_labelled_cell``)."""
    dann = _of_run(dann, study)
    from neuron_types.models import cross_species as cs
    from neuron_types.models.simple import fit_simple_model

    cs.check_model_input(ei_model_input, feature_names)
    settings = dann.simple_models
    frames = []
    for name, spec in settings.models.items():
        features = features_without(list(feature_names), spec.without_features,
                                    f"dann.simple_models.models.{name}.without_features")
        imputing = spec.imputation != "none"
        model_input, splits = (ei_every_cell_model_input, ei_every_cell_splits) if imputing else (ei_model_input,
                                                                                                 ei_splits)
        started, choices = time.perf_counter(), []
        for split in sorted(int(s) for s in ei_splits["split"].unique()):
            cells = cs.split_cells(model_input, splits, split)
            fit = fit_simple_model(spec, cells.train, cells.validation, cells.test, features,
                                   settings.c_grid, settings.max_quantiles, dann.seed + split)
            frame = cs.prediction_frame(name, split, cells.test, fit.probability)
            frames.append(on_both_test_pools(frame, model_input) if imputing else frame)
            choices.append((fit.c, *(None if v is None else round(v, 3) for v in (fit.target_prior, fit.temperature))))
        logger.info("dann: %s on %d splits, %d features, in %.1f s: (C, human prior used, temperature) %s", name,
                    len(choices), len(features), time.perf_counter() - started, choices)
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


def collect_gate_profiles(*gate_profiles: pd.DataFrame) -> pd.DataFrame:
    """Every gated DANN's mean test-cell gate per split, species and feature (each input
    has the columns, with no row when its node trained no gated model)."""
    return pd.concat([g for g in gate_profiles if len(g)] or [gate_profiles[0]], ignore_index=True)


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
        observed[split] = float(train.loc[train["species"].astype(str) == TARGET, EI_LABEL].mean())
    table["observed_human_training_prior"] = table["split"].map(observed)
    return table


def score_test_cells_per_split(dann_test_predictions: pd.DataFrame) -> pd.DataFrame:
    """Metrics of every model, split and test species: the long table model, split,
    species, metric, value."""
    scores = {}
    for (model, split, species), cells in dann_test_predictions.groupby(["model", "split", "species"], sort=False):
        scores[(model, int(split), species)] = classification_metrics(
            cells[EI_LABEL], cells["predicted"], cells["probability"], labels=[0, 1])
    return split_metrics_table(scores)


# -- figures ----------------------------------------------------------------------------------
def plot_confusion_matrices(
    dann_test_predictions: pd.DataFrame, ei_splits: pd.DataFrame, dann: DannParams
) -> dict[str, Figure]:
    """One figure per model: human and mouse test cells, each cell counted once per repeat
    (the mean of the repeats' confusion counts), rows = true class normalised to 1."""
    names = list(dann.class_names)
    figures = {}
    for model, cells in dann_test_predictions.groupby("model", sort=False):
        confusions, counts = {}, {}
        for species in (TARGET, SOURCE):
            rows = cells[cells["species"] == species]
            frame = pd.DataFrame({"split": rows["split"].to_numpy(),
                                  "true": np.asarray(names)[rows[EI_LABEL].to_numpy()],
                                  "predicted": np.asarray(names)[rows["predicted"].to_numpy()]})
            fractions, mean_counts = confusion_averaged_over_repeats(frame, ei_splits, names, true="true")
            key = f"{species} test cells (n = {rows['specimen_id'].nunique()} cells)"
            confusions[key], counts[key] = fractions, mean_counts
        figures[f"{model}.png"] = confusion_matrices_figure(
            confusions, f"{model}: confusion matrices, test cells averaged over repeats", counts)
    return figures


def plot_training_curves(dann_training_history: pd.DataFrame) -> dict[str, Figure]:
    """One figure per network: label loss, domain loss, domain accuracy and lambda per epoch."""
    return {
        f"{model}.png": training_curves_figure(history.drop(columns=["model"]), f"{model}: training curves")
        for model, history in dann_training_history.groupby("model", sort=False)
    }


def plot_gate_profiles(dann_gate_profiles: pd.DataFrame) -> dict[str, Figure]:
    """One figure per gated DANN: which features its gates shut for human cells and for mouse cells."""
    from neuron_types.figures.gates import species_gate_profile_figure

    return {f"{model}.png": species_gate_profile_figure(profiles, f"{model}: mean test-cell gates per species")
            for model, profiles in dann_gate_profiles.groupby("model", sort=False)}


def explain_dann_with_shap(
    dann_model: Any, ei_model_input: pd.DataFrame, ei_splits: pd.DataFrame, feature_names: list[str],
    dann: DannParams,
) -> tuple[pd.DataFrame, dict[str, Figure]]:
    """SHAP values (GradientExplainer: expected gradients) of the exported DANN's
    P(excitatory) on the human and the mouse test cells of one split, against a background
    of training cells. Returns the long table and a bar and a beeswarm plot per species."""
    import keras
    import shap

    settings = dann.shap
    features = list(feature_names)
    split = settings.split
    train, test_cells = (cells_in_role(ei_model_input, ei_splits, split, role) for role in ("train", "test"))
    rng = np.random.default_rng(dann.seed)
    n_background = min(settings.background_cells, len(train))
    background = train[features].to_numpy(dtype="float32")[rng.choice(len(train), n_background, replace=False)]
    label_model = keras.Model(dann_model.inputs, dann_model.get_layer("label").output)
    explainer = shap.GradientExplainer(label_model, background)
    tables, figures = [], {}
    for species in _progress((TARGET, SOURCE), "dann: SHAP"):
        test = test_cells[test_cells["species"].astype(str) == species]
        x = test[features].to_numpy(dtype="float32")
        values = np.asarray(explainer.shap_values(x, nsamples=settings.samples, rseed=dann.seed))
        values = values.reshape(len(x), len(features))
        tables.append(pd.DataFrame({
            "split": split,
            "species": species,
            "specimen_id": np.repeat(test["specimen_id"].to_numpy(), len(features)),
            "feature": np.tile(features, len(x)),
            "feature_value": x.reshape(-1).astype(float),
            "shap_value": values.reshape(-1).astype(float),
        }))
        title = f"DANN, {species} test cells (split {settings.split}, n={len(x)})"
        top = settings.top_features
        figures[f"{species}_bar.png"] = shap_bar_figure(values, features, f"{title}: mean |SHAP|", top)
        figures[f"{species}_beeswarm.png"] = shap_beeswarm_figure(values, x, features, f"{title}: SHAP values", top)
    return pd.concat(tables, ignore_index=True), figures
