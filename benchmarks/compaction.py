"""Wall time of a real stack trained with and without resuming it on its running members
(``stacked_training.COMPACT_AT``), and what that changes in its results.

    PYTHONPATH=src:. .venv/bin/python benchmarks/compaction.py                  # ~8 min on 2 cores
    PYTHONPATH=src:. .venv/bin/python benchmarks/compaction.py --model fcnn_joint

For each model of ``--model`` (default: the unsupervised DANN, the costliest node of the
full run, and the joint network), ``cross_species.train_stack`` on the 15 primary folds
with the parameters of ``conf/base``, once with ``compact_at = 0`` (every member computed
until the last stops) and once with ``COMPACT_AT``: seconds, each member's stopping epoch,
the member-epochs computed, and the human and mouse test accuracy of both. Dropout draws
differ between the two (they are made over the stack's whole activations), so the
accuracies differ by training noise, not by a change of model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]


def accuracy(predictions, species: str) -> float:
    rows = predictions[predictions["species"] == species]
    return float(((rows["probability"] >= 0.5).astype(int) == rows["excitatory"]).mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / f"compaction-{dt.date.today()}.json")
    args = parser.parse_args(argv)

    import _cohort

    from neuron_types.models import cross_species as cs
    from neuron_types.models import stacked_training
    from neuron_types.models.reproducibility import seed_everything

    ei, splits, _, _, features, params = _cohort.model_inputs()
    dann = params["dann"]
    result = {"date": dt.date.today().isoformat(), "compact_at": stacked_training.COMPACT_AT,
              "load_before": os.getloadavg(), "models": {}}
    original = stacked_training.fit_stacked
    for name in args.model or ["dann_unsupervised", "fcnn_joint"]:
        spec = dann.models[name]
        runs = {}
        for compact_at in (0.0, stacked_training.COMPACT_AT):
            cs.fit_stacked = lambda *a, _c=compact_at, **k: original(*a, compact_at=_c, **k)
            seed_everything(dann.seed)
            started = time.perf_counter()
            stack = cs.train_stack(name, spec, ei, splits, features, *dann.settings_of(spec), dann.seed)
            seconds = time.perf_counter() - started
            stops = stack.history.groupby("split")["epoch"].max()
            runs[str(compact_at)] = {
                "seconds": round(seconds, 1),
                "stop_epochs": stops.astype(int).tolist(),
                "member_epochs_needed": int((stops + 1).sum()),
                "human_test_accuracy": round(accuracy(stack.predictions, "human"), 4),
                "mouse_test_accuracy": round(accuracy(stack.predictions, "mouse"), 4),
            }
            print(name, compact_at, runs[str(compact_at)], file=sys.stderr, flush=True)
        cs.fit_stacked = original
        full = runs["0.0"]
        full["member_epochs_computed"] = (max(full["stop_epochs"]) + 1) * len(full["stop_epochs"])
        runs["speedup"] = round(full["seconds"] / runs[str(stacked_training.COMPACT_AT)]["seconds"], 2)
        result["models"][name] = runs
    result["load_after"] = os.getloadavg()
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
