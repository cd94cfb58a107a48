"""Nothing lost: a failed or killed run never replaces the last good version of anything.

Kedro writes each versioned dataset of a run into ``<filepath>/<run id>/``; the project
hooks (``neuron_types.hooks``) set aside what a failed run wrote (at ``on_pipeline_error``)
and what a killed run wrote (at the next session's start), so that a load with no version
returns the last complete run's. A probe pipeline (three nodes, two versioned JSON
outputs, a gate between them that can raise or hang) runs in a throwaway copy of the
project, with the project's settings and hooks.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kedro.pipeline import Node, Pipeline

from tests.actd_fixture import PROJECT, project_copy
from tests.conftest import import_or_skip_unless_ci

PROBE_CATALOG = {
    "probe_metrics": {"type": "json.JSONDataset", "filepath": "data/08_reporting/probe_metrics.json", "versioned": True,
                      "metadata": {"neuron_types": {"published_as": "data/08_reporting/probe_published.json"}}},
    "probe_report": {"type": "json.JSONDataset", "filepath": "data/08_reporting/probe_report.json", "versioned": True},
}
PROBE_PARAMETERS = {"probe": {"value": 1, "fail": "no"}}


def score(value: int) -> dict:
    return {"accuracy": value / 10}


def gate(metrics: dict, fail: str) -> dict:
    if fail == "raise":
        raise RuntimeError("probe: the gate node failed on purpose")
    if fail == "hang":
        time.sleep(120)  # killed long before this ends
    return metrics


def report(metrics: dict) -> dict:
    return {"summary": metrics}


def register_pipelines() -> dict[str, Pipeline]:
    """The probe's pipeline registry (``pipelines.configure('tests.test_versioning')``)."""
    probe = Pipeline([
        Node(score, "params:probe.value", "probe_metrics", name="score"),
        Node(gate, ["probe_metrics", "params:probe.fail"], "probe_gated", name="gate"),
        Node(report, "probe_gated", "probe_report", name="report"),
    ])
    return {"probe": probe, "__default__": probe}


def make_project(root: Path) -> Path:
    project_copy(root)
    (root / "conf" / "base" / "catalog_probe.yml").write_text(yaml.safe_dump(PROBE_CATALOG))
    (root / "conf" / "base" / "parameters_probe.yml").write_text(yaml.safe_dump(PROBE_PARAMETERS))
    return root


