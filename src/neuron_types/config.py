"""Typed parameters: one pydantic model per section of ``conf/base/parameters_*.yml``.

Each node takes the section it reads, annotated with its model here, so that Kedro's own
parameter validation (``kedro.validation``) builds and checks the model before the first
node runs. This module is the only place a constraint is stated; the values, defaults
included, live in conf/base alone (the models carry none, except the options of a DANN
model entry, which the YAML documents as optional).

A failed check raises :class:`~neuron_types.errors.ParameterError` with one line per
problem, ``parameters_dann.yml, dann.training.patience: got 'ten' (str); expected an
integer >= 1``; a misspelt key gets a "did you mean". Kedro-free: a notebook validates a
section with ``DannParams.model_validate(params)``.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from neuron_types.cells import HUMAN, MOUSE, Species
from neuron_types.errors import ParameterError


def _distinct(items: list) -> list:
    if len(set(map(repr, items))) != len(items):
        raise ValueError("items must be distinct")
    return items


# Marks a list whose items must be distinct (read by the messages, below).
DISTINCT = AfterValidator(_distinct)
Count = Annotated[int, Field(ge=1)]
Units = Annotated[list[Count], Field(min_length=1)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Names = Annotated[list[str], Field(min_length=1), DISTINCT]


class Section(BaseModel):
    """Strict (``epochs: ten`` and ``dropout: "0.2"`` are errors), closed (unknown keys are
    errors) and frozen. A top-level section names its key and file for the messages."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    key: ClassVar[str] = ""
    conf_file: ClassVar[str] = ""

    @classmethod
    def model_validate(cls, obj: Any, *args, **kwargs):
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as error:
            raise ParameterError(parameter_problems(cls, error)) from None


# --- ingestion ---------------------------------------------------------------------------
class ValueRange(Section):
    """``[lowest, highest]`` accepted for ``columns`` (in ``unit``)."""

    unit: str
    range: Annotated[list[float], Field(min_length=2, max_length=2)]
    columns: Names

    @model_validator(mode="after")
    def _ordered(self):
        if not self.range[0] < self.range[1]:
            raise ValueError(f"range: got {self.range}; expected [lowest, highest] with lowest < highest")
        return self


class KnownValues(Section):
    dendrite_type: Names
    reporter_status: Names


class IngestionParams(Section):
    key: ClassVar[str] = "ingestion"
    conf_file: ClassVar[str] = "parameters_ingestion.yml"

    species_names: Annotated[dict[str, Species], Field(min_length=1)]
    ephys_boolean_columns: list[str]
    known_values: KnownValues
    value_ranges: list[ValueRange]

    @property
    def ranges(self) -> dict[str, tuple[float, float, str]]:
        """column -> (lowest, highest, unit)."""
        return {column: (*entry.range, entry.unit) for entry in self.value_ranges for column in entry.columns}


# --- feature engineering -----------------------------------------------------------------
class CreLine(Section):
    neurotransmitter: str
    subclass: str


class Cohort(Section):
    cell_classes: dict[str, Literal["excitatory", "inhibitory"]]
    class_neurotransmitter: dict[Literal["excitatory", "inhibitory"], str]
    cre_lines: dict[str, CreLine]


class Features(Section):
    noise_spike: Names
    precomputed: Names

    @property
    def names(self) -> list[str]:
        """The model's input columns, in a fixed order: noise-sweep features then precomputed."""
        return [*self.noise_spike, *self.precomputed]


# the protocols of neuron_types.splits.make_splits (not imported: it loads scikit-learn)
SplitProtocol = Literal["donor_grouped_cv", "cell_level_cv", "random_splits"]


class Splits(Section):
    """``donor_grouped_cv`` / ``cell_level_cv``: ``len(seeds)`` repeats of ``n_folds``-fold
    cross-validation, by donor / by cell; ``random_splits``: one random split per seed with
    ``test_fraction`` of the cells as test cells (the only protocol that reads it)."""

    protocol: SplitProtocol
    n_folds: Annotated[int, Field(ge=2)]
    seeds: Annotated[list[int], Field(min_length=1), DISTINCT]
    test_fraction: Fraction
    validation_fraction: Fraction
    ei_strata: Names
    subclass_strata: Names

    @model_validator(mode="after")
    def _room_for_training(self):
        if self.protocol == "random_splits" and self.validation_fraction >= 1 - self.test_fraction:
            raise ValueError(
                f"validation_fraction: got {self.validation_fraction}; expected less than 1 - "
                f"test_fraction ({1 - self.test_fraction:g}) with protocol random_splits, so that "
                "training cells remain"
            )
        if self.protocol == "random_splits" and len(self.seeds) < 2:
            raise ValueError(f"seeds: got {self.seeds}; expected at least 2 with protocol random_splits "
                             "(an interval needs two splits)")
        if self.protocol != "random_splits" and self.validation_fraction >= 1 - 1 / self.n_folds:
            raise ValueError(
                f"validation_fraction: got {self.validation_fraction}; expected less than 1 - "
                f"1/n_folds ({1 - 1 / self.n_folds:.3g}) with protocol {self.protocol}, so that "
                "training cells remain (test_fraction is read by random_splits only)"
            )
        return self


