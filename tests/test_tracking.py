"""Experiment tracking (conf/base/mlflow.yml): a `kedro run` of the reporting pipeline in a
throwaway project logs its parameters, the summary's scores and the comparison figures
into the project's own MLflow store, and they read back equal to summary.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from neuron_types.evaluation import summarise_split_metrics
from neuron_types.pipelines.reporting.tracking import tracking_metrics
from tests.params import raw_params
from tests.actd_fixture import PROJECT
from tests.conftest import import_or_skip_unless_ci

mlflow = import_or_skip_unless_ci("mlflow")

VERSION = "2026-01-01T00.00.00.000Z"
METRICS = ["accuracy", "balanced_accuracy", "f1_macro", "precision", "recall"]
# as many repeats and folds as conf/base says, so that reporting finds the counts consistent
SPLIT_PARAMS = raw_params("feature_engineering")["splits"]
SEEDS, K = SPLIT_PARAMS["seeds"], SPLIT_PARAMS["n_folds"]
N_SPLITS = len(SEEDS) * K
# each fold tests 2 of 2 K cells and trains on the rest
SPLITS = pd.DataFrame([{"split": r * K + f, "seed": seed, "repeat": r, "fold": f, "specimen_id": i,
                        "role": "test" if i % K == f else "train", "protocol": "donor_grouped_cv"}
                       for r, seed in enumerate(SEEDS) for f in range(K) for i in range(2 * K)])
# the models conf/base's paired comparisons name, per task
COMPARED = {task: sorted({c[side] for c in raw_params("reporting")["comparisons"] if c["task"] == task
                          for side in ("a", "b")}) for task in ("ei", "subclass")}
# a model name with characters MLflow refuses in a key
ODD_MODEL = "mlp+gates|v2"


def _results(models, species, level, seed):
    rng = np.random.default_rng(seed)
    rows = [{"model": model, "split": k, "species": s, "metric": m,
             "value": float(np.clip(level + rng.normal(0, 0.02), 0, 1))}
            for model in models for s in species for k in range(N_SPLITS) for m, _ in enumerate(METRICS)]
    table = pd.DataFrame(rows).assign(metric=lambda t: [METRICS[i] for i in t["metric"]])
    return summarise_split_metrics(table, SPLITS), table


def _write_version(root, filepath, write):
    path = root / filepath / VERSION / filepath.split("/")[-1]
    path.parent.mkdir(parents=True)
    write(path)


@pytest.fixture
def tracked_run(kedro_project):
    """The reporting pipeline run in a throwaway project, on small model metrics placed
    where the model pipelines write theirs. Returns (project root, summary.json)."""
    root = kedro_project.root
    for name, models, species, level, seed in [
        ("dann", COMPARED["ei"], ["human", "mouse"], 0.93, 0),
        ("lspin", [*COMPARED["subclass"], ODD_MODEL], ["mouse"], 0.87, 1),
    ]:
        summary, table = _results(models, species, level, seed)
        _write_version(root, f"data/08_reporting/{name}_metrics.json",
                       lambda p, s=summary: p.write_text(json.dumps(s)))
        _write_version(root, f"data/08_reporting/{name}_split_metrics.csv",
                       lambda p, t=table: t.to_csv(p, index=False))
    for task in ("ei", "subclass"):
        _write_version(root, f"data/05_model_input/{task}_splits.parquet", SPLITS.to_parquet)
    # no sensitivity analyses here (tests/pipelines/test_sensitivity.py has them)
    _write_version(root, "data/08_reporting/sensitivity_metrics.json", lambda p: p.write_text("{}"))
    kedro_project(pipeline_names=["reporting"])
    return root, json.loads((root / "data/08_reporting/summary.json").read_text())


def test_a_run_logs_summary_metrics_params_and_figures_to_the_local_store(tracked_run, kedro_project):
    from mlflow.tracking import MlflowClient

    root, summary = tracked_run
    store = root / "data/09_tracking/mlflow.db"
    assert store.is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("neuron-types")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "reporting"

    metrics = run.data.metrics
    ours = summary["tasks"]["ei"]["models"]["fcnn_joint"]["human"]["accuracy"]
    assert metrics["summary.ei.fcnn_joint.human.accuracy.mean"] == ours["mean"]
    assert metrics["summary.ei.fcnn_joint.human.accuracy.ci95_lo"] == ours["ci95"][0]
    assert metrics["summary.ei.fcnn_joint.human.accuracy.ci95_hi"] == ours["ci95"][1]
    odd = summary["tasks"]["subclass"]["models"][ODD_MODEL]["mouse"]["recall"]
    assert metrics["summary.subclass.mlp_gates_v2.mouse.recall.mean"] == odd["mean"]
    n_stats = sum(len(per_metric) * 3 for task in summary["tasks"].values()
                  for per_species in task["models"].values() for per_metric in per_species.values())
    assert len([key for key in metrics if key.startswith("summary.")]) == n_stats

    params = run.data.params  # flattened: the parameters the run's nodes read (here reporting's)
    assert params["reporting.tasks.ei.source"] == "dann_metrics"
    assert params["reporting.reference.row_note"] == raw_params("reporting")["reference"]["row_note"]
    assert summary["splits"]["seeds"] == SEEDS

    logged = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    assert logged == {"figures/ei_model_comparison.png", "figures/subclass_model_comparison.png"}
    local = client.download_artifacts(run.info.run_id, "figures/ei_model_comparison.png", str(root))
    (saved,) = (root / "data/08_reporting/ei_model_comparison.png").glob("*/*.png")
    assert open(local, "rb").read() == saved.read_bytes()

    # kedro-mlflow leaves its run active (neuron_types.mlflow_hooks ends it): a second
    # session in this process must open a run of its own, not log into the first
    assert mlflow.active_run() is None
    kedro_project(pipeline_names=["reporting"], params={"reporting": {"tasks": {"ei": {"title": "E/I, again"}}}})
    runs = client.search_runs([experiment.experiment_id])
    assert len({r.info.run_id for r in runs}) == 2
    assert sorted(r.data.params["reporting.tasks.ei.title"] for r in runs) == ["E/I, again", "Excitatory vs inhibitory"]
    assert mlflow.active_run() is None


def _comparison(models):
    return {"tasks": {"subclass": {"models": models}}}


def _stats(mean, lo, hi):
    return {"mean": mean, "std": 0.01, "ci95": [lo, hi], "n_folds": 15, "dof": 14}


def test_tracking_metrics_flattens_mean_and_interval_with_mlflow_safe_keys():
    metrics = tracking_metrics(_comparison({"svc|rbf+scaled": {"mouse": {"f1_macro": _stats(0.8, 0.75, 0.85)}}}))
    assert metrics == {
        "subclass.svc_rbf_scaled.mouse.f1_macro.mean": {"value": 0.8, "step": 0},
        "subclass.svc_rbf_scaled.mouse.f1_macro.ci95_lo": {"value": 0.75, "step": 0},
        "subclass.svc_rbf_scaled.mouse.f1_macro.ci95_hi": {"value": 0.85, "step": 0},
    }
    assert all(math.isfinite(v["value"]) for v in metrics.values())


def test_tracking_metrics_refuses_two_models_that_become_one_key():
    models = {"svc|rbf": {"mouse": {"recall": _stats(0.8, 0.7, 0.9)}},
              "svc+rbf": {"mouse": {"recall": _stats(0.6, 0.5, 0.7)}}}
    with pytest.raises(ValueError, match=r"'subclass/svc\+rbf/mouse/recall' and 'subclass/svc\|rbf/mouse/recall' "
                                         r"both become the MLflow key 'subclass.svc_rbf.mouse.recall'"):
        tracking_metrics(_comparison(models))


def test_mlflow_yml_is_a_valid_kedro_mlflow_config_bound_to_loopback():
    from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig

    from omegaconf import OmegaConf

    from neuron_types.settings import project_path

    raw = OmegaConf.create((PROJECT / "conf/base/mlflow.yml").read_text())
    if not OmegaConf.has_resolver("project_path"):
        OmegaConf.register_new_resolver("project_path", project_path)
    config = KedroMlflowConfig.model_validate(OmegaConf.to_container(raw, resolve=True))
    assert config.server.mlflow_tracking_uri == f"sqlite:///{PROJECT.resolve().as_posix()}/data/09_tracking/mlflow.db"
    assert config.ui.host == "127.0.0.1"
    assert config.tracking.experiment.name == "neuron-types"
    assert config.tracking.params.dict_params.flatten and config.tracking.params.long_params_strategy != "fail"

