"""Independent jobs side by side in worker processes (``map_in_processes``)."""

from __future__ import annotations

import os

import pytest

from neuron_types.models.processes import map_in_processes
from tests.params import typed_params


def _worker_state(k: int) -> dict:
    # what TensorFlow sizes its intra-op pool from when it starts in the process
    threads = os.environ.get("TF_NUM_INTRAOP_THREADS")
    return {"k": k, "pid": os.getpid(), "threads": int(threads) if threads else None}


def _fails(k: int) -> int:
    if k == 1:
        raise ValueError(f"job {k}: expected something else")
    return k


def test_jobs_run_in_workers_on_their_share_of_threads_and_come_back_in_order():
    import joblib

    states = map_in_processes(_worker_state, [{"k": k} for k in range(4)], n_jobs=2)
    assert [s["k"] for s in states] == [0, 1, 2, 3]
    assert os.getpid() not in {s["pid"] for s in states}
    assert {s["threads"] for s in states} == {max(1, joblib.cpu_count() // 2)}


def test_one_job_or_one_process_runs_here():
    assert {s["pid"] for s in map_in_processes(_worker_state, [{"k": 0}], n_jobs=2)} == {os.getpid()}
    assert {s["pid"] for s in map_in_processes(_worker_state, [{"k": 0}, {"k": 1}], n_jobs=1)} == {os.getpid()}


def test_an_error_in_a_worker_is_raised_as_it_is():
    with pytest.raises(ValueError, match="job 1: expected something else"):
        map_in_processes(_fails, [{"k": 0}, {"k": 1}], n_jobs=2)


def test_n_jobs_must_be_a_positive_count():
    with pytest.raises(ValueError, match="n_jobs"):
        typed_params("dann", n_jobs=0)
