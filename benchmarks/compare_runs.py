"""The same models in two `kedro run`s on the same folds, paired fold by fold: what a change
of code between the runs did to each model (corrected resampled t-test, docs/evaluation.md).

Both runs must have scored the same splits (same protocol, seeds and cells); the versions
are the run ids under data/08_reporting/<task>_split_metrics.csv/. The per-fold pairing
removes the fold-to-fold spread that the two runs share; what remains is the change and
any run-to-run noise (dropout draws, the order of floating-point sums).

    PYTHONPATH=src .venv/bin/python benchmarks/compare_runs.py BEFORE AFTER [--task ei] \
        [--species human] [--metric accuracy] [--models a b ...]
"""

from __future__ import annotations

import argparse
import glob
import json
from pathlib import Path

import pandas as pd

from neuron_types.evaluation import fold_design, paired_comparison

ROOT = Path(__file__).resolve().parents[1]
SPLITS = {"ei": "ei_splits", "subclass": "subclass_splits"}


def _version(pattern: str, run: str) -> Path:
    found = glob.glob(str(ROOT / pattern / run / "*"))
    if len(found) != 1:
        raise SystemExit(f"{pattern}: no single file of run {run!r} (found {found})")
    return Path(found[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--task", default="ei", choices=sorted(SPLITS))
    parser.add_argument("--species", default="human")
    parser.add_argument("--metric", default="accuracy")
    parser.add_argument("--models", nargs="*")
    args = parser.parse_args()
    metrics = "dann_split_metrics.csv" if args.task == "ei" else "lspin_split_metrics.csv"
    runs = {name: pd.read_csv(_version(f"data/08_reporting/{metrics}", run))
            for name, run in (("before", args.before), ("after", args.after))}
    splits = {name: pd.read_parquet(_version(f"data/05_model_input/{SPLITS[args.task]}.parquet", run))
              for name, run in (("before", args.before), ("after", args.after))}
    columns = ["split", "role", "specimen_id"]
    if not splits["before"][columns].sort_values(columns, ignore_index=True).equals(
            splits["after"][columns].sort_values(columns, ignore_index=True)):
        raise SystemExit("the two runs scored different splits: nothing to pair")
    design = fold_design(splits["after"], SPLITS[args.task])
    values = {name: run[(run["species"] == args.species) & (run["metric"] == args.metric)]
              .pivot(index="split", columns="model", values="value") for name, run in runs.items()}
    models = args.models or sorted(set(values["before"].columns) & set(values["after"].columns))
    rows = []
    for model in models:
        before, after = values["before"][model], values["after"][model]
        common = before.dropna().index.intersection(after.dropna().index)
        sizes = design.sizes.loc[common]  # as reporting's paired comparisons: J = K R folds
        result = paired_comparison(after[common].to_numpy(), before[common].to_numpy(), sizes["n_train"].mean(),
                                   sizes["n_test"].mean(), len(common), 1)
        rows.append({"model": model, "before": round(float(before.mean()), 4), "after": round(float(after.mean()), 4),
                     "after_minus_before": round(result["mean_difference"], 4),
                     "ci95": [round(v, 4) for v in result["ci95"]], "p": round(result["p_value"], 3)})
    print(f"{args.task}, {args.species} {args.metric}: run {args.after} - run {args.before}, paired by fold")
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
