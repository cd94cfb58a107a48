"""``parameters_sensitivity.yml``: the models that score every sensitivity variant."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from neuron_types.config.base import DISTINCT, Count, Section, did_you_mean
from neuron_types.config.lspin import SKLEARN_BASELINES, Grid

# logistic_regression: both species' labels; logistic_regression_source_only: mouse labels
# only, C chosen on mouse validation cells (no human label anywhere)
EiSensitivityModel = Literal["logistic_regression", "logistic_regression_source_only"]


class EiSensitivity(Section):
    models: Annotated[list[EiSensitivityModel], Field(min_length=1), DISTINCT]
    c_grid: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1), DISTINCT]


class SubclassSensitivity(Section):
    models: Annotated[list[Literal[SKLEARN_BASELINES]], Field(min_length=1), DISTINCT]
    cv_folds: Annotated[int, Field(ge=2)]
    scoring: Literal["f1_macro", "accuracy", "balanced_accuracy"]
    n_jobs: Count  # worker processes over the splits
    grids: dict[str, Grid]

    @model_validator(mode="after")
    def _a_grid_per_model(self):
        for name in self.grids:
            if name not in self.models:
                raise ValueError(f"grids.{name}: not a model of models {self.models}{did_you_mean(name, self.models)}")
        missing = [name for name in self.models if name not in self.grids]
        if missing:
            raise ValueError(f"grids: no grid for {missing}; expected one per model of models")
        return self


class SensitivityParams(Section):
    key: ClassVar[str] = "sensitivity"
    conf_file: ClassVar[str] = "parameters_sensitivity.yml"

    seed: Annotated[int, Field(ge=0)]
    ei: EiSensitivity
    subclass: SubclassSensitivity