class FeatureEngineeringParams(Section):
    key: ClassVar[str] = "feature_engineering"
    conf_file: ClassVar[str] = "parameters_feature_engineering.yml"

    cohort: Cohort
    subclass_names: Annotated[list[str], Field(min_length=2), DISTINCT]
    features: Features
    splits: Splits

    @model_validator(mode="after")
    def _subclasses_named(self):
        named = {line.subclass for line in self.cohort.cre_lines.values()}
        unknown = sorted(named - set(self.subclass_names))
        if unknown:
            raise ValueError(
                f"cohort.cre_lines: subclasses {unknown} are not in subclass_names; expected "
                f"one of {self.subclass_names}"
            )
        overlap = sorted(set(self.features.noise_spike) & set(self.features.precomputed))
        if overlap:
            raise ValueError(f"features: {overlap} listed both as noise_spike and precomputed; "
                             "expected each feature once")
        return self


# --- dann --------------------------------------------------------------------------------
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



class DannNetwork(Section):
    hidden_units: Units
    activation: str
    dropout: Annotated[float, Field(ge=0, lt=1)]
    l2: Annotated[float, Field(ge=0)]
    domain_hidden_units: list[Count]
    domain_input_norm: bool


SpeciesList = Annotated[list[Species], Field(min_length=1), DISTINCT]


class DannModel(Section):
    """One model of the excitatory/inhibitory comparison; see parameters_dann.yml."""

    domain_head: bool
    train_species: SpeciesList = [MOUSE, HUMAN]
    labelled_species: SpeciesList = [MOUSE, HUMAN]
    species_feature: bool = False
    balance_label_species: bool = False
    conditioning: Literal["none", "cdan"] = "none"
    reweighting: Literal["none", "em", "bbse"] = "none"
    prior_adjusted: bool = False

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


class ShapSettings(Section):
    split: Annotated[int, Field(ge=0)]
    background_cells: Count
    samples: Count
    top_features: Count


class DannParams(Section):
    key: ClassVar[str] = "dann"
    conf_file: ClassVar[str] = "parameters_dann.yml"

    seed: Annotated[int, Field(ge=0)]
    class_names: Annotated[list[str], Field(min_length=2, max_length=2), DISTINCT]
    network: DannNetwork
    training: DannTrainingConfig
    models: Annotated[dict[str, DannModel], Field(min_length=1)]
    target_prior_model: str
    export: DannExport
    logistic_regression: LogisticRegressionGrid
    shap: ShapSettings

    @model_validator(mode="after")
    def _names_refer_to_models(self):
        wanted = {
            "target_prior_model": (self.target_prior_model, "baseline",
                                   "a model without domain head that never sees a human label"),
            "export.supervised": (self.export.supervised, "supervised", "a supervised DANN"),
            "export.unsupervised": (self.export.unsupervised, "unsupervised", "an unsupervised DANN"),
        }
        for path, (name, kind, what) in wanted.items():
            fitting = sorted(n for n, m in self.models.items() if m.kind == kind
                             and (kind != "baseline" or m.never_sees_target_labels))
            if name not in fitting:
                raise ValueError(f"{path}: got {name!r}{did_you_mean(name, fitting)}; expected {what} "
                                 f"of dann.models, one of {fitting}")
        return self

    def of_kind(self, kind: str) -> dict[str, DannModel]:
        return {name: model for name, model in self.models.items() if model.kind == kind}


# --- lspin -------------------------------------------------------------------------------
class LspinTrainingConfig(TrainingConfig):
    """The reference trained with SGD, lr 0.0599, 1000 epochs; early stopping is checked
    every ``check_every`` epochs on ``monitor``."""

    optimizer: Literal["sgd", "adam"]
    weight_decay: Annotated[float, Field(ge=0)]
    check_every: Count
    monitor: Literal["val_cross_entropy", "val_accuracy"]
    balance_classes: bool


