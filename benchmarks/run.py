"""Times neuron-types on the real ACTD dump and writes the figures as JSON.

    .venv/bin/python benchmarks/run.py                  # everything, ~10-15 min on 2 cores
    .venv/bin/python benchmarks/run.py --quick          # no separate per-pipeline runs
    .venv/bin/python benchmarks/run.py --test-suite     # also time `pytest`

Figures (each a number, or null with the reason it could not be measured):

- ``import``: a fresh interpreter importing the package from ``src/`` (no install needed)
  and building its pipeline registry, as ``kedro run`` does;
- ``pipelines``: ``kedro run --pipelines=<name>`` for each pipeline alone, in order, in a
  throwaway copy of the project (so each finds its inputs from the previous one);
- ``full_run``: the plain ``kedro run`` (every pipeline) in a fresh copy, with per-node
  seconds (``NEURON_TYPES_NODE_TIMES``), from which the SHAP and per-split fit times come;
- ``peak``: this machine's float32 matmul rate in TensorFlow (GFLOP/s), measured;
- ``dann``: one DANN fit per split with the project's training loop, steps/s, and the
  fraction of its FLOP floor (6 x parameters x training cells per epoch) against ``peak``;
  beside it a plain Keras ``fit`` of the same network and batch size, and the ratio;
- ``lspin``: the LSPIN fit per split (from the full run's node times);
- ``prediction``: cells per second through the saved, reloaded (safe_mode) models;
- ``load``: the 1-minute load average before and after: other work on the machine slows
  every figure, and this says how much there was.

Results go to ``benchmarks/results/<date>.json`` (``--out`` to change). Nothing here is a
test: the goals (full run <= 300 s, DANN loop >= 2x ``fit``, >= 100,000 cells/s, test
suite <= 300 s on 2 cores) are reported beside the figures, never asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
GOALS = {"full_run_s": 300, "dann_loop_speedup_vs_fit": 2.0, "prediction_cells_per_s": 100_000, "test_suite_s": 300}
# each pipeline's own nodes (its namespace), on the inputs the previous ones wrote
PIPELINE_ORDER = ("ingestion", "feature_engineering", "dann", "lspin", "reporting")


class Unavailable(Exception):
    """A figure that cannot be measured here; the message says why."""


def figure(measure: Callable[[], dict]) -> dict:
    try:
        return measure()
    except Unavailable as reason:
        return {"value": None, "reason": str(reason)}
    except Exception as error:  # one broken figure must not lose the others
        _log(f"  failed: {type(error).__name__}: {error}")
        return {"value": None, "reason": f"failed: {type(error).__name__}: {error}"}


def _log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# --- the machine -----------------------------------------------------------------------

def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), None)
    versions = {}
    for name in ("tensorflow", "keras", "kedro", "numpy", "pandas", "sklearn", "xgboost", "shap"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except Exception:  # a missing optional library is a fact to record, not a failure
            versions[name] = None
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip())
    return {
        "cpu": cpu,
        "cores_available": len(os.sched_getaffinity(0)),
        "memory_mib": memory,
        "python": platform.python_version(),
        "versions": versions,
        "git_commit": commit,
        "git_dirty": dirty,
        "tf_threads": {name: os.environ.get(name) for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")},
    }


def peak_gflops(n: int = 2048, repeats: int = 8, trials: int = 5) -> dict:
    """Best float32 matmul rate of ``trials``, ``repeats`` chained n x n products each."""
    import tensorflow as tf

    a = tf.random.stateless_normal([n, n], seed=[1, 2])
    b = tf.random.stateless_normal([n, n], seed=[3, 4]) / n

    @tf.function(jit_compile=False)
    def chain(a, b):
        x = a
        for _ in range(repeats):
            x = tf.linalg.matmul(x, b)
        return tf.reduce_sum(x)

    chain(a, b).numpy()
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        chain(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return {"gflops": round(2 * n**3 * repeats / best / 1e9, 2), "matrix": n, "method": "tf.linalg.matmul float32, best of 5"}


# --- processes -------------------------------------------------------------------------

def project_copy(folder: Path) -> Path:
    """conf/ (without local/), pyproject.toml and an empty src/: a project whose outputs stay here."""
    shutil.copytree(ROOT / "conf", folder / "conf", ignore=shutil.ignore_patterns("local"))
    (folder / "conf" / "local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")
    (folder / "src").mkdir()
    return folder


def kedro_run(project: Path, actd: Path, pipelines: list[str] | None = None, timeout: int = 3600,
              namespaces: list[str] | None = None) -> dict:
    node_times = project / f"node_times_{'_'.join(pipelines or ['all'])}.jsonl"
    env = {**os.environ, "NEURON_TYPES_ACTD_DIR": str(actd),
           "NEURON_TYPES_NODE_TIMES": str(node_times), "KEDRO_DISABLE_TELEMETRY": "1"}
    command = [PYTHON, "-m", "kedro", "run", *([f"--pipelines={','.join(pipelines)}"] if pipelines else []),
               *([f"--namespaces={','.join(namespaces)}"] if namespaces else [])]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    nodes = {}
    if node_times.is_file():
        for line in node_times.read_text().splitlines():
            record = json.loads(line)
            nodes[record["node"]] = round(nodes.get(record["node"], 0) + record["seconds"], 3)
    result = {"seconds": round(seconds, 2), "exit_code": done.returncode, "node_seconds": nodes}
    if done.returncode:
        result["error"] = (done.stderr.strip().splitlines() or ["(no stderr)"])[-1][:500]
    return result


def import_times(trials: int = 3) -> dict:
    """Fresh interpreters importing from src/ (PYTHONPATH), not from an installed package."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    statements = {
        "python_startup": "pass",
        "neuron_types": "import neuron_types",
        "pipeline_registry": (
            "from kedro.framework.project import configure_project; configure_project('neuron_types');"
            "from neuron_types.pipeline_registry import register_pipelines; register_pipelines()"
        ),
    }
    times = {}
    for name, statement in statements.items():
        best = float("inf")
        for _ in range(trials):
            start = time.perf_counter()
            subprocess.run([PYTHON, "-c", statement], cwd=tempfile.gettempdir(), env=env, check=True)
            best = min(best, time.perf_counter() - start)
        times[f"{name}_s"] = round(best, 3)
    times["method"] = f"wall-clock of a fresh interpreter, best of {trials}; PYTHONPATH=src"
    return times


