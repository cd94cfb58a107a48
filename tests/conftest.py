"""Shared fixtures: tiny ACTD dumps, the real dump when present, and a throwaway project."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import NoReturn

import pytest

from tests.actd_fixture import PROJECT, project_copy, write_actd_dump
from tests.mlflow_startup import cache_schema_head

cache_schema_head()


def skip_unless_ci(reason: str) -> NoReturn:
    """Skips here; fails when ``CI`` is set, where a missing dump, browser or docs tool is a
    broken setup that must not pass as green."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: this test must run, not skip)")
    pytest.skip(reason)


def import_or_skip_unless_ci(module: str, reason: str | None = None):
    """``pytest.importorskip`` here; with ``CI`` set a missing module fails the test."""
    if os.environ.get("CI"):
        try:
            return importlib.import_module(module)
        except ImportError as error:
            pytest.fail(f"{reason or module + ' is not installed'} (CI is set: this test must run, not skip): {error}")
    return pytest.importorskip(module, reason=reason)


def real_actd_dir() -> Path | None:
    """The real dump: NEURON_TYPES_ACTD_DIR, else ../shared/actd beside the checkout."""
    candidates = [os.environ.get("NEURON_TYPES_ACTD_DIR"), PROJECT.parent / "shared" / "actd"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "manifest.json").is_file():
            return Path(candidate).resolve()
    return None


@pytest.fixture
def real_actd() -> Path:
    folder = real_actd_dir()
    if folder is None:
        skip_unless_ci("no real ACTD dump: set NEURON_TYPES_ACTD_DIR or place it at ../shared/actd")
    return folder


@pytest.fixture
def tiny_actd(tmp_path: Path) -> Path:
    return write_actd_dump(tmp_path / "actd", with_spikes=True)


@pytest.fixture
def kedro_project(tmp_path: Path, monkeypatch):
    """A copy of this project's configuration in a temporary folder, run from there so
    that every output lands under tmp_path. Returns a function that runs pipelines:
    ``run(pipeline_names=[...], actd_dir=..., params=..., env=..., node_names=...)``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    root = project_copy(tmp_path / "project")
    monkeypatch.chdir(root)

    def run(pipeline_names=None, actd_dir: Path | None = None, params: dict | None = None, env=None,
            node_names=None):
        if actd_dir is not None:
            monkeypatch.setenv("NEURON_TYPES_ACTD_DIR", str(actd_dir))
        bootstrap_project(root)
        with KedroSession.create(project_path=root, env=env, runtime_params=params) as session:
            return session.run(pipeline_names=pipeline_names, node_names=node_names)

    run.root = root
    return run
