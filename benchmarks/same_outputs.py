"""Do two commits train the same networks? The tests' tiny end-to-end `dann` run (synthetic
cells, tests/pipelines/test_dann.py) at each commit, on this machine, compared bit for bit:
test predictions and training curves of every model both commits have.

A full run on another machine can differ in the last digits (another CPU, other kernels,
other round-off, amplified by adversarial training); this separates such a difference from
one the code made. Each commit is checked out in a temporary git worktree and run with its
own src/, tests/ and conf/, in this checkout's virtual environment.

    .venv/bin/python benchmarks/same_outputs.py BEFORE AFTER [--out results/same_outputs-<date>.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import sys
from tests.pipelines.test_dann import run_pipeline, tiny_parameters
catalog = run_pipeline(tiny_parameters())
catalog.load("dann.test_predictions").to_parquet(sys.argv[1])
catalog.load("dann.training_history").to_parquet(sys.argv[2])
"""


def tiny_run(commit: str, folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    tree = folder / commit
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), commit], check=True)
    try:
        outputs = [folder / f"{commit}_{name}.parquet" for name in ("predictions", "history")]
        env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}
        subprocess.run([sys.executable, "-c", RUN, *map(str, outputs)], cwd=tree, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return tuple(pd.read_parquet(path) for path in outputs)
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)


def differing(before: pd.DataFrame, after: pd.DataFrame, key: list[str]) -> list[str]:
    models = sorted(set(before["model"]) & set(after["model"]))
    return [model for model in models
            if not before[before["model"] == model].sort_values(key, ignore_index=True).equals(
                after[after["model"] == model].sort_values(key, ignore_index=True))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        (p_before, h_before), (p_after, h_after) = (tiny_run(c, Path(folder)) for c in (args.before, args.after))
    common = sorted(set(p_before["model"]) & set(p_after["model"]))
    record = {
        "commits": [args.before, args.after],
        "run": "tests/pipelines/test_dann.py's run_pipeline(tiny_parameters()), this machine",
        "common_models": len(common),
        "only_after": sorted(set(p_after["model"]) - set(p_before["model"])),
        "predictions_differ": differing(p_before, p_after, ["model", "split", "specimen_id"]),
        "training_curves_differ": differing(h_before, h_after, ["model", "split", "ensemble_member", "epoch"]),
    }
    print(json.dumps(record, indent=1))
    if args.out:
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
