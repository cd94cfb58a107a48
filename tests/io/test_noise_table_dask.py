"""The noise table on a Dask cluster (``actd_dump.dask_address``): a real
``distributed.LocalCluster`` on 127.0.0.1, its worker a process of its own started in
another folder, through ``kedro run --pipelines=ingestion`` against the Allen stand-in."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client, LocalCluster

from neuron_types.io import read_actd_dump
from neuron_types.io.actd import _cache
from neuron_types.io.allen_download import DownloadOptions, attach
from neuron_types.io.noise_table import ClusterError, ProgressFile, compute_noise_spike_features
from tests.io import test_allen_download as downloads
from tests.io.test_allen_download import PROGRESS, TABLE, nwb_gets

standin, allen = downloads.standin, downloads.allen


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One worker process with one thread, started outside any project folder: a relative
    manifest path would point nowhere on it."""
    elsewhere = tmp_path_factory.mktemp("worker_cwd")
    with contextlib.chdir(elsewhere):
        local = LocalCluster(host="127.0.0.1", protocol="tcp://", n_workers=1,
                             threads_per_worker=1, processes=True, dashboard_address=None)
    local.elsewhere = elsewhere
    with local, Client(local) as client:
        local.client = client
        yield local
    assert local.status.name == "closed"


def executed(cluster) -> int:
    """Tasks the cluster's workers have run so far."""
    return sum(cluster.client.run(lambda dask_worker: dask_worker.state.executed_count).values())


@pytest.fixture
def reference(standin, tmp_path):
    """The noise table of the local path, outside kedro."""
    table = read_actd_dump(
        tmp_path / "reference", compute_noise_spike_features=True,
        download=DownloadOptions(api_url=standin.url, extract_workers=0, timeout_s=5),
    )["noise_spike_features"]
    standin.reset()
    return table


def test_the_cluster_computes_every_cell_and_the_same_table_as_the_local_path(
        allen, standin, cluster, reference):
    before = executed(cluster)
    allen.configure(dask_address=cluster.scheduler_address, timeout_s=5)
    allen(pipeline_names=["ingestion"])
    pd.testing.assert_frame_equal(pd.read_csv(allen.root / TABLE), reference)
    cells = len(standin.ids) - 1  # the last cell has no noise sweep: never sent
    assert executed(cluster) - before == cells
    assert nwb_gets(standin) == {sid: 1 for sid in standin.ids[:-1]}
    assert not list((allen.root / "data/01_raw/actd").rglob("*.nwb"))
    assert not (allen.root / PROGRESS).exists()
    assert not list(cluster.elsewhere.iterdir())  # nothing written where the worker started


def test_a_resumed_run_sends_only_the_cells_not_done(allen, standin, cluster, reference):
    done = reference.head(2)
    progress = ProgressFile(allen.root / PROGRESS)
    (allen.root / PROGRESS).parent.mkdir(parents=True)
    for record in done.to_dict("records"):
        progress.commit(record)
    before = executed(cluster)
    allen.configure(dask_address=cluster.scheduler_address, timeout_s=5)
    allen(pipeline_names=["ingestion"])
    pd.testing.assert_frame_equal(pd.read_csv(allen.root / TABLE), reference)
    assert executed(cluster) - before == len(standin.ids) - 1 - len(done)
    assert set(nwb_gets(standin)) == set(standin.ids[:-1]) - set(done["specimen_id"])


def test_a_relative_dump_path_reaches_a_worker_started_elsewhere(standin, cluster, reference,
                                                                  tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    options = DownloadOptions(api_url=standin.url, extract_workers=0, timeout_s=5,
                              dask_address=cluster.scheduler_address)
    tables = read_actd_dump(Path("actd"), compute_noise_spike_features=True, download=options)
    pd.testing.assert_frame_equal(tables["noise_spike_features"], reference)
    assert not list(cluster.elsewhere.iterdir())


def test_no_scheduler_at_the_address_is_one_line_before_any_download(standin, tmp_path):
    standin.reset()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    options = DownloadOptions(api_url=standin.url, timeout_s=1, dask_address=address)
    with pytest.raises(ClusterError, match=rf"^actd_dump\.dask_address {address}: no Dask "
                                           r"scheduler answered in 1 s \(.*\); start one") as caught:
        read_actd_dump(tmp_path / "actd", compute_noise_spike_features=True, download=options)
    assert "\n" not in str(caught.value)
    assert nwb_gets(standin) == {} and not any(kind == "sweeps" for kind, _ in standin.hits)


def test_a_manifest_the_workers_cannot_see_is_one_line_naming_the_cell(standin, cluster, tmp_path):
    folder = tmp_path / "actd"
    options = DownloadOptions(api_url=standin.url, extract_workers=0, timeout_s=5,
                              dask_address=cluster.scheduler_address)
    cache = _cache(_downloaded(folder, options))
    attach(cache, options)
    first = standin.ids[0]
    with pytest.raises(ClusterError, match=rf"dask_address {cluster.scheduler_address}: specimen_id "
                       rf"{first} failed on the cluster: FileNotFoundError: .*nowhere/manifest\.json "
                       r"not found on the worker") as caught:
        compute_noise_spike_features(cache, [first], progress=False, options=options,
                                     progress_path=folder / "noise_spike_features.progress.csv",
                                     manifest=tmp_path / "nowhere/manifest.json")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "nowhere").exists()


def _downloaded(folder: Path, options: DownloadOptions) -> Path:
    read_actd_dump(folder, download=options)  # cells and features only
    return folder / "manifest.json"
