"""Wall time of the default run's two multi-model DANN nodes with their models trained one
after another in this process (``dann.n_jobs`` 1) against side by side in worker processes
(``dann.n_jobs`` from conf/base), on the real cohort, and whether they predict the same.

    NEURON_TYPES_ACTD_DIR=../shared/actd .venv/bin/python benchmarks/side_by_side.py   # ~9 min on 2 cores

``train_baseline_networks`` (the source-only, human-to-mouse and joint networks) and
``train_unsupervised_danns`` (the unsupervised and the reweighted DANN, on the first
node's prior estimates), ``--repeats`` times each way, the order alternating so that a
drift of the machine's speed falls on both; every run's predictions, histories and prior
estimates compared exactly with the first one-process run's. Results in
``benchmarks/results/side_by_side-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]


def _same(tables, reference) -> bool:
    return all(a.equals(b) for a, b in zip(tables, reference, strict=True))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results" / f"side_by_side-{dt.date.today()}.json")
    args = parser.parse_args(argv)

    import _cohort
    import joblib

    from neuron_types.pipelines.dann import nodes

    ei, splits, _, _, features, params = _cohort.model_inputs()
    side_by_side = params["dann"]
    settings = {1: side_by_side.model_copy(update={"n_jobs": 1}), side_by_side.n_jobs: side_by_side}
    result = {"date": dt.date.today().isoformat(), "cpu_count": joblib.cpu_count(), "n_jobs": side_by_side.n_jobs,
              "load_before": os.getloadavg(), "runs": [], "identical_to_one_process": True}
    reference = None
    for repeat in range(args.repeats):
        order = (1, side_by_side.n_jobs) if repeat % 2 == 0 else (side_by_side.n_jobs, 1)
        for n_jobs in order:
            dann = settings[n_jobs]
            started = time.perf_counter()
            baseline = nodes.train_baseline_networks(ei, splits, features, dann)
            baseline_s = time.perf_counter() - started
            started = time.perf_counter()
            unsupervised = nodes.train_unsupervised_danns(ei, splits, features, dann, baseline[2])
            unsupervised_s = time.perf_counter() - started
            tables = [*baseline, *unsupervised[:3]]
            reference = reference or tables  # the first run: repeat 0 starts with one process
            run = {"repeat": repeat, "n_jobs": n_jobs, "train_baseline_networks_s": round(baseline_s, 1),
                   "train_unsupervised_danns_s": round(unsupervised_s, 1)}
            result["runs"].append(run)
            result["identical_to_one_process"] &= _same(tables, reference)
            print(json.dumps(run), flush=True)
    runs = pd.DataFrame(result["runs"])
    result["mean_s"] = (runs.groupby("n_jobs")[["train_baseline_networks_s", "train_unsupervised_danns_s"]]
                        .mean().round(1).rename(index=str).to_dict("index"))
    result["load_after"] = os.getloadavg()
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["mean_s"]), "identical:", result["identical_to_one_process"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
