"""``parameters_ingestion.yml``: what the ACTD tables must hold."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, model_validator

from neuron_types.cells import Species
from neuron_types.config.base import Names, Section


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
