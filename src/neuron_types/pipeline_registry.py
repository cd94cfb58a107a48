"""Project pipelines: ``find_pipelines()``, each model pipeline with what builds its inputs.

``kedro run --pipeline=dann`` (or ``lspin``, ``sensitivity``) runs from the raw dump on a
fresh clone, so those are registered with the ingestion and feature-engineering pipelines
in front.
Kedro loads only the pipelines a command names (``--pipelines=ingestion`` imports no model
code, hence no TensorFlow); a model pipeline's upstream is loaded here, since Kedro does
not know of it. To rerun only a model's own nodes on inputs already built, slice by
namespace: ``kedro run --pipeline=dann --namespaces=dann``.
"""

from __future__ import annotations

import importlib

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# run only when asked for, never by a plain `kedro run`: they read a user's table of new
# cells and models trained before (docs/classify_your_own_cells.md)
ON_DEMAND = ("predict", "calibration_report")
UPSTREAM = {
    "dann": ("ingestion", "feature_engineering"),
    "lspin": ("ingestion", "feature_engineering"),
    "sensitivity": ("ingestion", "feature_engineering"),
}


def _create(name: str) -> Pipeline:
    return importlib.import_module(f"neuron_types.pipelines.{name}").create_pipeline()


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    for name, upstream in UPSTREAM.items():
        if name in pipelines:
            inputs = [pipelines[u] if u in pipelines else _create(u) for u in upstream]
            pipelines[name] = sum(inputs, Pipeline([])) + pipelines[name]
    pipelines["__default__"] = sum((p for name, p in pipelines.items() if name not in ON_DEMAND), Pipeline([]))
    return pipelines
