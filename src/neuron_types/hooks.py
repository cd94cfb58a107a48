"""Project hooks: the one-line error of a failed run, the set-aside of its outputs, and
(on request) each node's wall-clock time.

* Every command line ends on one ``neuron-types: <message>`` line when the error is bad
  input (an :class:`~neuron_types.errors.InputError`, or Kedro's parameter validation
  error): no traceback, unless ``NEURON_TYPES_TRACEBACK=1``. Any other error is a bug and
  keeps its traceback, followed by the same line (:mod:`neuron_types.errors`).
* A failed run's dataset versions are moved out of the way, and an interrupted run's on
  the next session; a completed run publishes its summary files to their fixed paths
  (:mod:`neuron_types.runs`).
* Before the first node, a run that reads the raw dump has it checked for what its
  pipelines need (:mod:`neuron_types.preflight`): a bad dump stops before anything is saved.
* A ``--params`` key that no parameters section defines is an error, not a new section
  (Kedro would add it silently): ``--params feature_engineerin.splits.seeds=[1]`` names
  ``feature_engineering``.
* A model pipeline's node imports ``neuron_types.models`` before its inputs load, so that
  the project's custom Keras layers are registered when a saved ``.keras`` model is read
  (``tensorflow.TensorFlowModelDataset`` loads with safe mode).
* With ``NEURON_TYPES_NODE_TIMES=<file>`` set, each node's seconds are appended to that
  file as JSON lines (``benchmarks/run.py`` reads it); unset, nothing is timed.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import yaml
from kedro.framework.hooks import hook_impl

from neuron_types import runs
from neuron_types.config import SECTIONS, did_you_mean
from neuron_types.errors import ParameterError, install_clean_exit, one_line
from neuron_types.preflight import preflight

logger = logging.getLogger("neuron_types")

NODE_TIMES_VARIABLE = "NEURON_TYPES_NODE_TIMES"
MODEL_NAMESPACES = ("dann", "lspin")


def defined_sections(conf_source: Path) -> set[str]:
    """Top-level parameter keys: this project's sections and any other key a parameters file
    of any environment defines (a user's own node may read one)."""
    keys = set(SECTIONS)
    for path in conf_source.glob("*/parameters*.y*ml"):
        content = yaml.safe_load(path.read_text()) or {}
        keys |= set(content) if isinstance(content, dict) else set()
    return keys


def check_runtime_sections(runtime_params: dict[str, Any], known: set[str]) -> None:
    unknown = [key.split(".")[0] for key in runtime_params if key.split(".")[0] not in known]
    if unknown:
        raise ParameterError(f"--params {unknown[0]}: unknown parameter{did_you_mean(unknown[0], known)}; "
                             f"expected one of {sorted(known)}")


class ProjectHooks:
    def __init__(self):
        self._node_started: dict[str, float] = {}
        self._conf_source: Path | None = None
        self._published: dict[str, tuple[str, str]] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        install_clean_exit()
        self._conf_source = Path(context.config_loader.conf_source)
        try:
            runs.recover_interrupted_runs(Path(context.project_path) / "data")
        except OSError as error:  # never stop a session over housekeeping
            logger.warning("could not check for interrupted runs: %s", error)

    @hook_impl
    def after_catalog_created(self, conf_catalog: dict[str, Any]) -> None:
        self._published = runs.published_copies(conf_catalog)

    # first, so that a run refused here has opened nothing (kedro-mlflow starts its run in
    # its own before_pipeline_run, and no error hook follows an error raised here)
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        try:
            runtime = run_params.get("runtime_params") or {}
            if runtime and self._conf_source is not None:
                check_runtime_sections(runtime, defined_sections(self._conf_source))
            preflight(pipeline, catalog)
        except Exception as error:
            logger.error(one_line(error), extra={"markup": False})
            raise
        runs.mark_started(Path(run_params["project_path"]) / "data", run_params["run_id"])

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        project = Path(run_params["project_path"])
        runs.publish(project, run_params["run_id"], self._published)
        runs.mark_finished(project / "data", run_params["run_id"])

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any]) -> None:
        data = Path(run_params["project_path"]) / "data"
        runs.set_aside_versions(data, run_params["run_id"], "failed")
        runs.mark_finished(data, run_params["run_id"])
        # markup off: messages quote values such as [nan] that rich would read as tags
        logger.error(one_line(error), extra={"markup": False})

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node) -> None:
        if node.namespace in MODEL_NAMESPACES:
            import neuron_types.models  # noqa: F401  (registers the custom Keras layers)

    @hook_impl
    def before_node_run(self, node) -> None:
        if os.environ.get(NODE_TIMES_VARIABLE):
            self._node_started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:
        path = os.environ.get(NODE_TIMES_VARIABLE)
        started = self._node_started.pop(node.name, None)
        if path and started is not None:
            with open(path, "a") as file:
                file.write(json.dumps({"node": node.name, "seconds": time.perf_counter() - started}) + "\n")
