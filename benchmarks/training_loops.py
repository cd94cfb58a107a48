"""Side-by-side timings for ``benchmarks/run.py``: the project's DANN training loop against a
plain Keras ``fit`` of the same network and batch size, and batch-prediction throughput."""

from __future__ import annotations

import time

import keras
import numpy as np

from neuron_types.config import DannNetwork, DannTrainingConfig
from neuron_types.models.networks import build_dann
from neuron_types.models.training import Trainer, TrainingData, compiled_predictor


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def synthetic_cells(n: int = 1100, n_features: int = 41, seed: int = 0):
    """Cells shaped like one split's training rows (~18% target domain)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_features)).astype("float32")
    label = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype("float32")
    domain = (rng.random(n) < 0.18).astype("float32")
    return x, label, domain


def time_training_loops(
    x: np.ndarray | None = None,
    label: np.ndarray | None = None,
    domain: np.ndarray | None = None,
    network: DannNetwork,
    training: DannTrainingConfig,
    epochs: int = 20,
    validation_fraction: float = 0.2,
) -> dict[str, float]:
    """Median wall time per epoch of ``Trainer`` and of ``keras.Model.fit`` on the same DANN.

    Both train both heads with a validation pass per epoch; the first (tracing) epoch of
    each is excluded. Returns ``{"trainer_ms_per_epoch", "fit_ms_per_epoch", "speedup",
    "n_cells", "batch_size", "epochs"}``.
    """
    if x is None:
        x, label, domain = synthetic_cells()
    n_val = max(1, int(len(x) * validation_fraction))
    train = TrainingData.build(x[n_val:], label[n_val:], domain[n_val:])
    validation = TrainingData.build(x[:n_val], label[:n_val], domain[:n_val])

    config = training.model_copy(update={"max_epochs": epochs, "patience": epochs + 1})
    batch_size = config.batch_size
    trainer = Trainer(lambda seed: build_dann(x.shape[1], network, seed), config)
    tensors = train.tensors() + validation.tensors()
    import tensorflow as tf

    trainer._epoch(*tensors, tf.constant([0, 0], tf.int64))  # trace once
    seconds = []
    for epoch in range(epochs):
        start = time.perf_counter()
        trainer._epoch(*tensors, tf.constant([0, epoch + 1], tf.int64)).numpy()
        seconds.append(time.perf_counter() - start)
    trainer_ms = 1000 * float(np.median(seconds))

    model = build_dann(x.shape[1], network, 0)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss={"label": "binary_crossentropy", "domain": "binary_crossentropy"},
        jit_compile=False,
    )
    targets = {"label": train.label, "domain": train.domain}
    val = (validation.x, {"label": validation.label, "domain": validation.domain})
    timer = _EpochTimer()
    model.fit(train.x, targets, batch_size=batch_size, epochs=epochs + 1, validation_data=val, verbose=0, callbacks=[timer])
    fit_ms = 1000 * float(np.median(timer.seconds[1:]))
    return {
        "trainer_ms_per_epoch": trainer_ms,
        "fit_ms_per_epoch": fit_ms,
        "speedup": fit_ms / trainer_ms,
        "n_cells": int(len(train.x)),
        "batch_size": int(batch_size),
        "epochs": int(epochs),
    }


def prediction_throughput(model: keras.Model, n_cells: int = 200_000, repeats: int = 3) -> float:
    """Cells per second of the compiled batch predictor on random cells (best of ``repeats``)."""
    n_features = model.inputs[0].shape[-1]
    x = np.random.default_rng(0).normal(size=(n_cells, n_features)).astype("float32")
    predict = compiled_predictor(model)
    predict(x[:1024])  # trace
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        predict(x)
        best = min(best, time.perf_counter() - start)
    return n_cells / best