def registered_pipelines() -> list[str]:
    from kedro.framework.project import configure_project

    configure_project("neuron_types")
    from neuron_types.pipeline_registry import register_pipelines

    return sorted(register_pipelines())


def pipelines_alone(actd: Path, workdir: Path) -> dict:
    available = registered_pipelines()
    project = project_copy(workdir / "pipelines_alone")
    results = {}
    for name in PIPELINE_ORDER:
        if name not in available:
            results[name] = {"value": None, "reason": f"pipeline {name!r} is not registered yet"}
            continue
        _log(f"kedro run --pipelines={name}")
        results[name] = kedro_run(project, actd, [name], namespaces=[name])
        _log(f"  {results[name]['seconds']} s, exit {results[name]['exit_code']}")
    return results


def full_run(actd: Path, project: Path) -> dict:
    _log("kedro run (every pipeline)")
    result = kedro_run(project, actd)
    _log(f"  {result['seconds']} s, exit {result['exit_code']}")
    nodes = result["node_seconds"]
    result["slowest_nodes"] = dict(sorted(nodes.items(), key=lambda kv: -kv[1])[:12])
    result["goal_s"] = GOALS["full_run_s"]
    result["meets_goal"] = result["exit_code"] == 0 and result["seconds"] <= GOALS["full_run_s"]
    return result


def nodes_matching(nodes: dict, *words: str) -> dict:
    return {name: s for name, s in nodes.items() if all(w in name for w in words)}


def shap_seconds(run: dict) -> dict:
    nodes = nodes_matching(run.get("node_seconds", {}), "shap")
    if not nodes:
        raise Unavailable("no node with 'shap' in its name ran in the full run")
    return {"seconds": round(sum(nodes.values()), 2), "nodes": nodes}


def lspin_fits(run: dict) -> dict:
    nodes = nodes_matching(run.get("node_seconds", {}), "train_lspin_split")
    if not nodes:
        raise Unavailable("no train_lspin_split<k> node ran in the full run")
    per_split = dict(sorted(nodes.items()))
    return {
        "seconds_per_split": per_split,
        "mean_s": round(sum(per_split.values()) / len(per_split), 2),
        "what": "node train_lspin_split<k>: the cross-fitted LSPIN ensemble of one split, in the full run",
        "mlp_seconds_per_split": dict(sorted(nodes_matching(run["node_seconds"], "train_mlp_split").items())),
    }


# --- models ----------------------------------------------------------------------------

