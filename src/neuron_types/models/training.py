"""A fast, deterministic training loop for the DANN and its domain-head-free baselines.

Why not ``model.fit``: on two CPU cores a Keras ``fit`` step costs milliseconds of Python and
dispatch overhead for a sub-millisecond matmul. Here a whole epoch (seeded shuffle, every
minibatch by ``tf.gather``, the optimiser steps, the validation pass) runs inside one
``tf.function`` over tensors already in memory, traced once per ``Trainer`` and reused across
splits by re-initialising weights instead of rebuilding the graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from neuron_types.config import DannTrainingConfig
from neuron_types.models.fused_adam import FusedAdam, l2_penalties
from neuron_types.models.grl import ganin_lambda
from neuron_types.models.networks import gradient_reversal_layer, has_domain_head, logit_view

HISTORY_KEYS = (
    "label_loss",
    "domain_loss",
    "domain_accuracy",
    "val_label_loss",
    "val_label_accuracy",
    "val_domain_loss",
    "val_domain_accuracy",
)


def lambda_at(config: DannTrainingConfig, epoch: int) -> float:
    """The gradient-reversal lambda of ``epoch``: ``lambda_max`` throughout (``constant``),
    or Ganin's schedule with progress p = epoch / schedule_epochs (``ganin``)."""
    if config.lambda_schedule == "constant":
        return float(config.lambda_max)
    return ganin_lambda(epoch / config.schedule_epochs, config.lambda_max)


