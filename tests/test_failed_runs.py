"""A failed run changes nothing: every earlier output under data/ stays byte-identical and
loadable, for a failure in the first node, in feature engineering and in a model node.

Left out of the comparison, by design: ``data/failed_runs/`` (where the failed run's own
versions are kept for a post-mortem), ``data/.runs/`` (run markers) and the experiment
tracking store ``data/09_tracking/`` (a record of every attempt, failed ones included).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from neuron_types.errors import is_input_error
from tests.actd_fixture import actd_tables, latest_version, write_actd_dump

NOT_OUTPUTS = ("failed_runs", ".runs", "09_tracking")
DATA_PIPELINES = ["ingestion", "feature_engineering"]


def data_hashes(root: Path) -> dict[str, str]:
    data = root / "data"
    return {str(p.relative_to(data)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(data.rglob("*"))
            if p.is_file() and p.relative_to(data).parts[0] not in NOT_OUTPUTS}


def _without_tau(folder: Path) -> Path:
    tables = actd_tables()
    tables["ephys_features"] = tables["ephys_features"].drop(columns="tau")
    return write_actd_dump(folder, tables)


def _truncated_cells(folder: Path) -> Path:
    dump = write_actd_dump(folder)
    text = (dump / "cells.json").read_text()
    (dump / "cells.json").write_text(text[: len(text) // 2])
    return dump


@pytest.fixture
def good_project(kedro_project, tmp_path):
    kedro_project(pipeline_names=DATA_PIPELINES, actd_dir=write_actd_dump(tmp_path / "good"))
    return kedro_project


@pytest.mark.parametrize("where, make_dump, params, pipelines, nodes", [
    ("first node: a truncated cells.json", _truncated_cells, None, DATA_PIPELINES, None),
    ("feature engineering: a feature column missing", _without_tau, None, DATA_PIPELINES, None),
    ("a model node: a baseline grid names an unknown hyperparameter", write_actd_dump,
     {"lspin": {"baselines": {"grids": {"svc": {"C": [1.0], "gama": [0.1]}}}}}, ["lspin"], "svc"),
])
def test_a_failed_run_leaves_data_byte_identical(good_project, tmp_path, where, make_dump, params, pipelines, nodes):
    root = good_project.root
    before = data_hashes(root)
    latest_inputs = latest_version(root / "data/05_model_input/ei_model_input.parquet")
    node_names = None
    if nodes:
        from kedro.framework.project import pipelines as registry

        registry.set_requested(None)
        data_nodes = [n.name for name in DATA_PIPELINES for n in registry[name].nodes]
        node_names = [*data_nodes, f"lspin.tune_and_test_{nodes}"]
    with pytest.raises(Exception) as raised:
        good_project(pipeline_names=pipelines, actd_dir=make_dump(tmp_path / "bad"), params=params,
                     node_names=node_names)
    assert is_input_error(raised.value), raised.value
    assert data_hashes(root) == before, where
    # and a plain load still returns the good run's tables
    assert latest_version(root / "data/05_model_input/ei_model_input.parquet") == latest_inputs

