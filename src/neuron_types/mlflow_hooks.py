"""kedro-mlflow's hook, adapted to this project: typed parameters logged as their values, and
the run it leaves active ended after a pipeline.

**Typed parameters.** kedro-mlflow 2.0.3 logs a node's ``params:`` inputs and flattens the
ones that are dicts; this project's nodes receive pydantic models (:mod:`neuron_types.config`),
which it would log as one repr string (``reporting: "tasks={'ei': ReportingTask(...``).
:class:`TypedParamsMlflowHook` hands it each model as the dict it was validated from, so the
run records ``reporting.tasks.ei.source`` and so on. It replaces the plugin's own instance
(``DISABLE_HOOKS_FOR_PLUGINS`` in settings.py), which would log the reprs beside.

**Only MLflow datasets are opened at start-up.** kedro-mlflow names an un-prefixed metric
dataset after its catalog entry by iterating ``catalog.items()``, which materialises every
dataset of the catalog, and ``tensorflow.TensorFlowModelDataset`` imports TensorFlow (~4 s)
on a run that trains nothing. The hook gets the MLflow entries only.

**A run left active.**
kedro-mlflow 2.0.3 re-enters its run before every node (``mlflow.start_run(run_id=<its
run>, nested=True)``, for threaded runners); MLflow 3.17 pushes the same run onto its stack
each time, and kedro-mlflow's ``after_pipeline_run`` ends it once. The run therefore stays
active in the process: the next ``KedroSession`` there (a notebook cell, ``kedro ipython``,
the tests) takes it for a run started by an orchestrator, ignores mlflow.yml and logs into
the previous run (``Changing param values is not allowed`` when a parameter differs).
A ``kedro run`` on the command line is one process per run and never sees it.
"""

from __future__ import annotations

import sys

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from pydantic import BaseModel


class _Entries:
    """The few catalog entries kedro-mlflow needs to see, without opening the others."""

    def __init__(self, catalog, names):
        self._catalog, self._names = catalog, names

    def items(self):
        return ((name, self._catalog.get(name)) for name in self._names)

    def __setitem__(self, name, dataset):
        self._catalog[name] = dataset


class TypedParamsMlflowHook(MlflowHook):
    """kedro-mlflow's hook with the two changes above."""

    @hook_impl
    def after_catalog_created(self, catalog, conf_catalog: dict[str, Any], conf_creds, parameters, save_version,
                              load_versions) -> None:
        names = [name for name, entry in conf_catalog.items()
                 if isinstance(entry, dict) and "mlflow" in str(entry.get("type", "")).lower() and name in catalog]
        return super().after_catalog_created(_Entries(catalog, names), conf_catalog, conf_creds, parameters,
                                             save_version, load_versions)

    @hook_impl
    def before_node_run(self, node, catalog, inputs: dict[str, Any], is_async: bool) -> None:
        plain = {name: value.model_dump(mode="json") if isinstance(value, BaseModel) else value
                 for name, value in inputs.items()}
        return super().before_node_run(node=node, catalog=catalog, inputs=plain, is_async=is_async)


class EndMlflowRun:
    def __init__(self):
        self._run_before_pipeline = False

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self) -> None:
        mlflow = sys.modules.get("mlflow")  # never imported here: no MLflow, nothing to end
        self._run_before_pipeline = mlflow is not None and mlflow.active_run() is not None

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        self._end("FINISHED")

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        self._end("FAILED")

    def _end(self, status: str) -> None:
        mlflow = sys.modules.get("mlflow")
        if mlflow is None or self._run_before_pipeline:
            return  # a run opened before the session is its opener's to end (kedro-mlflow's rule)
        while mlflow.active_run() is not None:
            mlflow.end_run(status=status)
