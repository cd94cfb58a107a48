"""Re-selects the settings every unsupervised DANN shares (``dann.unsupervised``: lambda,
patience, domain head) without any human label, and writes the record.

    .venv/bin/python benchmarks/unsupervised_selection.py        # ~10 min on 2 cores

What it does, per setting of GRID: ``dann_unsupervised`` (mouse labels only; human training
cells feed the domain loss) trained on the folds of the first repeat of the primary
splits, as the pipeline trains it. Each fold's setting is scored on that fold's mouse
validation cells (never a test cell) by three label-free criteria: the plain mouse
validation log loss, its importance-weighted version (IWV) and DEV, with weights from a
domain classifier on the fold's training cells' features (mouse vs human, no label;
``neuron_types.models.label_free_selection``). The chosen setting minimises the mean DEV
over the folds.

Caveat, stated in the record: a fold's validation cells are test cells of other folds, so
the choice, made once for all folds, has read mouse labels of test cells (never a human
label, and no test cell of the fold being scored informs that fold's training). Human test
accuracy of each setting is written after the choice, under ``post_hoc``, for the record
only: nothing reads it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

GRID = {"lambda_max": [0.1, 0.3, 0.7, 1.0], "patience": [20, 50], "domain_hidden_units": [[64, 32], [32]]}
CRITERION = "dev"


def fold_criteria(result, cells, splits, split: int, features) -> dict:
    """The three label-free criteria of one fold's member (lower is better)."""
    from neuron_types.cells import EI_LABEL, SOURCE, TARGET
    from neuron_types.models import label_free_selection as lfs
    from neuron_types.splits import cells_in_role

    train = cells_in_role(cells, splits, split, "train")
    species = train["species"].astype(str)
    validation = result.validation[(result.validation["split"] == split)
                                   & (result.validation["species"] == SOURCE)]
    evaluated = cells.set_index("specimen_id").loc[validation["specimen_id"], list(features)].to_numpy(float)
    weights = lfs.domain_importance_weights(train.loc[species == SOURCE, list(features)].to_numpy(float),
                                            train.loc[species == TARGET, list(features)].to_numpy(float), evaluated)
    losses = lfs.binary_log_loss(validation[EI_LABEL].to_numpy(), validation["probability"].to_numpy())
    return {"source_log_loss": float(losses.mean()), "iwv": lfs.importance_weighted_risk(losses, weights),
            "dev": lfs.dev_risk(losses, weights), "n_mouse_validation": int(len(losses)),
            "mean_weight": float(weights.mean())}


def human_test_accuracy(result, split: int) -> float:
    from neuron_types.cells import EI_LABEL, TARGET

    test = result.predictions[(result.predictions["split"] == split) & (result.predictions["species"] == TARGET)
                              & (result.predictions["model"] == "dann_unsupervised")]
    return float(((test["probability"] >= 0.5).astype(int) == test[EI_LABEL]).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1, help="repeats of the primary splits to use")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "unsupervised_selection.json")
    args = parser.parse_args(argv)

    import _cohort

    from neuron_types.models import cross_species as cs
    from neuron_types.models.reproducibility import seed_everything

    ei_input, ei_splits, _, _, features, params = _cohort.model_inputs()
    dann = params["dann"]
    splits = ei_splits[ei_splits["repeat"] < args.repeats]
    split_ids = sorted(int(s) for s in splits["split"].unique())
    spec = dann.models["dann_unsupervised"]
    cells = ei_input.sort_values("specimen_id", ignore_index=True)
    settings = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]
    tried, started = [], time.time()
    for setting in settings:
        network = dann.network.model_copy(update={"domain_hidden_units": setting["domain_hidden_units"]})
        training = dann.training.model_copy(update={"lambda_max": setting["lambda_max"],
                                                    "patience": setting["patience"]})
        seed_everything(dann.seed)
        t0 = time.time()
        result = cs.train_stack("dann_unsupervised", spec, cells, splits, features, network, training, dann.seed)
        per_fold = [{"split": s, **fold_criteria(result, cells, splits, s, features)} for s in split_ids]
        best = result.history[result.history["best_epoch"]]
        tried.append({"setting": setting, "seconds": round(time.time() - t0, 1),
                      "best_epochs": best["epoch"].astype(int).tolist(), "folds": per_fold,
                      "mean": {key: float(np.mean([f[key] for f in per_fold]))
                               for key in ("source_log_loss", "iwv", "dev")},
                      "_result": result})
        print(f"{setting}: {tried[-1]['mean']} ({tried[-1]['seconds']} s)", flush=True)
    chosen = min(tried, key=lambda entry: entry["mean"][CRITERION])
    post_hoc = [{"setting": entry["setting"],
                 "human_test_accuracy": float(np.mean([human_test_accuracy(entry["_result"], s) for s in split_ids]))}
                for entry in tried]
    for entry in tried:
        del entry["_result"]
    record = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python benchmarks/unsupervised_selection.py" + (f" --repeats {args.repeats}" if args.repeats != 1 else ""),
        "model": "dann_unsupervised (mouse labels only; human training cells in the domain loss)",
        "cells": (f"folds {split_ids} of the primary splits ({splits['protocol'].iat[0]}, repeat < {args.repeats}); "
                  "scored on each fold's mouse validation cells; importance weights from a logistic-regression "
                  "domain classifier on the fold's training cells' features (mouse vs human, no label)"),
        "criterion": f"{CRITERION}: the mean over the folds (lower is better); also recorded: source_log_loss, iwv",
        "caveat": ("a fold's validation cells are test cells of other folds: the one choice for all folds read "
                   "mouse labels of test cells, never a human label"),
        "grid": GRID,
        "tried": tried,
        "chosen": chosen["setting"],
        "post_hoc": {"note": "human test accuracy of each setting, computed after the choice; nothing reads it",
                     "settings": post_hoc},
        "seconds": round(time.time() - started, 1),
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"chosen {chosen['setting']} by {CRITERION}; record in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
