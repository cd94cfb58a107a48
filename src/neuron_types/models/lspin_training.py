"""Fast training of :class:`~neuron_types.models.lspin.LSPIN` with early stopping.

Keras ``fit`` pays a Python round trip per step (~1-2 ms on these tiny networks). Here a
block of epochs (shuffle + every mini-batch step) runs inside one ``tf.function`` over
tensors already in memory, and Python only wakes up between blocks to score the validation
cells and keep the best weights. The update itself is ``LSPIN.update_on_batch``, the same
one the model's ``train_step`` uses. Kedro-free.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from neuron_types.config import LspinTrainingConfig
from neuron_types.models.lspin import LSPIN

def make_optimizer(config: LspinTrainingConfig) -> keras.optimizers.Optimizer:
    # Keras applies weight decay decoupled from the gradient (AdamW-style); None keeps the
    # optimizer's update free of the extra multiply when it is off.
    decay = config.weight_decay or None
    if config.optimizer == "adam":
        return keras.optimizers.Adam(config.learning_rate, weight_decay=decay)
    return keras.optimizers.SGD(config.learning_rate, weight_decay=decay)


def balanced_sample_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Weights ``n / (k * n_c)`` so that every class weighs the same in the loss."""
    counts = np.bincount(y, minlength=n_classes).astype("float64")
    weights = len(y) / (n_classes * np.maximum(counts, 1.0))
    return weights[y].astype("float32")


def fit_lspin(
    model: LSPIN,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_validation: np.ndarray | None,
    y_validation: np.ndarray | None,
    config: LspinTrainingConfig,
    shuffle_seed: int = 0,
) -> pd.DataFrame:
    """Fits ``model`` (scaling on ``x_train`` only) and restores its best validation weights.

    Early stopping watches the validation cells every ``check_every`` epochs; with no
    validation cells the model trains for ``max_epochs`` and keeps its last weights.
    ``shuffle_seed`` seeds the minibatch order.
    Returns the history: one row per check with ``epoch``, ``train_loss``,
    ``val_cross_entropy``, ``val_accuracy``.
    """
    x_train = np.asarray(x_train, dtype="float32")
    y_train = np.asarray(y_train, dtype="int32")
    if len(x_train) != len(y_train) or len(x_train) == 0:
        raise ValueError(
            f"fit_lspin: expected as many labels as training cells (> 0), got "
            f"{len(x_train)} cells and {len(y_train)} labels"
        )
    if y_train.min() < 0 or y_train.max() >= model.n_classes:
        raise ValueError(
            f"fit_lspin: labels must be class indices in [0, {model.n_classes}), got "
            f"[{y_train.min()}, {y_train.max()}]"
        )
    if not model.built:
        model.build((None, model.n_features))
    model.adapt_scaling(x_train)
    if getattr(model, "optimizer", None) is None:
        model.compile(optimizer=make_optimizer(config))
    model.optimizer.build(model.trainable_variables)

    weights = (
        balanced_sample_weights(y_train, model.n_classes)
        if config.balance_classes
        else np.ones(len(y_train), dtype="float32")
    )
    x_all = tf.constant(x_train)
    y_all = tf.constant(y_train)
    w_all = tf.constant(weights)
    n_cells = len(x_train)
    batch_size = min(config.batch_size, n_cells)
    steps = math.ceil(n_cells / batch_size)
    shuffle_seed = int(shuffle_seed)

    validate = x_validation is not None and len(x_validation) > 0
    if validate:
        x_val = tf.constant(np.asarray(x_validation, dtype="float32"))
        y_val = tf.constant(np.asarray(y_validation, dtype="int32"))

    # One call runs a block of epochs and, when there are validation cells, scores them:
    # no eager model call between blocks.
    @tf.function(jit_compile=False, reduce_retracing=True)
    def run_epochs(first_epoch, n_epochs):
        total = tf.constant(0.0)
        for epoch in tf.range(first_epoch, first_epoch + n_epochs):
            order = tf.argsort(
                tf.random.stateless_uniform((n_cells,), seed=tf.stack([shuffle_seed, epoch]))
            )
            total = tf.constant(0.0)
            for step in tf.range(steps):
                batch = order[step * batch_size : tf.minimum((step + 1) * batch_size, n_cells)]
                terms = model.update_on_batch(
                    tf.gather(x_all, batch), tf.gather(y_all, batch), tf.gather(w_all, batch)
                )
                total += terms["loss"]
        scores = {"train_loss": total / steps}
        if validate:
            proba = model(x_val, training=False)
            picked = tf.gather(proba, y_val, axis=1, batch_dims=1)
            scores["val_cross_entropy"] = -tf.reduce_mean(tf.math.log(tf.maximum(picked, 1e-12)))
            hits = tf.equal(tf.argmax(proba, axis=1, output_type=tf.int32), y_val)
            scores["val_accuracy"] = tf.reduce_mean(tf.cast(hits, tf.float32))
        return scores

    higher_is_better = config.monitor == "val_accuracy"
    best_score, best_epoch, best_weights = -np.inf, 0, None
    rows = []
    epoch = 0
    while epoch < config.max_epochs:
        block = min(config.check_every, config.max_epochs - epoch)
        scores = run_epochs(tf.constant(epoch), tf.constant(block))
        epoch += block
        row = {"epoch": epoch, **{name: float(value) for name, value in scores.items()}}
        if validate:
            score = row[config.monitor] if higher_is_better else -row[config.monitor]
            if score > best_score:
                best_score, best_epoch, best_weights = score, epoch, model.get_weights()
        rows.append(row)
        if validate and config.patience is not None and epoch - best_epoch >= config.patience:
            break
    if best_weights is not None:
        model.set_weights(best_weights)
    history = pd.DataFrame(rows)
    history["best_epoch"] = best_epoch if validate else epoch
    return history

