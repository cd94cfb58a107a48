"""Project pipelines: ``find_pipelines()``, each model pipeline with what builds its inputs.

``kedro run --pipeline=dann`` (or ``lspin``, ``sensitivity``) runs from the raw dump on a
fresh clone, so those are registered with the ingestion and feature-engineering pipelines
in front.
Kedro loads only the pipelines a command names (``--pipelines=ingestion`` imports no model
code, hence no TensorFlow); a model pipeline's upstream is loaded here, since Kedro does
not know of it. To rerun only a model's own nodes on inputs already built, slice by
namespace: ``kedro run --pipeline=dann --namespaces=dann``.

A plain ``kedro run`` is the default run: the models and comparisons not marked
``study: true`` in the parameters. ``kedro run --pipeline=study`` is the full study: every
model and comparison declared (README, "The default run and the full study").
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


# the pipelines whose full study trains or compares more than their default run
STUDY = ("dann", "lspin", "reporting")


def _create(name: str, **kwargs) -> Pipeline:
    return importlib.import_module(f"neuron_types.pipelines.{name}").create_pipeline(**kwargs)


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    for name, upstream in UPSTREAM.items():
        if name in pipelines:
            inputs = [pipelines[u] if u in pipelines else _create(u) for u in upstream]
            pipelines[name] = sum(inputs, Pipeline([])) + pipelines[name]
    default = [name for name in pipelines if name not in (*ON_DEMAND, "__default__")]
    pipelines["__default__"] = sum((pipelines[name] for name in default), Pipeline([]))
    pipelines["study"] = sum((_create(name, study=True) if name in STUDY else pipelines[name] for name in default),
                             Pipeline([]))
    return pipelines
