"""Typed parameters: one pydantic model per section of ``conf/base/parameters_*.yml``.

Each node takes the section it reads, annotated with its model here, so that Kedro's own
parameter validation (``kedro.validation``) builds and checks the model before the first
node runs. This package is the only place a constraint is stated; the values, defaults
included, live in conf/base alone (the models carry none, except the options of a DANN
model entry, which the YAML documents as optional).

A failed check raises :class:`~neuron_types.errors.ParameterError` with one line per
problem, ``parameters_dann.yml, dann.training.patience: got 'ten' (str); expected an
integer >= 1``; a misspelt key gets a "did you mean". Kedro-free: a notebook validates a
section with ``DannParams.model_validate(params)``.
"""

from neuron_types.config.base import Section, did_you_mean, describe, parameter_problems
from neuron_types.config.dann import (
    DannExport, DannModel, DannNetwork, DannParams, DannTrainingConfig, LogisticRegressionGrid,
    ShapSettings, SimpleModel, SimpleModels, SpeciesList, TrainingConfig, UnsupervisedSettings,
)
from neuron_types.config.feature_engineering import (
    Cohort, CreLine, FeatureEngineeringParams, Features, SensitivityVariant, SplitProtocol, Splits, Task,
)
from neuron_types.config.ingestion import IngestionParams, KnownValues, ValueRange
from neuron_types.config.lspin import (
    EXTENDED_BASELINES, IMPUTED_BASELINES, SKLEARN_BASELINES, BaselineGrids, Baselines, Explanation, Interpretation, LspinModelConfig, LspinNetwork,
    LspinParams, LspinTrainingConfig, MlpModelConfig, MlpNetwork, NetworkTuning, TuningSpace,
)
from neuron_types.config.predict import ConformalSettings, OodSettings, PredictParams
from neuron_types.config.reporting import PairedComparison, Reference, ReportingParams, ReportingTask
from neuron_types.config.sensitivity import EiSensitivity, SensitivityParams, SubclassSensitivity

SECTIONS: dict[str, type[Section]] = {
    section.key: section
    for section in (IngestionParams, FeatureEngineeringParams, DannParams, LspinParams, SensitivityParams,
                    ReportingParams, PredictParams)
}