def latest_version(path: Path) -> Path:
    """The newest ``<path>/<version>/<name>`` Kedro wrote."""
    versions = sorted(p for p in path.glob(f"*/{path.name}") if p.is_file())
    if not versions:
        raise Unavailable(f"no saved version of {path}")
    return versions[-1]


def _throughput(predict: Callable, x, trials: int = 3) -> float:
    predict(x[:1024])  # trace
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        predict(x)
        best = min(best, time.perf_counter() - start)
    return len(x) / best


def prediction(project: Path, n_cells: int) -> dict:
    import numpy as np

    from kedro_datasets.tensorflow import TensorFlowModelDataset

    import neuron_types.models  # noqa: F401  (registers the custom layers)

    models = project / "data" / "06_models"
    rng = np.random.default_rng(0)
    results = {"cells": n_cells, "method": "saved .keras reloaded with safe_mode, traced call, 65,536-cell chunks, best of 3"}
    candidates = {
        "dann": sorted(models.glob("*dann*model*split0.keras")) or sorted(models.glob("*dann*.keras")),
        "lspin": sorted(models.glob("subclass_lspin_model_split0.keras")),
    }
    for name, paths in candidates.items():
        if not paths:
            results[name] = {"value": None, "reason": f"no {name} model in {models}"}
            continue
        model = TensorFlowModelDataset(filepath=str(latest_version(paths[0]))).load()
        predict = _predictor(model)  # the same traced call for every model: comparable figures
        x = rng.normal(size=(n_cells, model.inputs[0].shape[-1] if getattr(model, "inputs", None) else model.n_features)).astype("float32")
        results[name] = {"model": str(paths[0].relative_to(project)), "cells_per_s": round(_throughput(predict, x))}
    measured = [r["cells_per_s"] for r in results.values() if isinstance(r, dict) and r.get("cells_per_s")]
    results["goal_cells_per_s"] = GOALS["prediction_cells_per_s"]
    results["meets_goal"] = bool(measured) and min(measured) >= GOALS["prediction_cells_per_s"]
    return results


def _predictor(model) -> Callable:
    import numpy as np
    import tensorflow as tf

    n_features = model.inputs[0].shape[-1] if getattr(model, "inputs", None) else model.n_features

    @tf.function(input_signature=(tf.TensorSpec([None, n_features], tf.float32),), jit_compile=False)
    def call(x):
        out = model(x, training=False)
        return out["label"] if isinstance(out, dict) else out

    def predict(x, chunk: int = 65536):
        return np.concatenate([call(tf.constant(x[i:i + chunk])).numpy() for i in range(0, len(x), chunk)])

    return predict


def _dann_settings() -> tuple:
    """The 41 features and the typed network and training settings the dann pipeline uses."""
    import yaml

    from neuron_types.config import DannParams, FeatureEngineeringParams

    base = ROOT / "conf" / "base"
    dann = DannParams.model_validate(yaml.safe_load((base / "parameters_dann.yml").read_text())["dann"])
    features = FeatureEngineeringParams.model_validate(
        yaml.safe_load((base / "parameters_feature_engineering.yml").read_text())["feature_engineering"])
    return features.features.names, dann.network, dann.training


