"""``parameters_dann.yml``: the mouse -> human excitatory/inhibitory networks and baselines."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from neuron_types.cells import HUMAN, MOUSE, Species
from neuron_types.config.base import DISTINCT, Count, Section, Units, did_you_mean, of_run


class TrainingConfig(Section):
    """How a network is optimised; early stopping restores the best validation weights."""

    batch_size: Count
    max_epochs: Count
    patience: Count
    learning_rate: Annotated[float, Field(gt=0)]


class DannTrainingConfig(TrainingConfig):
    """``lambda_schedule``: ``constant`` (``lambda_max`` throughout) or ``ganin``
    (Ganin et al.'s rise to ``lambda_max`` over ``schedule_epochs``)."""

    min_epochs: Count
    lambda_max: Annotated[float, Field(ge=0)]
    lambda_schedule: Literal["constant", "ganin"]
    schedule_epochs: Count
    domain_loss_weight: Annotated[float, Field(ge=0)]

    @model_validator(mode="after")
    def _min_below_max(self):
        if self.min_epochs > self.max_epochs:
            raise ValueError(f"min_epochs: got {self.min_epochs}; expected at most max_epochs "
                             f"({self.max_epochs})")
        return self



class GatingNetwork(Section):
    """LSPIN's gating network in front of a DANN's feature extractor (``dann.gating``): per-cell
    gates ``clip(0.5 + mu(x) + eps, 0, 1)`` on the standardised features, ``eps ~ N(0,
    sigma^2)`` while training, ``lambda1`` times the expected share of open gates in the loss."""

    gating_units: Units
    activation: str
    sigma: Annotated[float, Field(gt=0)]
    lambda1: Annotated[float, Field(ge=0)]


class DannNetwork(Section):
    hidden_units: Units
    activation: str
    dropout: Annotated[float, Field(ge=0, lt=1)]
    l2: Annotated[float, Field(ge=0)]
    domain_hidden_units: list[Count]
    domain_input_norm: bool
    # set from dann.gating for a model with ``gated: true`` (DannParams.settings_of)
    gating: GatingNetwork | None = None


SpeciesList = Annotated[list[Species], Field(min_length=1), DISTINCT]
# features an entry leaves out of feature_names (checked against that list where it is read)
FeatureNames = Annotated[list[str], DISTINCT]


class DannModel(Section):
    """One model of the excitatory/inhibitory comparison; see parameters_dann.yml."""

    domain_head: bool
    train_species: SpeciesList = [MOUSE, HUMAN]
    labelled_species: SpeciesList = [MOUSE, HUMAN]
    species_feature: bool = False
    balance_label_species: bool = False
    conditioning: Literal["none", "cdan"] = "none"
    reweighting: Literal["none", "em", "em_calibrated", "bbse"] = "none"
    prior_adjusted: bool = False
    without_features: FeatureNames = []
    gated: bool = False
    ensemble_members: Count = 1
    imputation: Literal["none", "mean"] = "none"
    # trained only by the full study (kedro run --pipeline=study), not the default run
    study: bool = False

    @model_validator(mode="after")
    def _consistent(self):
        if not set(self.labelled_species) <= set(self.train_species):
            raise ValueError(f"labelled_species: got {self.labelled_species}; expected species among "
                             f"train_species {self.train_species}")
        if self.reweighting != "none" and not self.domain_head:
            raise ValueError(f"reweighting: got {self.reweighting!r}; expected 'none' for a model "
                             "without domain head (only a domain loss can be reweighted)")
        if self.conditioning != "none" and not self.domain_head:
            raise ValueError(f"conditioning: got {self.conditioning!r}; expected 'none' for a model "
                             "without domain head")
        if self.gated and not self.domain_head:
            raise ValueError("gated: got true; expected false for a model without domain head (the gating "
                             "network is the reference's future-work DANN: gates feeding a DANN's shared layers)")
        if self.prior_adjusted and not self.never_sees_target_labels:
            raise ValueError("prior_adjusted: got true; expected false for a model that sees human "
                             "labels (only a model that never does estimates the human prior)")
        return self

    @property
    def never_sees_target_labels(self) -> bool:
        return HUMAN not in self.labelled_species

    @property
    def kind(self) -> Literal["baseline", "supervised", "unsupervised"]:
        """``baseline``: no domain head; ``supervised`` / ``unsupervised``: a DANN that may /
        may not use human labels."""
        if not self.domain_head:
            return "baseline"
        return "unsupervised" if self.never_sees_target_labels else "supervised"


class DannExport(Section):
    split: Annotated[int, Field(ge=0)]
    supervised: str
    unsupervised: str


class LogisticRegressionGrid(Section):
    c_grid: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)]


