"""``parameters_predict.yml``: classifying new cells with the trained models (``predict``)
and the calibration report of those models (``calibration_report``)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from neuron_types.cells import Species
from neuron_types.config.base import DISTINCT, Count, Fraction, Section


class ConformalSettings(Section):
    """Split-conformal prediction sets of excitatory/inhibitory, at ``coverage``."""

    coverage: Fraction
    # one quantile per species (Mondrian conformal): coverage holds for each species, not
    # only on average over the calibration cells' species mix
    per_species: bool


class OodSettings(Section):
    """Mahalanobis distance in the model's scaled feature space (Ledoit-Wolf covariance)."""

    quantile: Fraction


class PredictParams(Section):
    key: ClassVar[str] = "predict"
    conf_file: ClassVar[str] = "parameters_predict.yml"

    species: Species | None
    passthrough_columns: Annotated[list[str], DISTINCT]
    missing_features: Literal["reject", "skip"]
    temperature_share: Fraction
    seed: Annotated[int, Field(ge=0)]
    conformal: ConformalSettings
    ood: OodSettings
    reliability_bins: Count