def dann_fits(project: Path, peak: dict, epochs: int = 20) -> dict:
    """One DANN fit per split on the split's training cells (the DANN helper's
    ``time_training_loops``: its loop and a plain Keras ``fit``, same network and batch)."""
    import math

    import numpy as np
    import pandas as pd

    from neuron_types.models.networks import build_dann
    from training_loops import time_training_loops

    data = project / "data" / "05_model_input"
    if not list((data / "ei_model_input.parquet").glob("*/ei_model_input.parquet")):
        raise Unavailable("the full run wrote no ei_model_input")
    cells = pd.read_parquet(latest_version(data / "ei_model_input.parquet"))
    splits = pd.read_parquet(latest_version(data / "ei_splits.parquet"))
    features, network, training = _dann_settings()
    batch_size = training.batch_size
    n_parameters = int(sum(np.prod(w.shape) for w in build_dann(len(features), network, 0).trainable_weights))
    per_split = {}
    for split in sorted(splits["split"].unique()):
        train_ids = splits.loc[(splits["split"] == split) & (splits["role"] != "test"), "specimen_id"]
        train = cells[cells["specimen_id"].isin(train_ids)].sample(frac=1.0, random_state=int(split))
        x = train[features].to_numpy("float32")
        x = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-6)  # as the pipeline scales: training rows only
        timing = time_training_loops(x, train["excitatory"].to_numpy("float32"), train["domain"].to_numpy("float32"),
                                     network=network, training=training, epochs=epochs)
        steps = math.ceil(timing["n_cells"] / batch_size)
        epoch_s = timing["trainer_ms_per_epoch"] / 1000
        floor = 6 * n_parameters * timing["n_cells"]
        per_split[int(split)] = {
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in timing.items()},
            "steps_per_s": round(steps / epoch_s, 1),
            "fit_steps_per_s": round(steps / (timing["fit_ms_per_epoch"] / 1000), 1),
            "flop_floor_per_epoch": floor,
            "fraction_of_peak": round(floor / epoch_s / (peak["gflops"] * 1e9), 5) if peak.get("gflops") else None,
        }
        _log(f"  split {split}: loop {timing['trainer_ms_per_epoch']:.1f} ms/epoch, fit {timing['fit_ms_per_epoch']:.1f} ms/epoch")
    speedups = [r["speedup"] for r in per_split.values()]
    return {
        "per_split": per_split,
        "median_speedup_vs_fit": round(float(np.median(speedups)), 2),
        "goal_speedup_vs_fit": GOALS["dann_loop_speedup_vs_fit"],
        "meets_goal": float(np.median(speedups)) >= GOALS["dann_loop_speedup_vs_fit"],
        "trainable_parameters": n_parameters,
        "batch_size": batch_size,
        "network_from": "conf/base/parameters_dann.yml",
        "method": (f"benchmarks/training_loops.py time_training_loops: median of {epochs} epochs after "
                   "tracing, training + validation pass, split's non-test cells (80/20 inside), "
                   "features standardised on them; FLOP floor = 6 x parameters x training cells"),
    }


def test_suite() -> dict:
    _log("pytest")
    start = time.perf_counter()
    done = subprocess.run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    return {"seconds": round(seconds, 1), "exit_code": done.returncode, "summary": summary,
            "goal_s": GOALS["test_suite_s"], "meets_goal": seconds <= GOALS["test_suite_s"]}


# --- main --------------------------------------------------------------------------------

def default_actd() -> Path | None:
    for candidate in (os.environ.get("NEURON_TYPES_ACTD_DIR"), ROOT.parent / "shared" / "actd"):
        if candidate and (Path(candidate) / "manifest.json").is_file():
            return Path(candidate).resolve()
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actd", type=Path, default=default_actd(), help="the ACTD dump (default: NEURON_TYPES_ACTD_DIR or ../shared/actd)")
    parser.add_argument("--out", type=Path, help="the JSON to write (default: benchmarks/results/<date>.json)")
    parser.add_argument("--quick", action="store_true", help="skip the per-pipeline runs (the full run only)")
    parser.add_argument("--test-suite", action="store_true", help="also time the test suite")
    parser.add_argument("--prediction-cells", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="keep the throwaway projects in this folder")
    args = parser.parse_args(argv)
    if args.actd is None:
        parser.error("no ACTD dump: pass --actd or set NEURON_TYPES_ACTD_DIR")

    started = time.time()
    out = args.out or ROOT / "benchmarks" / "results" / f"{dt.date.today().isoformat()}.json"
    results: dict = {"date": dt.datetime.now().isoformat(timespec="seconds"), "actd": str(args.actd),
                     "goals": GOALS, "load_1min_before": os.getloadavg()[0], "machine": machine()}
    workdir = Path(tempfile.mkdtemp(prefix="neuron-types-bench-")) if args.keep is None else args.keep
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        _log("peak float32 matmul rate")
        results["peak"] = figure(peak_gflops)
        _log("imports")
        results["import"] = figure(import_times)
        if not args.quick:
            results["pipelines"] = figure(lambda: pipelines_alone(args.actd, workdir))
        project = project_copy(workdir / "full_run")
        run = results["full_run"] = figure(lambda: full_run(args.actd, project))
        results["shap"] = figure(lambda: shap_seconds(run))
        results["lspin"] = figure(lambda: lspin_fits(run))
        _log("DANN fits")
        results["dann"] = figure(lambda: dann_fits(project, results["peak"]))
        _log("prediction throughput")
        results["prediction"] = figure(lambda: prediction(project, args.prediction_cells))
        if args.test_suite:
            results["test_suite"] = figure(test_suite)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    results["load_1min_after"] = os.getloadavg()[0]
    results["benchmark_seconds"] = round(time.time() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    _log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