@contextlib.contextmanager
def probe_session(root: Path, params: dict | None = None):
    """A session on ``root`` with the project's settings and hooks, and the probe's
    pipelines in place of the project's (so that they alone are loaded and validated)."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(root)
    pipelines.configure("tests.test_versioning")
    try:
        with KedroSession.create(project_path=root, runtime_params=params) as session:
            yield session
    finally:
        pipelines.configure("neuron_types.pipeline_registry")


def run_probe(root: Path, params: dict | None = None):
    with probe_session(root, params) as session:
        return session.run(pipeline_names=["probe"])


def load_latest(root: Path, name: str):
    """What a user gets from the catalog with no version: a new session, as a notebook has."""
    with probe_session(root) as session:
        return session.load_context().catalog.load(name)


def versions(root: Path, name: str) -> list[str]:
    return sorted(p.name for p in (root / "data" / "08_reporting" / f"{name}.json").glob("*") if p.is_dir())


def load_version(root: Path, name: str, version: str):
    return json.loads((root / "data/08_reporting" / f"{name}.json" / version / f"{name}.json").read_text())


@pytest.fixture
def probe_project(tmp_path, monkeypatch):
    root = make_project(tmp_path / "project")
    monkeypatch.chdir(root)
    run_probe(root, {"probe": {"value": 7}})
    assert load_latest(root, "probe_report") == {"summary": {"accuracy": 0.7}}
    return root


def test_a_failed_run_leaves_the_last_good_version_latest(probe_project):
    root = probe_project
    (good,) = versions(root, "probe_metrics")
    with pytest.raises(RuntimeError, match="failed on purpose"):
        run_probe(root, {"probe": {"value": 3, "fail": "raise"}})
    # the failed run wrote probe_metrics before its gate raised: set aside, not latest
    assert versions(root, "probe_metrics") == versions(root, "probe_report") == [good]
    assert load_latest(root, "probe_metrics") == {"accuracy": 0.7}
    assert load_latest(root, "probe_report") == {"summary": {"accuracy": 0.7}}
    (failed_run,) = os.listdir(root / "data" / "failed_runs")
    kept = root / "data/failed_runs" / failed_run / "08_reporting/probe_metrics.json" / failed_run / "probe_metrics.json"
    assert json.loads(kept.read_text()) == {"accuracy": 0.3}  # kept for a post-mortem
    # the fixed-path copy is the last complete run's, not the failed run's
    assert json.loads((root / "data/08_reporting/probe_published.json").read_text()) == {"accuracy": 0.7}
    assert not list((root / "data" / ".runs").glob("*.json"))
    # and the next good run is the new latest (timed node by node, as benchmarks/run.py asks)
    times = root / "node_times.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEURON_TYPES_NODE_TIMES", str(times))
        run_probe(root, {"probe": {"value": 9}})
    assert load_latest(root, "probe_report") == {"summary": {"accuracy": 0.9}}
    assert json.loads((root / "data/08_reporting/probe_published.json").read_text()) == {"accuracy": 0.9}
    assert len(versions(root, "probe_report")) == 2
    records = [json.loads(line) for line in times.read_text().splitlines()]
    assert [r["node"] for r in records] == ["score", "gate", "report"]
    assert all(r["seconds"] >= 0 for r in records)


def test_a_killed_run_is_set_aside_by_the_next_session(probe_project):
    root = probe_project
    (good,) = versions(root, "probe_metrics")
    script = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
        "from tests.test_versioning import run_probe;"
        "run_probe(Path.cwd(), {'probe': {'value': 5, 'fail': 'hang'}})"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    process = subprocess.Popen([sys.executable, "-c", script, str(PROJECT)], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while len(versions(root, "probe_metrics")) < 2:  # the killed run's first output
            assert process.poll() is None, process.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the probe run wrote nothing in 120 s"
            time.sleep(0.05)
        time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed = next(v for v in versions(root, "probe_metrics") if v != good)
    assert (root / "data/.runs" / f"{killed}.json").is_file()  # no hook ran: the marker stayed
    assert load_version(root, "probe_metrics", killed) == {"accuracy": 0.5}
    assert load_version(root, "probe_metrics", good) == {"accuracy": 0.7}  # untouched

    # the next session (here a plain catalog load, as in a notebook) sets the killed run aside
    assert load_latest(root, "probe_metrics") == {"accuracy": 0.7}
    assert versions(root, "probe_metrics") == [good]
    assert not (root / "data/.runs" / f"{killed}.json").exists()
    assert glob.glob(str(root / "data/failed_runs" / killed / "08_reporting/probe_metrics.json/*/probe_metrics.json"))


def test_a_running_run_is_left_alone(probe_project):
    """A marker whose process is alive (a run in progress elsewhere) is not touched."""
    from neuron_types.runs import recover_interrupted_runs

    root = probe_project
    (good,) = versions(root, "probe_metrics")
    in_progress = "2099-01-01T00.00.00.000Z"
    (root / "data/08_reporting/probe_metrics.json" / in_progress).mkdir()
    marker = root / "data/.runs" / f"{in_progress}.json"
    marker.parent.mkdir(exist_ok=True)
    import socket

    marker.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    assert recover_interrupted_runs(root / "data") == []
    assert versions(root, "probe_metrics") == [good, in_progress]


# --- the catalog: what is versioned, and no format that executes code on load

def _catalog_entries() -> dict[str, dict]:
    entries = {}
    for path in sorted((PROJECT / "conf" / "base").glob("catalog*.yml")):
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            if isinstance(entry, dict) and not name.startswith("_"):
                entries[f"{path.name}: {name}"] = entry
    return entries


# Fixed paths by the reporting pipeline's design (README and notebook link them); they are
# rebuilt from the versioned metrics on every run. See the report on issue #5.
UNVERSIONED_BY_DESIGN = {"reporting.model_comparison", "reporting.model_comparison_table",
                         "reporting.model_comparison_markdown"}
ARTEFACT_FOLDERS = ("data/06_models", "data/07_model_output", "data/08_reporting")


def _partitioned(entry: dict) -> bool:
    return str(entry.get("type", "")).endswith("PartitionedDataset")


def test_models_metrics_and_plots_are_versioned():
    unversioned = [
        name for name, entry in _catalog_entries().items()
        if str(entry.get("filepath", "")).startswith(ARTEFACT_FOLDERS)
        and not entry.get("versioned")
        and name.split(": ")[1] not in UNVERSIONED_BY_DESIGN
    ]
    # a partitioned dataset versions each partition (<path>/<partition>/<version>/<partition>)
    unversioned += [name for name, entry in _catalog_entries().items()
                    if _partitioned(entry) and str(entry.get("path", "")).startswith(ARTEFACT_FOLDERS)
                    and not entry["dataset"].get("versioned")]
    assert not unversioned, f"artefacts without versioned: true: {unversioned}"


def test_no_catalog_entry_uses_pickle_or_unsafe_loading():
    offenders = []
    for name, entry in _catalog_entries().items():
        text = json.dumps(entry).lower()
        filepath = str(entry.get("filepath", "")).lower()
        if "pickle" in text or "joblib" in text or filepath.endswith((".pkl", ".pickle", ".joblib")):
            offenders.append(name)
        if '"safe_mode": false' in text:
            offenders.append(f"{name} (safe_mode: false)")
    assert not offenders, offenders
    models = [e for e in _catalog_entries().values() if str(e.get("filepath", "")).startswith("data/06_models")]
    # .db: the Optuna studies' SQLite storage, whose parameters and attributes are JSON; nothing is unpickled
    for entry in models:
        assert str(entry["filepath"]).endswith((".keras", ".json", ".skops", ".db")), entry
    for entry in (e for e in _catalog_entries().values() if _partitioned(e)):
        assert str(entry["path"]).startswith("data/06_models") <= (entry.get("filename_suffix") == ".keras"), entry


def test_servers_bind_to_localhost_by_default():
    from kedro_viz.constants import DEFAULT_HOST
    from kedro_viz.launchers.cli.run import run

    assert DEFAULT_HOST == "127.0.0.1"
    host = next(option for option in run.params if option.name == "host")
    assert host.default == "127.0.0.1"
    mkdocs = import_or_skip_unless_ci("mkdocs.config.defaults")
    assert str(mkdocs.MkDocsConfig.dev_addr.default).startswith("127.0.0.1:")  # `mkdocs serve`
    assert "dev_addr" not in (PROJECT / "mkdocs.yml").read_text() if (PROJECT / "mkdocs.yml").is_file() else True
    for path in [PROJECT / "Makefile", PROJECT / "mkdocs.yml", *PROJECT.glob("src/**/*.py"),
                 *PROJECT.glob("benchmarks/**/*.py"), *PROJECT.glob(".ci/*"), *PROJECT.glob("conf/**/*.yml")]:
        if path.is_file():
            assert "0.0.0.0" not in path.read_text(errors="ignore"), path
