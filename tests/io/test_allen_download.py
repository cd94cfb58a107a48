"""A first run without a dump, through ``kedro run --pipelines=ingestion``, against a local
stand-in of the Allen API (tests/allen_standin.py) serving NWB files in the Allen layout
made from real short-square spikes (synthetic ones without the real dump)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DatasetError

from neuron_types.io import ActdDumpDataset, allen_download, read_actd_dump
from neuron_types.io.allen_download import DownloadOptions
from neuron_types.io.noise_features import NO_NOISE_SWEEP, NWB_UNREADABLE
from tests.actd_fixture import PROJECT, actd_tables, latest_version
from tests.allen_standin import AllenStandIn
from tests.conftest import real_actd_dir
from tests.io.test_noise_features import (
    NOISE_SWEEP,
    real_spikes,
    sweep_records,
    synthetic_spike,
    synthetic_sweep,
    write_allen_nwb,
)

GROUPS = [("Mus musculus", "aspiny", "Pvalb-IRES-Cre", 3), ("Mus musculus", "spiny", "Rorb-IRES2-Cre", 2),
          ("Homo Sapiens", "spiny", None, 1)]
DUMP = Path("data/01_raw/actd")
TABLE = DUMP / "noise_spike_features.csv"
PROGRESS = DUMP / "noise_spike_features.progress.csv"


def allen_cohort(folder: Path, groups=GROUPS) -> dict:
    """Cells and features of the tiny dump; every cell but the last has a noise sweep and an
    NWB file, built from a real spike when the real dump is here."""
    tables = actd_tables(groups)
    ids = [record["specimen__id"] for record in tables["cells"]]
    spikes = ([w for _, w in real_spikes(len(ids))] if real_actd_dir() is not None
              else [synthetic_spike()] * len(ids))
    sweeps, nwb = {}, {}
    for k, (sid, spike) in enumerate(zip(ids[:-1], spikes)):
        path = folder / f"{sid}.nwb"
        write_allen_nwb(path, {NOISE_SWEEP: synthetic_sweep(spike, seed=k)})
        sweeps[sid], nwb[sid] = sweep_records(), path.read_bytes()
    sweeps[ids[-1]] = sweep_records(noise_spikes=3)
    # the Allen API answers null for a missing value (JSON has no NaN)
    ephys = tables["ephys_features"]
    features = ephys.astype(object).where(ephys.notna(), None).to_dict("records")
    return {"cells": tables["cells"], "ephys_features": features, "sweeps": sweeps, "nwb": nwb, "ids": ids}


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    cohort = allen_cohort(tmp_path_factory.mktemp("nwb"))
    with AllenStandIn(cohort["cells"], cohort["ephys_features"], cohort["sweeps"], cohort["nwb"],
                      stall_s=1.5) as server:
        server.ids = cohort["ids"]
        yield server


@pytest.fixture
def allen(standin, kedro_project, monkeypatch):
    """The throwaway project with no dump, its actd_dump pointed at the stand-in."""
    standin.reset()
    monkeypatch.delenv("NEURON_TYPES_ACTD_DIR", raising=False)

    def configure(**options):
        settings = {"download_workers": 2, "extract_workers": 0, "timeout_s": 0.5,
                    "retries": 2, "backoff_s": 0.05} | options
        lines = "".join(f"  {key}: {value}\n" for key, value in settings.items())
        (kedro_project.root / "conf/local/catalog.yml").write_text(
            "actd_dump:\n  type: neuron_types.io.ActdDumpDataset\n  path: data/01_raw/actd\n"
            f"  api_url: {standin.url}\n{lines}")

    configure()
    kedro_project.configure = configure
    return kedro_project


@pytest.fixture
def messages(monkeypatch):
    """What neuron_types.io logs during a kedro run: recorded where every logger hands its
    records on, since the session's dictConfig wipes handlers added to our loggers."""
    records: list[str] = []
    call_handlers = logging.Logger.callHandlers

    def record(self, log_record):
        if log_record.name.startswith("neuron_types.io"):
            records.append(log_record.getMessage())
        call_handlers(self, log_record)

    monkeypatch.setattr(logging.Logger, "callHandlers", record)
    return records


def nwb_gets(standin) -> dict[int, int]:
    return {sid: n for (kind, sid), n in standin.hits.items() if kind == "file"}


def test_a_first_run_downloads_and_computes_the_noise_table(allen, standin, messages):
    allen.configure(extract_workers=1)  # the extractor in a process of its own
    allen(pipeline_names=["ingestion"])
    table = pd.read_csv(allen.root / TABLE)
    assert table["specimen_id"].tolist() == standin.ids[:-1]
    assert table["peak_v"].notna().all()
    assert nwb_gets(standin) == {sid: 1 for sid in standin.ids[:-1]}
    assert not list((allen.root / DUMP).rglob("*.nwb")) and not (allen.root / PROGRESS).exists()
    raw = pd.read_parquet(latest_version(allen.root / "data/02_intermediate/raw_noise_spike_features.parquet"))
    assert len(raw) == len(standin.ids) - 1
    size = sum(len(standin.nwb[sid]) for sid in standin.ids[:-1])
    # the size line: cells, size from Content-Length of a sample (the records give none), disk
    line = next(m for m in messages if "NWB files to fetch" in m)
    assert line.startswith(f"noise-sweep spike features: {len(standin.ids) - 1} NWB files to fetch")
    assert f"{size / 1e6:.1f} MB (an estimate: 5 files measured" in line and "B free in" in line
    assert any(f"skipped 1 cells: {NO_NOISE_SWEEP}" in m for m in messages)


