"""Per member-epoch cost of the training engines on the real cohort, against the FLOP floor.

    PYTHONPATH=src:. .venv/bin/python benchmarks/training_engine.py            # everything
    PYTHONPATH=src:. .venv/bin/python benchmarks/training_engine.py --only stacked --k 15

A "member" is one fitted copy of a network (one split and seed). For the DANN network of
``conf/base/parameters_dann.yml`` on each split's ~1,100 training cells:

- ``fit_one_fold``: plain Keras ``fit`` of ``build_dann``, one member at a time,
  ``steps_per_execution`` = steps per epoch, with the same validation pass per epoch;
- ``stacked_k<K>``: ``StackedNetwork`` + ``fit_stacked`` with K members (split ``j % 5``);
  each step gives every member a minibatch of its own training cells, so an epoch is
  ``steps_per_epoch`` steps over the largest member's training cells.

``floor_ms`` is ``6 x parameters x training cells`` at the measured float32 matmul peak;
every figure is reported with its ratio to it. LSPIN: the stacked LSPIN per member-epoch.
The hand-written loops these were first compared with (``Trainer``, ``fit_lspin``) were
deleted after ``results/training_engine-2026-12-01.json`` (their last figures, under
``trainer`` and ``fit_lspin_ms_per_member_epoch``). Results go to ``benchmarks/results/training_engine-<date>.json`` with the load
average before and after (the machine is shared: timings are noisy).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cohort  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 8  # timed epochs per engine; the first (tracing) epoch is excluded


def _log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def peak_gflops() -> float:
    """The float32 matmul rate of this machine, measured as benchmarks/run.py measures it."""
    from run import peak_gflops as measured

    return measured()["gflops"]


class EpochTimer:
    """A Keras callback recording seconds per epoch."""

    def __new__(cls):
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.seconds = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._start)

        return _Timer()


def _median_ms(seconds) -> float:
    return 1000 * float(np.median(seconds[1:]))


# --- the DANN ---------------------------------------------------------------------------------

def dann_members(ei, splits, features, n_members: int):
    """StackedData for ``n_members`` DANN members (member j on split j % 5), supervised DANN
    weights (each species half the label loss, domain-balanced domain loss)."""
    from neuron_types.models.label_shift import domain_balanced_weights
    from neuron_types.models.stacked_training import StackedData

    n_splits = int(splits["split"].nunique())
    label_w, domain_w, val_w = (np.zeros((len(ei), n_members), "float32") for _ in range(3))
    for j in range(n_members):
        roles = splits[splits["split"] == j % n_splits].set_index("specimen_id")["role"]
        role = ei["specimen_id"].map(roles).to_numpy()
        for weights, name in ((label_w, "train"), (val_w, "validation")):
            rows = role == name
            weights[rows, j] = domain_balanced_weights(ei.loc[rows, "domain"])
        domain_w[:, j] = label_w[:, j]
    return StackedData.build(ei[features].to_numpy("float32"), ei["excitatory"], ei["domain"], label_w, domain_w, val_w)


def time_fit_one_fold(data, network, config, epochs, jit_compile=False):
    import keras

    from neuron_types.models.networks import build_dann

    train_rows, val_rows = data.label_weight[:, 0] > 0, data.validation_weight[:, 0] > 0
    x = data.x[train_rows]
    scaling = (x.mean(0), x.var(0))
    model = build_dann(data.x.shape[1], network, 0, input_scaling=scaling)
    steps = math.ceil(train_rows.sum() / config.batch_size)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss={"label": "binary_crossentropy", "domain": "binary_crossentropy"},
                  steps_per_execution=steps, jit_compile=jit_compile)
    targets = {"label": data.label[train_rows], "domain": data.domain[train_rows]}
    weights = {"label": data.label_weight[train_rows, 0], "domain": data.domain_weight[train_rows, 0]}
    val = (data.x[val_rows], {"label": data.label[val_rows], "domain": data.domain[val_rows]})
    timer = EpochTimer()
    model.fit(x, targets, sample_weight=weights, batch_size=config.batch_size, epochs=epochs + 1,
              validation_data=val, verbose=0, callbacks=[timer])
    return {"ms_per_member_epoch": _median_ms(timer.seconds), "jit_compile": jit_compile}


def time_stacked(ei, splits, features, network, config, k, epochs, jit_compile=False, batch_size=None):
    from neuron_types.models.stacked import StackedNetwork
    from neuron_types.models.stacked_training import fit_stacked

    data = dann_members(ei, splits, features, k)
    config = config.model_copy(update=dict(max_epochs=epochs + 1, patience=epochs + 2,
                                           batch_size=batch_size or config.batch_size))
    model = StackedNetwork(len(features), list(range(k)), network, True, config.domain_loss_weight, "none")
    timer = EpochTimer()
    start = time.perf_counter()
    fit_stacked(model, data, config, shuffle_seed=0, jit_compile=jit_compile, callbacks=[timer])
    total = time.perf_counter() - start
    epoch_ms = _median_ms(timer.seconds)
    from neuron_types.models.stacked_training import steps_per_epoch

    rows = [np.flatnonzero(data.training_rows()[:, j]) for j in range(k)]
    return {"k": k, "ms_per_epoch": epoch_ms, "ms_per_member_epoch": epoch_ms / k, "jit_compile": jit_compile,
            "batch_size": config.batch_size, "steps_per_epoch": steps_per_epoch(rows, config.batch_size),
            "member_cells_per_epoch": max(len(r) for r in rows),
            "first_epoch_s_incl_tracing": round(timer.seconds[0], 2), "fit_s": round(total, 2)}


# --- LSPIN ------------------------------------------------------------------------------------

def lspin_benchmark(subclass, splits, features, params, k, epochs, jit_compile):
    """Per member-epoch of ``fit_stacked_lspin`` with K members (member j on split j % splits)."""
    from neuron_types.models.stacked_lspin import StackedLSPIN, StackedLSPINData, fit_stacked_lspin

    classes = list(params["feature_engineering"].subclass_names)
    y = subclass["subclass"].map({c: i for i, c in enumerate(classes)}).to_numpy("int32")
    x = subclass[features].to_numpy("float32")
    model_config = params["lspin"].lspin.model
    training = params["lspin"].lspin.training
    n_splits = int(splits["split"].nunique())
    roles = np.stack([subclass["specimen_id"].map(splits[splits["split"] == j % n_splits]
                                                  .set_index("specimen_id")["role"]).to_numpy() for j in range(k)], 1)
    train, val = roles == "train", roles == "validation"
    config = training.model_copy(update=dict(max_epochs=epochs + 1, check_every=1, patience=epochs + 2))
    stacked = StackedLSPIN(len(features), len(classes), list(range(k)), model_config)
    timer = EpochTimer()
    fit_stacked_lspin(stacked, StackedLSPINData.build(x, y, train, val), config, shuffle_seed=0,
                      jit_compile=jit_compile, callbacks=[timer])
    return {"training_cells_per_member": int(train[:, 0].sum()),
            "stacked_k": k, "jit_compile": jit_compile,
            "stacked_ms_per_member_epoch": round(_median_ms(timer.seconds) / k, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["fit", "stacked", "lspin"], action="append")
    parser.add_argument("--k", type=int, action="append")
    parser.add_argument("--jit", action="store_true", help="with --k: XLA for those K")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    only = set(args.only or ["fit", "stacked", "lspin"])
    import neuron_types  # noqa: F401  (first: its TensorFlow log level applies only before TensorFlow loads)
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    from neuron_types.models.networks import build_dann

    load_before = os.getloadavg()
    ei, ei_splits, subclass, subclass_splits, features, params = _cohort.model_inputs()
    network, config = params["dann"].network, params["dann"].training
    n_parameters = int(sum(np.prod(w.shape) for w in build_dann(len(features), network, 0).trainable_weights))
    peak = peak_gflops()
    one = dann_members(ei, ei_splits, features, 1)
    training_cells = int((one.label_weight[:, 0] > 0).sum())
    floor_ms = 1000 * 6 * n_parameters * training_cells / (peak * 1e9)
    _log(f"peak {peak:.1f} GFLOP/s, {n_parameters} parameters, {training_cells} training cells, floor {floor_ms:.2f} ms")
    dann: dict = {}
    if "fit" in only:
        dann["fit_one_fold"] = time_fit_one_fold(one, network, config, args.epochs)
        dann["fit_one_fold_jit"] = time_fit_one_fold(one, network, config, args.epochs, jit_compile=True)
        _log(f"fit {dann['fit_one_fold']} {dann['fit_one_fold_jit']}")
    if "stacked" in only:
        variants = [(k, args.jit) for k in args.k] if args.k else [(5, False), (15, False), (25, False), (15, True)]
        for k, jit in variants:
            key = f"stacked_k{k}" + ("_jit" if jit else "") + (f"_b{args.batch_size}" if args.batch_size else "")
            dann[key] = time_stacked(ei, ei_splits, features, network, config, k, args.epochs, jit, args.batch_size)
            _log(f"{key} {dann[key]}")
    for figures in dann.values():
        figures["ratio_to_floor"] = round(figures["ms_per_member_epoch"] / floor_ms, 2)
    result = {
        "date": dt.date.today().isoformat(),
        "tensorflow": tf.__version__,
        # oneDNN kernels: TensorFlow's default turns them on only on some Intel CPUs;
        # TF_ENABLE_ONEDNN_OPTS=1 forces them (results/onednn-2026-12-01.json)
        "onednn": bool(_pywrap_util_port.IsMklEnabled()),
        "cpus": os.cpu_count(),
        "peak_gflops": round(peak, 1),
        "dann_parameters": n_parameters,
        "dann_training_cells_per_member": training_cells,
        "floor_ms_per_member_epoch": round(floor_ms, 3),
        "dann": dann,
        "load_before": load_before,
    }
    if "fit_one_fold" in dann:
        for key, figures in dann.items():
            if key.startswith("stacked"):
                figures["speedup_vs_fit_one_fold"] = round(dann["fit_one_fold"]["ms_per_member_epoch"]
                                                           / figures["ms_per_member_epoch"], 2)
    if "lspin" in only:
        result["lspin"] = [lspin_benchmark(subclass, subclass_splits, features, params, k, args.epochs, jit)
                           for k, jit in ((5, False), (25, False))]
        _log(f"lspin {result['lspin']}")
    result["load_after"] = os.getloadavg()
    out = args.out or ROOT / "benchmarks" / "results" / f"training_engine-{dt.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