class LspinModelConfig(Section):
    gating_units: Units
    prediction_units: Units
    activation: str
    sigma: Annotated[float, Field(gt=0)]
    lambda1: Annotated[float, Field(ge=0)]
    lambda2: Annotated[float, Field(ge=0)]
    similarity_kernel: Literal["label", "rbf"]
    rbf_bandwidth: Annotated[float, Field(gt=0)]


class MlpModelConfig(Section):
    prediction_units: Units
    activation: str


class LspinNetwork(Section):
    model: LspinModelConfig
    training: LspinTrainingConfig
    ensemble_members: Count


class MlpNetwork(Section):
    model: MlpModelConfig
    training: LspinTrainingConfig
    ensemble_members: Count


Grid = Annotated[dict[str, Annotated[list[Any], Field(min_length=1)]], Field(min_length=1)]


class BaselineGrids(Section):
    """Each classifier's own hyperparameter names -> candidate values."""

    random_forest: Grid
    svc: Grid
    xgboost: Grid
    logistic_regression: Grid


# the tuned classical baselines of the subclass task, in the order the pipeline runs them
SKLEARN_BASELINES = ("random_forest", "svc", "xgboost", "logistic_regression")


class Baselines(Section):
    cv_folds: Annotated[int, Field(ge=2)]
    scoring: Literal["f1_macro", "accuracy", "balanced_accuracy"]
    n_jobs: int
    grids: BaselineGrids


class Interpretation(Section):
    top_features: Count
    open_gate_threshold: Annotated[float, Field(ge=0, le=1)]


class LspinParams(Section):
    key: ClassVar[str] = "lspin"
    conf_file: ClassVar[str] = "parameters_lspin.yml"

    seed: Annotated[int, Field(ge=0)]
    lspin: LspinNetwork
    mlp: MlpNetwork
    baselines: Baselines
    interpretation: Interpretation


# --- reporting ---------------------------------------------------------------------------
class ReportingTask(Section):
    title: str
    source: Literal["dann_metrics", "lspin_metrics"]
    species: SpeciesList
    table_metrics: Names
    figure_metrics: Names


class Reference(Section):
    citation: str
    protocol: str
    row_note: str
    # task -> model as the paper names it -> test species -> metric -> value
    results: dict[str, dict[str, dict[Species, dict[str, Annotated[float, Field(ge=0, le=1)]]]]]


class PairedComparison(Section):
    """Model ``a`` against model ``b`` on ``metric`` of ``species``' test cells of ``task``."""

    a: str
    b: str
    task: Literal["ei", "subclass"]
    species: Species
    metric: str


class ReportingParams(Section):
    key: ClassVar[str] = "reporting"
    conf_file: ClassVar[str] = "parameters_reporting.yml"

    tasks: Annotated[dict[Literal["ei", "subclass"], ReportingTask], Field(min_length=1)]
    metric_labels: dict[str, str]
    model_labels: dict[str, str]
    reference: Reference
    comparisons: Annotated[list[PairedComparison], DISTINCT]

    @model_validator(mode="after")
    def _reference_matches_tasks(self):
        for i, comparison in enumerate(self.comparisons):
            where = f"comparisons[{i}]"
            if comparison.a == comparison.b:
                raise ValueError(f"{where}.b: got {comparison.b!r}, the same model as a; expected two models")
            if comparison.task not in self.tasks:
                raise ValueError(f"{where}.task: got {comparison.task!r}; expected one of reporting.tasks "
                                 f"{sorted(self.tasks)}")
            if comparison.species not in self.tasks[comparison.task].species:
                raise ValueError(f"{where}.species: got {comparison.species!r}; expected a species of "
                                 f"reporting.tasks.{comparison.task}.species {self.tasks[comparison.task].species}")
        for task, models in self.reference.results.items():
            if task not in self.tasks:
                raise ValueError(f"reference.results.{task}: unknown task{did_you_mean(task, list(self.tasks))};"
                                 f" expected one of reporting.tasks {sorted(self.tasks)}")
            for model, per_species in models.items():
                for species in per_species:
                    if species not in self.tasks[task].species:
                        raise ValueError(f"reference.results.{task}.{model}.{species}: expected a species "
                                         f"of reporting.tasks.{task}.species {self.tasks[task].species}")
        return self


SECTIONS: dict[str, type[Section]] = {
    section.key: section
    for section in (IngestionParams, FeatureEngineeringParams, DannParams, LspinParams, ReportingParams)
}


