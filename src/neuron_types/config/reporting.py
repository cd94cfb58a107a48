"""``parameters_reporting.yml``: tables, the reference's numbers and the declared paired comparisons."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from neuron_types.cells import Species
from neuron_types.config.base import DISTINCT, Names, Section, did_you_mean
from neuron_types.config.dann import SpeciesList


class ReportingTask(Section):
    title: str
    source: Literal["dann_metrics", "lspin_metrics"]
    species: SpeciesList
    table_metrics: Names
    figure_metrics: Names
    # the metrics of the task's sensitivity table (summary.md, "Sensitivity analyses")
    sensitivity_metrics: Names


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
    # declared for the full study (kedro run --pipeline=study), whose models it needs
    study: bool = False


class ReportingParams(Section):
    key: ClassVar[str] = "reporting"
    conf_file: ClassVar[str] = "parameters_reporting.yml"

    tasks: Annotated[dict[Literal["ei", "subclass"], ReportingTask], Field(min_length=1)]
    metric_labels: dict[str, str]
    model_labels: dict[str, str]
    reference: Reference
    comparisons: Annotated[list[PairedComparison], DISTINCT]

    def for_run(self, study: bool) -> ReportingParams:
        """These parameters with only the comparisons of the run: Holm's family is the
        comparisons the run declares."""
        return self.model_copy(update={"comparisons": [c for c in self.comparisons if study or not c.study]})

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