def test_a_killed_run_resumes_without_fetching_finished_cells(allen, standin, tmp_path):
    reference = read_actd_dump(  # the same cells, uninterrupted, outside kedro
        tmp_path / "reference", compute_noise_spike_features=True,
        download=DownloadOptions(api_url=standin.url, extract_workers=0, timeout_s=5),
    )["noise_spike_features"]
    standin.reset()
    allen.configure(download_workers=1)
    standin.hold_files_after(2)
    env = {k: v for k, v in os.environ.items() if k != "NEURON_TYPES_ACTD_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT / "src"), str(PROJECT), env.get("PYTHONPATH", "")])
    run = subprocess.Popen([sys.executable, "-m", "kedro", "run", "--pipelines=ingestion"],
                           cwd=allen.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while standin.files_served() < 3 or _rows(allen.root / PROGRESS) < 3:  # 2 cells + 1 skip
            assert run.poll() is None, run.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run did not get midway in 60 s"
            time.sleep(0.2)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
    finally:
        if run.poll() is None:
            run.kill()
        standin.release()
    assert not (allen.root / TABLE).exists()
    first = nwb_gets(standin)
    done = [sid for sid in standin.ids if first.get(sid) == 1][:2]

    allen(pipeline_names=["ingestion"])
    again = nwb_gets(standin)
    assert all(again[sid] == 1 for sid in done)  # not fetched again
    assert set(again) == set(standin.ids[:-1])
    pd.testing.assert_frame_equal(pd.read_csv(allen.root / TABLE), reference)


def _rows(path: Path) -> int:
    return max(len(path.read_text().splitlines()) - 1, 0) if path.exists() else 0


def test_a_truncated_file_is_fetched_again_once_then_the_cell_skipped(allen, standin, messages):
    once, always = standin.ids[0], standin.ids[1]
    standin.fault("file", once, "truncated")
    standin.fault("file", always, "truncated", "cut")
    allen(pipeline_names=["ingestion"])
    table = pd.read_csv(allen.root / TABLE)
    assert once in set(table["specimen_id"]) and always not in set(table["specimen_id"])
    assert nwb_gets(standin)[once] == 2 and nwb_gets(standin)[always] == 2
    assert any(f"skipped 1 cells: {NWB_UNREADABLE} (e.g. specimen_id [{always}]" in m
               for m in messages)
    assert not list((allen.root / DUMP).rglob("*.nwb*"))


def test_server_errors_and_a_stalled_answer_are_retried(allen, standin):
    first, second = standin.ids[0], standin.ids[1]
    standin.fault("cells", None, "500", "500")
    standin.fault("sweeps", first, "stall")
    standin.fault("records", first, "500")
    standin.fault("file", second, "stall", "500")
    started = time.monotonic()
    allen(pipeline_names=["ingestion"])
    assert len(pd.read_csv(allen.root / TABLE)) == len(standin.ids) - 1
    assert standin.hits[("cells", None)] == 3 and standin.hits[("sweeps", first)] == 2
    assert nwb_gets(standin)[second] == 3
    assert time.monotonic() - started < 30


def test_a_disk_too_small_stops_before_any_nwb_download(allen, standin, monkeypatch):
    allen.configure(keep_nwb="true")
    usage = allen_download.shutil.disk_usage

    def almost_full(path):
        return usage(path)._replace(free=1_000_000)

    monkeypatch.setattr(allen_download.shutil, "disk_usage", almost_full)
    with pytest.raises(Exception, match=r"1\.0 MB free, the NWB download needs .*keep_nwb: true"):
        allen(pipeline_names=["ingestion"])
    assert nwb_gets(standin) == {}
    assert not (allen.root / TABLE).exists()


def test_a_dask_address_without_dask_says_what_to_install(standin, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as where it is not installed
    options = DownloadOptions(api_url=standin.url, dask_address="tcp://127.0.0.1:8786")
    with pytest.raises(ImportError, match=r"actd_dump\.dask_address .*pip install distributed"):
        read_actd_dump(tmp_path / "actd", compute_noise_spike_features=True, download=options)
    assert nwb_gets(standin) == {}


@pytest.mark.parametrize("option, value", [("download_workers", 0), ("extract_workers", -1),
                                           ("timeout_s", 0), ("retries", 1.5)])
def test_bad_download_options_name_the_catalog_argument(option, value):
    with pytest.raises(DatasetError, match=rf"actd_dump\.{option}: expected"):
        ActdDumpDataset(path="nowhere", **{option: value})


def test_a_download_cut_off_midway_is_done_again_and_a_cut_sweeps_file_fetched_again(standin, tmp_path):
    folder = tmp_path / "actd"
    options = DownloadOptions(api_url=standin.url, extract_workers=0, timeout_s=5)
    read_actd_dump(folder, download=options)  # cells and features only
    (folder / ".download_in_progress").touch()  # as a run killed while writing cells.json leaves it
    cells = (folder / "cells.json").read_text()
    (folder / "cells.json").write_text(cells[: len(cells) // 2])
    sweeps = folder / f"specimen_{standin.ids[0]}" / "ephys_sweeps.json"
    sweeps.parent.mkdir()
    sweeps.write_text('[{"sweep_number": 4')
    standin.reset()

    tables = read_actd_dump(folder, compute_noise_spike_features=True, download=options)
    assert len(tables["cells"]) == len(standin.ids)
    assert standin.hits[("cells", None)] == 1 and standin.hits[("sweeps", standin.ids[0])] == 1
    assert standin.ids[0] in set(tables["noise_spike_features"]["specimen_id"])
    assert not (folder / ".download_in_progress").exists()
