"""``parameters_lspin.yml``: LSPIN, its MLP twin and the tuned baselines of the subclass task."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, model_validator

from neuron_types.config.base import DISTINCT, Count, Fraction, Section, Units
from neuron_types.config.dann import TrainingConfig


class LspinTrainingConfig(TrainingConfig):
    """The reference trained with SGD, lr 0.0599, 1000 epochs; early stopping is checked
    every ``check_every`` epochs on ``monitor``. ``early_stopping: false`` trains every
    member ``max_epochs`` epochs and keeps its last weights (the reference's regime; the
    validation cells are still scored, for the history)."""

    optimizer: Literal["sgd", "adam"]
    weight_decay: Annotated[float, Field(ge=0)]
    check_every: Count
    monitor: Literal["val_cross_entropy", "val_accuracy"]
    balance_classes: bool
    early_stopping: bool

    @model_validator(mode="after")
    def _last_epoch_is_checked(self):
        if not self.early_stopping and self.max_epochs % self.check_every:
            raise ValueError(f"max_epochs: got {self.max_epochs}; without early stopping expected a multiple of "
                             f"check_every ({self.check_every}), so that the last epoch's weights are the ones kept")
        return self


class LspinModelConfig(Section):
    gating_units: Units
    prediction_units: Units
    activation: str
    sigma: Annotated[float, Field(gt=0)]
    lambda1: Annotated[float, Field(ge=0)]
    lambda2: Annotated[float, Field(ge=0)]
    similarity_kernel: Literal["label", "rbf"]
    rbf_bandwidth: Annotated[float, Field(gt=0)]
    batch_normalization: bool


class MlpModelConfig(Section):
    prediction_units: Units
    activation: str
    batch_normalization: bool


class LspinNetwork(Section):
    model: LspinModelConfig
    training: LspinTrainingConfig
    ensemble_members: Count


class MlpNetwork(Section):
    model: MlpModelConfig
    training: LspinTrainingConfig
    ensemble_members: Count


def _increasing(bounds: list[float]) -> list[float]:
    if not bounds[0] < bounds[1]:
        raise ValueError(f"expected [low, high] with low < high, got {bounds}")
    return bounds


# [low, high] of a positive hyperparameter
Range = Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=2, max_length=2), AfterValidator(_increasing)]


class TuningSpace(Section):
    """Where TPE searches: ``learning_rate``, ``weight_decay`` and ``lambda1`` on log scales
    between their bounds, ``sigma`` on a linear one (both gate settings: LSPIN only), one of
    ``batch_size`` and of ``balance_classes``."""

    learning_rate: Range
    batch_size: Annotated[list[Count], Field(min_length=1), DISTINCT]
    weight_decay: Range
    balance_classes: Annotated[list[bool], Field(min_length=1), DISTINCT]
    sigma: Range
    lambda1: Range


class NetworkTuning(Section):
    """Optuna's TPE over ``space``: ``trials`` per split in waves of ``trials_per_wave``, the
    first ``startup_trials`` of each study drawn at random, each trial scored by
    ``cv_folds``-fold stratified CV of the split's non-test cells."""

    cv_folds: Annotated[int, Field(ge=2)]
    trials: Count
    trials_per_wave: Count
    startup_trials: Count
    space: TuningSpace


Grid = Annotated[dict[str, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)]


class BaselineGrids(Section):
    """Each classifier's own hyperparameter names -> candidate values."""

    random_forest: Grid
    svc: Grid
    xgboost: Grid
    logistic_regression: Grid


# the tuned classical baselines of the subclass task, in the order the pipeline runs them
SKLEARN_BASELINES = ("random_forest", "svc", "xgboost", "logistic_regression")
# those also run on the extended features ("<name>_extended"): the best tuned baseline of the
# previous round and the simplest one, fixed here because the pipeline's nodes are built
# before parameters are read
EXTENDED_BASELINES = ("svc", "logistic_regression")
# and on every labelled cell, the missing features imputed ("<name>_imputed"), for the same reason
IMPUTED_BASELINES = ("svc", "logistic_regression")


class Baselines(Section):
    """``imputation``: how the ``_extended`` entries fill a missing extended feature, fitted
    inside each fit (each CV fold too) on the rows it is given, with a missingness indicator."""

    cv_folds: Annotated[int, Field(ge=2)]
    scoring: Literal["f1_macro", "accuracy", "balanced_accuracy"]
    n_jobs: Count  # worker processes over the splits
    imputation: Literal["median", "mean"]
    grids: BaselineGrids


class Interpretation(Section):
    top_features: Count
    open_gate_threshold: Annotated[float, Field(ge=0, le=1)]


class Explanation(Section):
    """SHAP values of the LSPIN ensemble and of one tuned baseline on the test cells of the
    first ``splits`` splits (fewer if there are fewer), compared with LSPIN's gates.
    ``baseline``: a declared choice, not one made on test scores; only XGBoost for now,
    whose boosters are saved and whose exact tree SHAP values come from XGBoost itself (the
    sklearn baselines are not persisted, and a model-agnostic explainer would refit them
    and call each many times per cell)."""

    splits: Count
    cells_per_split: Count | None
    background_cells: Count
    samples: Count
    baseline: Literal["xgboost"]
    top_features: Count
    permutations: Count
    interval: Fraction


class SoftVoting(Section):
    """Soft voting of LSPIN, the MLP and the SVC: weights on a simplex grid of this step,
    chosen per split by ``baselines.scoring`` on out-of-fold probabilities of its non-test
    cells (``pipelines/lspin/voting.py``)."""

    weight_step: Annotated[float, Field(gt=0, le=1)]


class LspinParams(Section):
    key: ClassVar[str] = "lspin"
    conf_file: ClassVar[str] = "parameters_lspin.yml"

    seed: Annotated[int, Field(ge=0)]
    lspin: LspinNetwork
    mlp: MlpNetwork
    lspin_reference_regime: LspinNetwork
    baselines: Baselines
    tuning: NetworkTuning
    soft_voting: SoftVoting
    interpretation: Interpretation
    explanation: Explanation
