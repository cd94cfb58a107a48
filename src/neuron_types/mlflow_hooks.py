"""A hook that ends what kedro-mlflow leaves of its MLflow run after a pipeline.

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

from kedro.framework.hooks import hook_impl


class EndMlflowRun:
    def __init__(self):
        self._run_before_pipeline = False

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self) -> None:
        mlflow = sys.modules.get("mlflow")  # never imported here: no MLflow, nothing to end
        self._run_before_pipeline = mlflow is not None and mlflow.active_run() is not None

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        mlflow = sys.modules.get("mlflow")
        if mlflow is None or self._run_before_pipeline:
            return  # a run opened before the session is its opener's to end (kedro-mlflow's rule)
        while mlflow.active_run() is not None:
            mlflow.end_run()
