"""Cross-species excitatory/inhibitory experiments: what each model sees of a split, and its
training on it. Kedro-free; the ``dann`` pipeline's nodes are thin wrappers around this.

Mouse (domain 0) is the source and human (domain 1) the target. A model is a name and a
:class:`~neuron_types.config.DannModel`: which species' cells it trains on, whose labels it
may use, whether it has a domain head, and how its domain loss is weighted. Scalers are fitted on the rows whose
features the model trains on (training rows only); early stopping watches the validation
rows whose labels the model may use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from neuron_types.cells import DOMAIN_OF, EI_COLUMNS, SOURCE, TARGET
from neuron_types.cells import EI_LABEL as LABEL
from neuron_types.config import DannModel, DannNetwork, DannTrainingConfig
from neuron_types.errors import InputError
from neuron_types.models import label_shift
from neuron_types.models.networks import build_classifier, build_dann, copy_weights_by_layer_name
from neuron_types.models.training import Trainer, TrainingData
from neuron_types.splits import cells_in_role


@dataclass(frozen=True)
class SplitCells:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def check_model_input(model_input: pd.DataFrame, features: Sequence[str]) -> None:
    missing = [c for c in (*EI_COLUMNS, *features) if c not in model_input.columns]
    if missing:
        raise InputError(f"ei_model_input: missing columns {missing}")
    unknown = sorted(set(model_input["species"].astype(str)) - set(DOMAIN_OF))
    if unknown:
        raise InputError(f"ei_model_input.species: expected only {list(DOMAIN_OF)}, got {unknown}")
    if model_input[list(features)].isna().any().any():
        raise InputError("ei_model_input: feature columns hold NaN (expected complete rows)")


def split_cells(model_input: pd.DataFrame, splits: pd.DataFrame, split: int) -> SplitCells:
    return SplitCells(*(cells_in_role(model_input, splits, split, role) for role in ("train", "validation", "test")))


def _of(cells: pd.DataFrame, species: Sequence[str]) -> pd.DataFrame:
    return cells[cells["species"].astype(str).isin(species).to_numpy()].reset_index(drop=True)


def design_matrix(cells: pd.DataFrame, features: Sequence[str], species_feature: bool) -> np.ndarray:
    x = cells[list(features)].to_numpy(dtype=float)
    if species_feature:
        x = np.column_stack([x, cells["domain"].to_numpy(dtype=float)])
    return x


def _is_target(cells: pd.DataFrame) -> np.ndarray:
    return (cells["species"].astype(str) == TARGET).to_numpy()


class TrainerPool:
    """One traced :class:`Trainer` per network shape, reused across splits and models."""

    def __init__(self, network: DannNetwork, training: DannTrainingConfig):
        self.network, self.training = network, training
        self._trainers: dict[tuple, Trainer] = {}

    def builder(self, spec: DannModel, n_features: int, input_scaling=None) -> Callable[[int], keras.Model]:
        if spec.domain_head:
            return lambda seed: build_dann(n_features, self.network, seed, input_scaling, spec.conditioning)
        return lambda seed: build_classifier(n_features, self.network, seed, input_scaling)

    def get(self, spec: DannModel, n_features: int) -> Trainer:
        key = (spec.domain_head, spec.conditioning if spec.domain_head else "none", n_features)
        if key not in self._trainers:
            self._trainers[key] = Trainer(self.builder(spec, n_features), self.training)
        return self._trainers[key]


def _training_data(spec: DannModel, cells: pd.DataFrame, x: np.ndarray, domain_weight=None) -> TrainingData:
    labelled = cells["species"].astype(str).isin(spec.labelled_species).to_numpy()
    if spec.balance_label_species and len(spec.labelled_species) > 1:
        label_weight = np.where(labelled, label_shift.domain_balanced_weights(cells["domain"]), 0.0)
    else:
        label_weight = labelled.astype(float)
    return TrainingData.build(x, cells[LABEL], cells["domain"], label_weight=label_weight, domain_weight=domain_weight)


@dataclass
class SplitResult:
    predictions: pd.DataFrame  # model, split, specimen_id, species, excitatory, probability
    history: pd.DataFrame
    priors: dict  # target-prior estimates of this model on this split (may be empty)
    exported: keras.Model | None = None


def train_on_split(
    name: str,
    spec: DannModel,
    cells: SplitCells,
    features: Sequence[str],
    pool: TrainerPool,
    split: int,
    seed: int,
    target_prior: float | None = None,
    export: bool = False,
) -> SplitResult:
    """Trains model ``name`` on one split and predicts every test cell (both species)."""
    train, validation = _of(cells.train, spec.train_species), _of(cells.validation, spec.train_species)
    design = {name: design_matrix(frame, features, spec.species_feature)
              for name, frame in (("train", train), ("validation", validation), ("test", cells.test))}
    scaler = StandardScaler().fit(design["train"])
    x = {name: scaler.transform(matrix) for name, matrix in design.items()}
    source_labels = train.loc[~_is_target(train), LABEL].to_numpy()
    source_prior = float(source_labels.mean()) if len(source_labels) else None

    domain_weight = None
    if spec.domain_head:
        source_weights = None
        if spec.reweighting != "none":
            if target_prior is None:
                raise ValueError(f"{name}: reweighting={spec.reweighting!r} needs a target-prior estimate")
            source_weights = label_shift.class_importance_weights(train[LABEL], source_prior, target_prior)
        domain_weight = label_shift.domain_balanced_weights(train["domain"], source_weights)
    trainer = pool.get(spec, x["train"].shape[1])
    history = trainer.fit(
        _training_data(spec, train, x["train"], domain_weight),
        _training_data(spec, validation, x["validation"], label_shift.domain_balanced_weights(validation["domain"])
                       if spec.domain_head else None),
        seed=seed,
    )
    probability = trainer.predict_proba(x["test"])
    frames = [_prediction_frame(name, split, cells.test, probability)]

    priors: dict = {}
    if spec.never_sees_target_labels:
        target_train = _of(cells.train, (TARGET,))
        target_x = scaler.transform(design_matrix(target_train, features, spec.species_feature))
        priors = estimate_target_prior(trainer, validation, x["validation"], target_x, source_prior)
        if spec.prior_adjusted:
            target = _is_target(cells.test)
            adjusted = probability.astype(float).copy()
            adjusted[target] = label_shift.adjust_posteriors(probability[target], source_prior, priors["em"])
            frames.append(_prediction_frame(f"{name}_prior_adjusted", split, cells.test, adjusted))
    exported = None
    if export:
        exported = pool.builder(spec, x["train"].shape[1], (scaler.mean_, scaler.var_))(seed)
        copy_weights_by_layer_name(trainer.model, exported)
    return SplitResult(pd.concat(frames, ignore_index=True), _history_frame(name, split, history), priors, exported)


def estimate_target_prior(
    trainer: Trainer, validation: pd.DataFrame, validation_x: np.ndarray, target_x: np.ndarray, source_prior: float
) -> dict:
    """P(excitatory) among the target's training cells, estimated without their labels:
    EM on the model's posteriors (Saerens et al.), and BBSE with the confusion matrix of
    the source validation cells (Lipton et al.)."""
    target_proba = trainer.predict_proba(target_x)
    source_validation = ~_is_target(validation)
    source_val_proba = trainer.predict_proba(validation_x[source_validation])
    return {
        "source_prior": source_prior,
        "em": label_shift.em_target_prior(target_proba, source_prior),
        "bbse": label_shift.bbse_target_prior(
            validation.loc[source_validation, LABEL].to_numpy(), source_val_proba > 0.5, target_proba > 0.5
        ),
    }


def _prediction_frame(model: str, split: int, test: pd.DataFrame, probability: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "model": model,
        "split": int(split),
        "specimen_id": test["specimen_id"].to_numpy(dtype="int64"),
        "species": test["species"].astype(str).to_numpy(),
        LABEL: test[LABEL].to_numpy(dtype="int64"),
        "probability": np.asarray(probability, dtype=float),
    })


def _history_frame(model: str, split: int, history: dict) -> pd.DataFrame:
    curves = {k: v for k, v in history.items() if isinstance(v, list)}
    frame = pd.DataFrame(curves)
    frame.insert(0, "epoch", np.arange(len(frame)))
    frame.insert(0, "split", int(split))
    frame.insert(0, "model", model)
    frame["best_epoch"] = frame["epoch"] == history["best_epoch"]
    return frame


def logistic_regression_on_split(
    cells: SplitCells, features: Sequence[str], c_grid: Sequence[float], split: int, name: str = "logistic_regression"
) -> tuple[pd.DataFrame, float]:
    """Logistic regression on both species' training cells (41 features, scaler fitted on
    them); C chosen by the log-loss of the validation cells, each species weighing half."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    train_design = design_matrix(cells.train, features, False)
    scaler = StandardScaler().fit(train_design)
    x_train = scaler.transform(train_design)
    x_val = scaler.transform(design_matrix(cells.validation, features, False))
    val_weights = label_shift.domain_balanced_weights(cells.validation["domain"])
    best = None
    for c in c_grid:
        model = LogisticRegression(C=float(c), max_iter=5000).fit(x_train, cells.train[LABEL])
        loss = log_loss(cells.validation[LABEL], model.predict_proba(x_val)[:, 1], sample_weight=val_weights,
                        labels=[0, 1])
        if best is None or loss < best[0]:
            best = (loss, float(c), model)
    _, chosen_c, model = best
    probability = model.predict_proba(scaler.transform(design_matrix(cells.test, features, False)))[:, 1]
    return _prediction_frame(name, split, cells.test, probability), chosen_c
