"""Independent jobs side by side in worker processes: the tuned baselines' splits and the
DANN nodes' stacked networks."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import joblib


def map_in_processes(function: Callable[..., Any], jobs: Sequence[Mapping[str, Any]], n_jobs: int) -> list:
    """``function(**job)`` for every job, returned in order: in this process with ``n_jobs``
    1 (or a single job), else in ``min(n_jobs, len(jobs))`` joblib worker processes, each
    with ``cpu_count // n_jobs`` threads for OpenMP and BLAS (joblib's limit) and for
    TensorFlow's intra-op pool.

    Why processes, not TensorFlow's own threads: a stacked network's step is elementwise
    work on small tensors, which TensorFlow's second intra-op thread barely speeds up. On 2
    cores one stack trained as fast on 1 thread as on 2 (``fcnn_joint``, 15 members: 13.1 s
    either way), and two stacks in two single-threaded processes 1.3x faster than one after
    the other (26 s against 34 s for the joint and source-only networks), with the same
    predictions bit for bit as on 2 threads. An error in a job is raised as it is.
    """
    if n_jobs == 1 or len(jobs) < 2:
        return [function(**job) for job in jobs]
    threads = max(1, joblib.cpu_count() // n_jobs)
    # a different limit gets fresh workers (loky restarts them when their environment
    # differs), so a worker whose TensorFlow has started never sees another limit
    with joblib.parallel_config(backend="loky", inner_max_num_threads=threads):
        return joblib.Parallel(n_jobs=min(n_jobs, len(jobs)))(
            joblib.delayed(_on_threads)(function, threads, job) for job in jobs)


def _on_threads(function: Callable[..., Any], threads: int, job: Mapping[str, Any]):
    # TensorFlow sizes its intra-op pool from this variable when it starts in the worker;
    # a job that never imports it (a scikit-learn fit) pays nothing for it
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    return function(**job)
