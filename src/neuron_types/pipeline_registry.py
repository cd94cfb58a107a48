"""Project pipelines.

Each model pipeline is registered together with the pipelines that build its inputs, so
that ``kedro run --pipeline=dann`` (or ``lspin``) works on a fresh clone from the raw dump.
"""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

DATA_PIPELINES = ("ingestion", "feature_engineering")
MODEL_PIPELINES = ("dann", "lspin")


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    data = sum((pipelines[name] for name in DATA_PIPELINES if name in pipelines), Pipeline([]))
    for name in MODEL_PIPELINES:
        if name in pipelines:
            pipelines[f"{name}_only"] = pipelines[name]
            pipelines[name] = data + pipelines[name]
    pipelines["__default__"] = sum(pipelines.values(), Pipeline([]))
    return pipelines