@dataclass(frozen=True)
class TrainingData:
    """Cells as float32 arrays. A label weight of 0 hides that cell's label (unsupervised
    target cells); a domain weight of 0 keeps the cell out of the domain loss."""

    x: np.ndarray
    label: np.ndarray
    label_weight: np.ndarray
    domain: np.ndarray
    domain_weight: np.ndarray

    @classmethod
    def build(
        cls,
        x: np.ndarray,
        label: np.ndarray,
        domain: np.ndarray,
        label_weight: np.ndarray | None = None,
        domain_weight: np.ndarray | None = None,
    ) -> TrainingData:
        x = np.asarray(x, dtype=np.float32)
        n = len(x)
        if x.ndim != 2 or n == 0:
            raise ValueError(f"x: expected a non-empty 2-D feature matrix, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("x: features contain NaN or infinite values")

        def vector(values, name, default):
            values = np.full(n, default, np.float32) if values is None else np.asarray(values, np.float32)
            if values.shape != (n,):
                raise ValueError(f"{name}: expected shape ({n},), got {values.shape}")
            return values

        return cls(
            x=x,
            label=vector(label, "label", 0.0),
            label_weight=vector(label_weight, "label_weight", 1.0),
            domain=vector(domain, "domain", 0.0),
            domain_weight=vector(domain_weight, "domain_weight", 1.0),
        )

    def tensors(self) -> tuple[tf.Tensor, ...]:
        return tuple(
            tf.constant(a) for a in (self.x, self.label, self.label_weight, self.domain, self.domain_weight)
        )


def _weighted_mean(values, weights):
    return tf.reduce_sum(values * weights) / tf.maximum(tf.reduce_sum(weights), 1e-12)


class Trainer:
    """Owns one network, its optimiser and its traced epoch; ``fit`` may be called per split.

    ``build`` maps a seed to a freshly initialised network (``build_dann`` or
    ``build_classifier`` with its config bound); only its weights are used after the first
    call, so that the traced graph is reused.
    """

    def __init__(self, build: Callable[[int], keras.Model], config: DannTrainingConfig):
        self.config = config
        self._build = build
        self.model = build(0)
        self._logits = logit_view(self.model)
        self._has_domain = has_domain_head(self.model)
        self._grl = gradient_reversal_layer(self.model)
        self._trainable = self._logits.trainable_variables
        self.optimizer = FusedAdam(self._trainable, config.learning_rate)
        # The L2 penalty's gradient, 2 * l2 * kernel, is added to the gradient directly:
        # the same update as a penalty term in the loss, for 2 ops per kernel instead of ~8.
        self._l2 = l2_penalties(self._logits)
        n_features = self.model.inputs[0].shape[-1]
        data_spec = (
            tf.TensorSpec([None, n_features], tf.float32),
            *(tf.TensorSpec([None], tf.float32) for _ in range(4)),
        )
        self._epoch = tf.function(
            self._run_epoch,
            input_signature=(*data_spec, *data_spec, tf.TensorSpec([2], tf.int64)),
            jit_compile=False,
        )
        self._predict = compiled_predictor(self.model)

    # -- traced pieces -------------------------------------------------------------------
    def _losses(self, x, y, lw, d, dw, training):
        outputs = self._logits(x, training=training)
        if not isinstance(outputs, (list, tuple)):  # Keras unwraps a one-output list
            outputs = [outputs]
        label_logit = outputs[0][:, 0]
        label_loss = _weighted_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=label_logit), lw)
        label_accuracy = _weighted_mean(tf.cast(tf.equal(tf.cast(label_logit > 0, tf.float32), y), tf.float32), lw)
        if self._has_domain:
            domain_logit = outputs[1][:, 0]
            domain_loss = _weighted_mean(
                tf.nn.sigmoid_cross_entropy_with_logits(labels=d, logits=domain_logit), dw
            )
            domain_accuracy = _weighted_mean(
                tf.cast(tf.equal(tf.cast(domain_logit > 0, tf.float32), d), tf.float32), dw
            )
        else:
            domain_loss = domain_accuracy = tf.constant(0.0)
        return label_loss, label_accuracy, domain_loss, domain_accuracy

    def _run_epoch(self, x, y, lw, d, dw, vx, vy, vlw, vd, vdw, seed):
        n = tf.shape(x)[0]
        batch = self.config.batch_size
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=seed)
        n_batches = (n + batch - 1) // batch
        totals = tf.zeros([3])
        for i in tf.range(n_batches):
            idx = order[i * batch : tf.minimum((i + 1) * batch, n)]
            with tf.GradientTape() as tape:
                label_loss, _, domain_loss, domain_accuracy = self._losses(
                    tf.gather(x, idx), tf.gather(y, idx), tf.gather(lw, idx),
                    tf.gather(d, idx), tf.gather(dw, idx), training=True,
                )
                loss = label_loss + self.config.domain_loss_weight * domain_loss
                if self._l2 is None and self._logits.losses:
                    loss += tf.add_n(self._logits.losses)
            grads = tape.gradient(loss, self._trainable)
            for i, l2 in self._l2 or ():
                grads[i] = grads[i] + (2.0 * l2) * self._trainable[i]
            self.optimizer.apply(grads, self._trainable)
            totals += tf.stack([label_loss, domain_loss, domain_accuracy])
        train = totals / tf.cast(n_batches, tf.float32)
        val_label_loss, val_label_acc, val_domain_loss, val_domain_acc = self._losses(
            vx, vy, vlw, vd, vdw, training=False
        )
        return tf.concat([train, tf.stack([val_label_loss, val_label_acc, val_domain_loss, val_domain_acc])], 0)

    # -- public ------------------------------------------------------------------------------
    def reset(self, seed: int) -> None:
        """Fresh weights from ``build(seed)``, zeroed optimiser state, reseeded dropout."""
        self.model.set_weights(self._build(seed).get_weights())
        self.optimizer.reset()
        for i, layer in enumerate(self.model.layers):
            generator = getattr(layer, "seed_generator", None)
            if generator is not None:
                generator.state.assign(tf.constant([seed * 1009 + i, 0], dtype=generator.state.dtype))

    def fit(self, train: TrainingData, validation: TrainingData, seed: int = 0) -> dict[str, list[float]]:
        """Trains from fresh weights; returns the per-epoch history (best weights restored)."""
        if float(validation.label_weight.sum()) <= 0:
            raise ValueError("validation: no labelled validation cells to monitor early stopping on")
        if self._has_domain and float(train.domain_weight.sum()) <= 0:
            raise ValueError("train: every domain weight is 0; the domain head has nothing to learn from")
        self.reset(seed)
        train_t, val_t = train.tensors(), validation.tensors()
        history = {key: [] for key in (*HISTORY_KEYS, "lambda")}
        best_loss, best_epoch, best_weights = math.inf, -1, None
        for epoch in range(self.config.max_epochs):
            lam = lambda_at(self.config, epoch) if self._has_domain else 0.0
            if self._grl is not None:
                self._grl.set_lambda(lam)
            values = self._epoch(*train_t, *val_t, tf.constant([seed, epoch], tf.int64)).numpy()
            for key, value in zip(HISTORY_KEYS, values):
                history[key].append(float(value))
            history["lambda"].append(lam)
            monitored = float(values[HISTORY_KEYS.index("val_label_loss")])
            if monitored < best_loss:
                best_loss, best_epoch, best_weights = monitored, epoch, self.model.get_weights()
            elif epoch + 1 >= self.config.min_epochs and epoch - best_epoch >= self.config.patience:
                break
        if not np.isfinite(best_loss):
            raise FloatingPointError("training diverged: the validation label loss was never finite")
        self.model.set_weights(best_weights)
        history["best_epoch"] = best_epoch
        return history

    def predict_proba(self, x: np.ndarray, chunk: int = 65536) -> np.ndarray:
        """P(excitatory) per cell, from the traced prediction function (no ``model.predict``)."""
        return self._predict(x, chunk)


def compiled_predictor(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """A traced ``x -> P(label)`` for any of these networks (for example a loaded ``.keras``)."""
    n_features = model.inputs[0].shape[-1]
    fn = tf.function(
        lambda x: model(x, training=False)["label"][:, 0],
        input_signature=(tf.TensorSpec([None, n_features], tf.float32),),
        jit_compile=False,
    )

    def predict(x: np.ndarray, chunk: int = 65536) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate([fn(tf.constant(x[i : i + chunk])).numpy() for i in range(0, len(x), chunk)])

    return predict
