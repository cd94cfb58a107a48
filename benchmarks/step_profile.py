"""Where one training step of the stacked DANN goes, on the real cohort.

    PYTHONPATH=src:. .venv/bin/python benchmarks/step_profile.py [--k 15] [--out FILE]

The stack of ``conf/base/parameters_dann.yml``'s network (K members, member j on split
j % 5, batch 64) is timed piece by piece on one real minibatch, best of 10 calls each:

- ``train_step``: Keras' own train function over one epoch's steps, per step;
- ``forward``: the losses in training mode (dropout on); ``forward_no_dropout``: in
  inference mode, so the difference is the dropout masks' random draws;
- ``forward_backward``: the losses and the gradients of every weight;
- ``adam``: Keras' Adam applying one set of gradients to every weight;
- ``batches_per_epoch``: the minibatch pipeline (``member_batches``) alone, per epoch;
- each with XLA (``jit_compile``) too, and ``flop_floor`` (6 x parameters x cells of a
  step at the measured matmul peak).

Two checks of bit-identity go with it, since a faster engine that changes the trained
weights needs every reported figure rerun: the weights after a few epochs with TensorFlow's
intra-op threads at 1 against the default, and Adam as one XLA cluster against Keras' own.
Results: ``benchmarks/results/step_profile-<date>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _cohort  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _best_ms(call, trials: int = 10) -> float:
    call()
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return round(1000 * best, 2)


@functools.cache
def _members(k: int):
    """``(data, network, config)``: StackedData of K DANN members on the real cohort (built
    once per process), and the DANN network and training settings of ``conf/base``."""
    from training_engine import dann_members

    ei, ei_splits, _, _, features, params = _cohort.model_inputs()
    return dann_members(ei, ei_splits, features, k), params["dann"].network, params["dann"].training


def _stack(k: int):
    """A compiled StackedNetwork of K members, its minibatches and steps per epoch."""
    import keras

    from neuron_types.models.stacked import StackedNetwork
    from neuron_types.models.stacked_layers import member_scalers
    from neuron_types.models.stacked_training import member_batches, steps_per_epoch

    data, network, config = _members(k)
    model = StackedNetwork(data.x.shape[1], list(range(k)), network, True, config.domain_loss_weight, "none")
    model.set_input_scaling(*member_scalers(data.x, data.training_rows()))
    rows = [np.flatnonzero((data.label_weight[:, j] > 0) | (data.domain_weight[:, j] > 0)) for j in range(k)]
    steps = steps_per_epoch(rows, config.batch_size)
    batches = member_batches({"x": data.x, "label": data.label, "domain": data.domain},
                             {"label_weight": data.label_weight, "domain_weight": data.domain_weight},
                             rows, model.seeds, 0, config.batch_size, 1000)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), steps_per_execution=steps)
    return model, batches, steps


def profile(k: int, jit: bool) -> dict:
    import tensorflow as tf

    model, batches, steps = _stack(k)
    x, targets = next(iter(batches))
    iterator = iter(batches)
    figures = {}
    if not jit:
        model.make_train_function()
        figures["train_step"] = round(_best_ms(lambda: model.train_function(iterator)) / steps, 2)

    def loss(training):
        terms = model.member_losses(x, targets, training=training)
        return tf.reduce_sum(terms["label_loss"]) + tf.reduce_sum(terms["domain_loss"]) + tf.add_n(model.losses)

    forward = tf.function(lambda: loss(True), jit_compile=jit)
    inference = tf.function(lambda: loss(False), jit_compile=jit)

    @tf.function(jit_compile=jit)
    def forward_backward():
        with tf.GradientTape() as tape:
            value = loss(True)
        return tf.add_n([tf.reduce_sum(g) for g in tape.gradient(value, model.trainable_variables)])

    gradients = [tf.fill(v.shape, 1e-3) for v in model.trainable_variables]
    adam = tf.function(lambda: model.optimizer.apply_gradients(zip(gradients, model.trainable_variables)),
                       jit_compile=jit)
    figures.update(forward=_best_ms(lambda: forward().numpy()), forward_no_dropout=_best_ms(lambda: inference().numpy()),
                   forward_backward=_best_ms(lambda: forward_backward().numpy()), adam=_best_ms(adam))
    if not jit:
        epoch = iter(batches)
        start = time.perf_counter()
        for _ in range(20 * steps):
            next(epoch)
        figures["batches_per_epoch"] = round(1000 * (time.perf_counter() - start) / 20, 2)
    figures["steps_per_epoch"] = steps
    figures["batch"] = list(x.shape)
    figures["parameters_per_member"] = int(sum(np.prod(v.shape) for v in model.trainable_variables)) // k
    return figures


def weights_after_epochs(k: int, epochs: int = 4) -> str:
    """SHA-256 of every weight after ``epochs`` epochs of ``fit_stacked``."""
    from neuron_types.models.stacked import StackedNetwork
    from neuron_types.models.stacked_training import fit_stacked

    data, network, config = _members(k)
    model = StackedNetwork(data.x.shape[1], list(range(k)), network, True, config.domain_loss_weight, "none")
    start = time.perf_counter()
    fit_stacked(model, data, config.model_copy(update=dict(max_epochs=epochs, patience=epochs + 2)), shuffle_seed=0)
    seconds = time.perf_counter() - start
    digest = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.weights)).hexdigest()
    return json.dumps({"sha256": digest, "fit_s": round(seconds, 2)})


def _in_subprocess(k: int, environment: dict) -> dict:
    """``weights_after_epochs`` in a fresh interpreter (thread counts are fixed at start-up)."""
    code = f"import sys; sys.path[:0] = ['benchmarks', 'src']; import step_profile; print(step_profile.weights_after_epochs({k}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, **environment}).stdout
    return json.loads(out.strip().splitlines()[-1])


def adam_in_one_xla_cluster_is_identical(shapes: list[tuple], steps: int = 30) -> dict:
    """Keras' Adam against the same update as one XLA cluster, after ``steps`` steps on
    random gradients of weights of ``shapes`` (the DANN stack's)."""
    import keras
    import tensorflow as tf
    from keras import ops

    class FusedAdam(keras.optimizers.Adam):
        def _backend_update_step(self, grads, trainable_variables, learning_rate):
            local_step = ops.cast(self.iterations + 1, "float32")
            alpha = (ops.cast(learning_rate, "float32") * ops.sqrt(1 - ops.power(ops.cast(self.beta_2, "float32"), local_step))
                     / (1 - ops.power(ops.cast(self.beta_1, "float32"), local_step)))
            variables = [v.value for v in trainable_variables]
            index = [self._get_variable_index(v) for v in variables]
            self._update(grads, variables, [self._momentums[i].value for i in index],
                         [self._velocities[i].value for i in index], alpha,
                         *(tf.constant(c, tf.float32) for c in (1 - self.beta_1, 1 - self.beta_2, self.epsilon)))

        @tf.function(jit_compile=True)
        def _update(self, grads, variables, momentums, velocities, alpha, c1, c2, epsilon):
            for g, var, m, v in zip(grads, variables, momentums, velocities):
                m.assign_add((g - m) * c1)
                v.assign_add((tf.square(g) - v) * c2)
                var.assign_sub((m * alpha) / (tf.sqrt(v) + epsilon))

    rng = np.random.default_rng(0)
    initial = [rng.normal(size=s).astype("float32") for s in shapes]
    gradients = [[tf.constant(rng.normal(size=s).astype("float32") * 1e-2) for s in shapes] for _ in range(steps)]

    def final(optimizer_class):
        variables = [keras.Variable(w) for w in initial]
        optimizer = optimizer_class(1e-3)
        optimizer.build(variables)
        step = tf.function(lambda g: optimizer.apply_gradients(zip(g, variables)))
        for g in gradients:
            step(g)
        return [v.numpy() for v in variables]

    keras_adam, fused = final(keras.optimizers.Adam), final(FusedAdam)
    return {"identical": all(np.array_equal(a, b) for a, b in zip(keras_adam, fused)),
            "max_abs_difference": float(max(np.abs(a - b).max() for a, b in zip(keras_adam, fused))),
            "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=15)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import neuron_types  # noqa: F401  (first: its TensorFlow log level applies only before TensorFlow loads)
    import tensorflow as tf
    from run import peak_gflops

    load_before = os.getloadavg()
    peak = peak_gflops()["gflops"]
    result = {"date": dt.date.today().isoformat(), "tensorflow": tf.__version__, "cpus": os.cpu_count(),
              "k": args.k, "peak_gflops": peak, "ms_per_step": profile(args.k, jit=False),
              "ms_per_step_xla": profile(args.k, jit=True)}
    step = result["ms_per_step"]
    cells = step["batch"][0] * step["batch"][1]
    result["flop_floor_ms_per_step"] = round(1000 * 6 * step["parameters_per_member"] * cells / (peak * 1e9), 2)
    default, one_thread = (_in_subprocess(args.k, env) for env in (
        {}, {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}))
    result["intra_op_threads"] = {"default": default, "one": one_thread,
                                  "identical": default["sha256"] == one_thread["sha256"]}
    shapes = [tuple(v.shape) for v in _stack(args.k)[0].trainable_variables]
    result["adam_one_xla_cluster"] = adam_in_one_xla_cluster_is_identical(shapes)
    result["load_before"], result["load_after"] = load_before, os.getloadavg()
    out = args.out or ROOT / "benchmarks" / "results" / f"step_profile-{result['date']}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