class SimpleModel(Section):
    """One logistic regression of ``dann.simple_models``; see parameters_dann.yml."""

    labelled_species: SpeciesList
    normalisation: Literal["standard", "quantile", "per_species", "prior_matched"]
    species_feature: bool = False
    prior_correction: Literal["none", "em"] = "none"
    calibration: Literal["none", "temperature"] = "none"
    target_pool: Literal["train_validation", "transductive"] = "train_validation"
    without_features: FeatureNames = []
    imputation: Literal["none", "median", "mean"] = "none"
    # fitted only by the full study (kedro run --pipeline=study), not the default run
    study: bool = False

    @model_validator(mode="after")
    def _consistent(self):
        if self.species_feature and len(self.labelled_species) < 2:
            raise ValueError("species_feature: got true; expected false for a model trained on one species "
                             "(the indicator would be constant on its training cells)")
        if self.prior_correction != "none" and not self.never_sees_target_labels:
            raise ValueError(f"prior_correction: got {self.prior_correction!r}; expected 'none' for a model that "
                             "sees human labels (only a model that never does estimates the human prior)")
        if self.calibration != "none" and not self.estimates_target_prior:
            raise ValueError(f"calibration: got {self.calibration!r}; expected 'none' for a model that "
                             "estimates no human prior (temperature scaling is applied before that estimate)")
        if self.target_pool == "transductive" and not self.estimates_target_prior:
            raise ValueError("target_pool: got 'transductive'; expected 'train_validation' for a model that "
                             "estimates no human prior (the pool is read only by that estimate)")
        return self

    @property
    def never_sees_target_labels(self) -> bool:
        return HUMAN not in self.labelled_species

    @property
    def estimates_target_prior(self) -> bool:
        return self.never_sees_target_labels and (self.prior_correction != "none"
                                                  or self.normalisation == "prior_matched")


class SimpleModels(Section):
    """The simple models every deep model is paired against (``dann.simple_models``)."""

    c_grid: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)]
    max_quantiles: Count
    models: Annotated[dict[str, SimpleModel], Field(min_length=1)]


class ShapSettings(Section):
    split: Annotated[int, Field(ge=0)]
    background_cells: Count
    samples: Count
    top_features: Count


class UnsupervisedSettings(Section):
    """What every unsupervised DANN uses in place of ``training``'s and ``network``'s values:
    settings chosen without any human label (benchmarks/unsupervised_selection.py, whose
    record is benchmarks/results/unsupervised_selection.json)."""

    lambda_max: Annotated[float, Field(ge=0)]
    patience: Count
    domain_hidden_units: list[Count]


class DannParams(Section):
    key: ClassVar[str] = "dann"
    conf_file: ClassVar[str] = "parameters_dann.yml"

    seed: Annotated[int, Field(ge=0)]
    n_jobs: Count  # worker processes training a node's models side by side
    class_names: Annotated[list[str], Field(min_length=2, max_length=2), DISTINCT]
    network: DannNetwork
    gating: GatingNetwork
    training: DannTrainingConfig
    unsupervised: UnsupervisedSettings
    models: Annotated[dict[str, DannModel], Field(min_length=1)]
    target_prior_model: str
    export: DannExport
    logistic_regression: LogisticRegressionGrid
    simple_models: SimpleModels
    shap: ShapSettings

    @model_validator(mode="after")
    def _names_refer_to_models(self):
        wanted = {
            "target_prior_model": (self.target_prior_model, "baseline",
                                   "a model without domain head that never sees a human label"),
            "export.supervised": (self.export.supervised, "supervised",
                                  "a single-network supervised DANN that reads every feature, none imputed"),
            "export.unsupervised": (self.export.unsupervised, "unsupervised",
                                    "a single-network unsupervised DANN that reads every feature, none imputed"),
        }
        clashing = sorted(set(self.models) & set(self.simple_models.models))
        if clashing:
            raise ValueError(f"simple_models.models: got {clashing}, names of dann.models too; expected "
                             "names of their own (each names a row of the tables)")
        for path, (name, kind, what) in wanted.items():
            # an exported model reads every feature of feature_names: what a user's cells bring
            # both runs train it: the default run trains no study entry
            fitting = sorted(n for n, m in self.models.items() if m.kind == kind and not m.study
                             and (kind != "baseline" or m.never_sees_target_labels)
                             and (not path.startswith("export.") or (not m.without_features
                                                                     and m.ensemble_members == 1
                                                                     and m.imputation == "none")))
            if name not in fitting:
                raise ValueError(f"{path}: got {name!r}{did_you_mean(name, fitting)}; expected {what} "
                                 f"of dann.models, one of {fitting}")
        return self

    def settings_of(self, model: DannModel) -> tuple[DannNetwork, DannTrainingConfig]:
        """The network and training settings ``model`` trains with: ``unsupervised``'s in
        place of the shared ones for an unsupervised DANN, and ``gating`` in front of the
        feature extractor of a ``gated`` model."""
        network = self.network.model_copy(update={"gating": self.gating}) if model.gated else self.network
        if model.kind != "unsupervised":
            return network, self.training
        chosen = self.unsupervised
        return (network.model_copy(update={"domain_hidden_units": chosen.domain_hidden_units}),
                self.training.model_copy(update={"lambda_max": chosen.lambda_max, "patience": chosen.patience}))

    def of_kind(self, kind: str) -> dict[str, DannModel]:
        return {name: model for name, model in self.models.items() if model.kind == kind}

    def for_run(self, study: bool) -> DannParams:
        """These parameters with only the models and simple models the run trains
        (:func:`~neuron_types.config.base.of_run`)."""
        simple = self.simple_models.model_copy(update={"models": of_run(self.simple_models.models, study)})
        return self.model_copy(update={"models": of_run(self.models, study), "simple_models": simple})