# --- messages ----------------------------------------------------------------------------
def did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parameter_problems(model: type[Section], error: ValidationError) -> str:
    """One line for every problem pydantic found, each naming the parameter's path, the
    value given and what the model expects there."""
    problems = [_problem(model, item) for item in error.errors(include_url=False)]
    prefix = f"{model.conf_file}, " if model.conf_file else ""
    if len(problems) == 1:
        return prefix + problems[0]
    return f"{prefix}{len(problems)} parameter problems: " + "; ".join(problems)


def _path(model: type[Section], loc: tuple) -> str:
    path = model.key
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _problem(model: type[Section], item: dict) -> str:
    loc = tuple(item["loc"])
    kind = item["type"]
    if kind in ("value_error", "assertion_error") and "error" in item.get("ctx", {}):
        message = str(item["ctx"]["error"])
        if message == "items must be distinct":
            return f"{_path(model, loc)}: got {_describe_value(item['input'])}; expected distinct items"
        return f"{_path(model, loc)}.{message}" if _path(model, loc) else message
    parent, annotation = _locate(model, loc)
    if kind == "extra_forbidden":
        known = sorted(parent.model_fields) if _is_model(parent) else []
        return (f"{_path(model, loc)}: unknown key{did_you_mean(loc[-1], known)}; expected one of {known}")
    if kind == "missing":
        return f"{_path(model, loc)}: missing; expected {describe(annotation)}"
    return f"{_path(model, loc)}: got {_describe_value(item['input'])}; expected {describe(annotation)}"


def _is_model(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _strip(annotation):
    """``(bare type, constraints)`` of an ``Annotated`` type; optional unions unwrapped."""
    metadata = []
    while True:
        if get_origin(annotation) is Annotated:
            annotation, *extra = get_args(annotation)
            metadata.extend(extra)
        elif get_origin(annotation) in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            annotation = options[0] if len(options) == 1 else annotation
            if len(options) != 1:
                return annotation, metadata
        else:
            return annotation, metadata


def _flat_metadata(metadata) -> list:
    flat = []
    for item in metadata:
        inner = getattr(item, "metadata", None)
        flat.extend(inner if isinstance(inner, list) else [item])
    return flat


def _locate(model: type[Section], loc: tuple):
    """The model class holding the last key of ``loc``, and the annotation found at ``loc``."""
    parent, annotation = model, model
    for part in loc:
        bare, _ = _strip(annotation)
        if _is_model(bare):
            parent = bare
            if part not in bare.model_fields:
                return parent, Any
            field = bare.model_fields[part]
            annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        elif get_origin(bare) in (dict, list):
            args = get_args(bare)
            annotation = args[-1] if args else Any
        else:
            return parent, annotation
    return parent, annotation


def describe(annotation) -> str:
    """What a value of ``annotation`` is, in words: ``a number > 0 and < 1``."""
    bare, metadata = _strip(annotation)
    constraints = _flat_metadata(metadata)
    bounds = [f"{symbol} {getattr(c, attr)}" for c in constraints
              for kind, symbol, attr in ((annotated_types.Gt, ">", "gt"), (annotated_types.Ge, ">=", "ge"),
                                         (annotated_types.Lt, "<", "lt"), (annotated_types.Le, "<=", "le"))
              if isinstance(c, kind)]
    if _is_model(bare):
        return f"a mapping with keys {sorted(bare.model_fields)}"
    if get_origin(bare) is Literal:
        return f"one of {list(get_args(bare))}"
    origin = get_origin(bare)
    if origin in (list, dict):
        lengths = [c for c in constraints if isinstance(c, annotated_types.MinLen | annotated_types.MaxLen)]
        size = ""
        low = next((c.min_length for c in lengths if isinstance(c, annotated_types.MinLen)), 0)
        high = next((c.max_length for c in lengths if isinstance(c, annotated_types.MaxLen)), None)
        if high is not None and high == low:
            size = f" of {low} "
        elif low == 1:
            size = " non-empty "
        elif low > 1:
            size = f" of at least {low} "
        noun = "list" if origin is list else "mapping"
        distinct = " of distinct items" if origin is list and any(m is DISTINCT for m in metadata) else ""
        head = f"a{'n' if size.strip().startswith(('o', 'a')) else ''}{size or ' '}{noun}{distinct}".replace("  ", " ")
        item = get_args(bare)[-1] if get_args(bare) else Any
        if item is Any:
            return head
        return f"{head}, each {'value ' if origin is dict else ''}{describe(item)}"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    text = names.get(bare, "a value")
    return f"{text} {' and '.join(bounds)}" if bounds else text


def _describe_value(value) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({type(value).__name__})"

