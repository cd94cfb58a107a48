"""Project pipelines.

Each model pipeline is registered together with the pipelines that build its inputs, so
that ``kedro run --pipeline=dann`` (or ``lspin``) works on a fresh clone from the raw dump;
``dann_only`` / ``lspin_only`` reuse model inputs already built.
"""

from __future__ import annotations

import importlib
import pkgutil

from kedro.pipeline import Pipeline

import neuron_types.pipelines as pipelines_package

DATA_PIPELINES = ("ingestion", "feature_engineering")
MODEL_PIPELINES = ("dann", "lspin")


def discover_pipelines() -> dict[str, Pipeline]:
    """Every ``neuron_types.pipelines.<name>`` package's ``create_pipeline()``.

    Kedro's ``find_pipelines`` loads only the names given on the command line, which
    cannot resolve names composed here (``dann`` = data pipelines + ``dann``), so every
    package is loaded. That imports Keras and TensorFlow (the dann and lspin nodes import
    their models at module level): a few seconds on every command, even ``--pipeline=ingestion``.
    """
    found = {}
    for module in pkgutil.iter_modules(pipelines_package.__path__):
        if module.ispkg:
            package = importlib.import_module(f"{pipelines_package.__name__}.{module.name}")
            found[module.name] = package.create_pipeline()
    return found


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = discover_pipelines()
    data = sum((pipelines[name] for name in DATA_PIPELINES if name in pipelines), Pipeline([]))
    for name in MODEL_PIPELINES:
        if name in pipelines:
            pipelines[f"{name}_only"] = pipelines[name]
            pipelines[name] = data + pipelines[name]
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
