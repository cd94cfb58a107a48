"""K independent LSPIN networks (or their gate-free MLPs) in one Keras model, trained with
``model.fit``, and the export of one member to an ordinary :class:`~neuron_types.models.lspin.LSPIN`.

Member ``k`` is ``LSPIN(n_features, n_classes, seed=seeds[k], **model_config)``: the same
layers and initial weights (the per-layer seeds ``seed * 1000 + i`` of ``LSPIN``), gate
noise of std ``sigma``, expected-L0 penalty ``lambda1`` and optional similarity term
``lambda2``. Which cells count for which member is data (``(cells, K)`` weights); a member's
cross-entropy, L0 and similarity terms are over its own minibatch of its own cells, so
they are what a single LSPIN computes on those cells. The gate noise is one draw over the
whole ``(K, B, F)`` tensor from a generator seeded with the first member's seed: a K=1 stack
draws exactly the noise of its single LSPIN.

Members may differ in their hyperparameters (:class:`MemberHyperparameters`, what the Optuna
tuning of :mod:`~neuron_types.models.lspin_tuning` varies): ``sigma`` and ``lambda1`` enter
each member's own loss terms; a learning rate and a weight decay per member are exact under
momentum-free SGD only, as a per-member scale of the loss gradient (step ``lr_k * g``) and an
L2 term whose step is Keras' decoupled decay ``lr_k * wd_k * w``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import ops

from neuron_types.config import LspinModelConfig, LspinTrainingConfig, MlpModelConfig
from neuron_types.models.lspin import LSPIN, expected_open_gates
from neuron_types.models.member_hyperparameters import MemberHyperparameters
from neuron_types.models.stacked import MemberMean, StackedModel
from neuron_types.models.stacked_layers import MemberBatchNormalisation, MemberStandardisation, StackedDense
from neuron_types.models.stacked_training import (COMPACT_AT, RETRACE_EPOCHS, MemberEarlyStopping, fit_until_stopped,
                                                  member_batches, per_member_validation, steps_per_epoch)


def _pairwise_squared_distances(a):
    """``D_kij = ||a_ki - a_kj||^2`` for ``a`` of shape ``(K, B, F)``."""
    norms = ops.sum(a * a, axis=-1)
    gram = ops.einsum("kif,kjf->kij", a, a)
    return ops.maximum(norms[:, :, None] - 2.0 * gram + norms[:, None, :], 0.0)


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


def lspin_settings(model: LspinModelConfig | MlpModelConfig) -> dict:
    """``LSPIN`` keyword arguments of a model section: an ``LspinModelConfig`` is a gated
    LSPIN, an ``MlpModelConfig`` the same prediction network without gates (which has no
    gate settings: none of ``LSPIN``'s gate arguments is read then)."""
    if isinstance(model, LspinModelConfig):
        return {**model.model_dump(), "use_gates": True}
    if isinstance(model, MlpModelConfig):
        return {**model.model_dump(), "gating_units": [], "use_gates": False}
    raise TypeError(f"model: expected an LspinModelConfig or MlpModelConfig, got {type(model).__name__}")


class StackedLSPIN(StackedModel):
    """K LSPIN members; ``call(x)`` returns class probabilities ``(K, B, classes)``."""

    def __init__(self, n_features: int, n_classes: int, seeds: Sequence[int],
                 model: LspinModelConfig | MlpModelConfig, members: MemberHyperparameters | None = None,
                 **kwargs):
        """``members``: per-member hyperparameters; their ``sigma`` and ``lambda1`` replace the
        model section's (the optimiser settings are read by :func:`fit_stacked_lspin`)."""
        super().__init__(**kwargs)
        self.settings = lspin_settings(model)
        single = LSPIN(n_features, n_classes, **self.settings)  # the single network's checks of every setting
        self.seeds = [int(s) for s in seeds]
        self.n_features, self.n_classes = int(n_features), int(n_classes)
        self.sigma, self.lambda1, self.lambda2 = single.sigma, single.lambda1, single.lambda2
        if members is not None and len(members) != len(self.seeds):
            raise ValueError(f"members: hyperparameters of {len(members)} members for a stack of {len(self.seeds)}")
        self.members = members
        self.use_gates, self.similarity_kernel, self.rbf_bandwidth = (single.use_gates, single.similarity_kernel,
                                                                      single.rbf_bandwidth)
        activation = single.activation
        k = len(self.seeds)
        index = iter(range(100))

        def dense(units, activation, stddev, name):
            i = next(index)  # LSPIN's i-th layer is seeded seed * 1000 + i
            return StackedDense(units, [s * 1000 + i for s in self.seeds], activation,
                                initializer="truncated_normal" if stddev else "glorot_uniform",
                                stddev=stddev or 0.05, name=name)

        self.scaler = MemberStandardisation(k, self.n_features, name="training_scaler")
        self.gating_layers = [dense(u, activation, 0.1, f"gating_{i}")
                              for i, u in enumerate(self.settings["gating_units"])] if self.use_gates else []
        self.gate_mean_layer = dense(self.n_features, "tanh", 0.1, "gate_mean") if self.use_gates else None
        self.prediction_layers = [dense(u, activation, None, f"prediction_{i}")
                                  for i, u in enumerate(self.settings["prediction_units"])]
        self.logit_layer = dense(self.n_classes, None, None, "logits")
        widths = [self.n_features, *self.settings["prediction_units"]]
        self.batch_norms = [MemberBatchNormalisation(k, width, name=f"prediction_norm_{i}")
                            for i, width in enumerate(widths)] if single.batch_normalization else []
        self.noise = keras.random.SeedGenerator(self.seeds[0], name="gate_noise")
        self.member_metrics = [MemberMean(k, n) for n in ("loss", "cross_entropy", "expected_open_gates")]
        self.build((None, self.n_features))

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def build(self, input_shape=None):
        if not self.built:
            self.call(ops.zeros((1, self.n_features)))
            self.built = True

    def _per_member(self, values: np.ndarray, members=None):
        """``(K,)`` values as a tensor of the running ``members`` (default every member)."""
        values = ops.convert_to_tensor(values, "float32")
        return values if members is None else ops.take(values, members, axis=0)

    def member_gate_settings(self, members=None):
        """``sigma`` ``(K, 1, 1)`` and ``lambda1`` ``(K,)`` of the running members, or the
        model's two scalars when every member shares them."""
        if self.members is None or self.members.sigma is None:
            return self.sigma, self.lambda1
        return (self._per_member(self.members.sigma, members)[:, None, None],
                self._per_member(self.members.lambda1, members))

    def _forward(self, x, training, members=None, member_cells=None):
        """``members``: which members' inputs ``x`` holds (default all; see ``StackedDense``);
        ``member_cells`` ``(K, B)``: each member's own cells of ``x``, for batch normalisation."""
        x_scaled = self.scaler(x, members=members)
        if self.use_gates:
            sigma = self.member_gate_settings(members)[0]
            hidden = x_scaled
            for layer in self.gating_layers:
                hidden = layer(hidden, members=members)
            mu = self.gate_mean_layer(hidden, members=members)
            noisy = mu + sigma * keras.random.normal(ops.shape(mu), seed=self.noise) if training else mu
            gates = ops.clip(0.5 + noisy, 0.0, 1.0)
        else:
            mu, gates = None, ops.ones_like(x_scaled)
        hidden = x_scaled * gates
        for i, layer in enumerate([*self.prediction_layers, self.logit_layer]):
            if self.batch_norms:
                hidden = self.batch_norms[i](hidden, training=training, member_cells=member_cells, members=members)
            hidden = layer(hidden, members=members)
        return x_scaled, mu, gates, hidden

    def call(self, x, training=False):
        return ops.softmax(self._forward(x, training)[3], axis=-1)

    def member_losses(self, x, y, weight, training: bool = True, members=None) -> dict:
        """Per-member ``(K,)`` loss terms of each member's own cells: ``x`` ``(K, B, F)``,
        classes ``y`` and weights ``weight`` ``(K, B)`` (weight 0: padding, not its cell);
        ``members``: the running members ``x`` holds, when not all."""
        weight = ops.cast(weight, "float32")
        member = ops.cast(weight > 0, "float32")
        x_scaled, mu, gates, logits = self._forward(x, training, members, member_cells=member)
        y = ops.cast(y, "int32")
        n_cells = ops.maximum(ops.sum(member, axis=1), 1.0)
        per_cell = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        cross_entropy = ops.sum(per_cell * weight, axis=1) / ops.maximum(ops.sum(weight, axis=1), 1e-12)
        sigma, lambda1 = self.member_gate_settings(members)
        if self.use_gates:
            open_gates = ops.sum(ops.mean(expected_open_gates(mu, sigma), axis=-1) * member, axis=1) / n_cells
        else:
            open_gates = ops.zeros_like(cross_entropy)
        total = cross_entropy + lambda1 * open_gates
        if self.lambda2 > 0 and self.use_gates:
            if self.similarity_kernel == "label":
                kernel = ops.cast(ops.equal(y[:, :, None], y[:, None, :]), "float32")
            else:
                kernel = ops.exp(-_pairwise_squared_distances(x_scaled) / (2.0 * self.rbf_bandwidth**2))
            pairs = member[:, :, None] * member[:, None, :]
            spread = ops.sum(kernel * _pairwise_squared_distances(gates) * pairs, axis=(1, 2)) / n_cells**2
            total = total + self.lambda2 * spread
        return {"loss": total, "cross_entropy": cross_entropy, "expected_open_gates": open_gates}

    def train_step(self, data):
        x, targets = data[0], data[1]
        with tf.GradientTape() as tape:
            members = targets.get("members")
            terms = self.member_losses(x, targets["label"], targets["weight"], training=True, members=members)
            loss = ops.sum(self._sgd_member_loss(terms["loss"], members))
        return self.apply_member_step(tape, loss, terms, members)

    def _sgd_member_loss(self, loss, members=None):
        """Each member's loss as momentum-free SGD at the stack's base rate ``L`` must see it
        for a step of ``lr_k * (g + wd_k * w)``: ``(lr_k / L) * (loss_k + wd_k / 2 * ||w_k||^2)``."""
        if self.members is None:
            return loss
        scale = self.members.learning_rate / self.members.base_learning_rate
        squares = sum(ops.sum(ops.reshape(v * v, (self.n_members, -1)), axis=1)
                      for v in self.member_variables() if v.trainable)
        if members is not None:
            squares = ops.take(squares, members, axis=0)
        return self._per_member(scale, members) * (loss + 0.5 * self._per_member(self.members.weight_decay, members)
                                                   * squares)

    def grl(self):
        return None


@dataclass(frozen=True)
class StackedLSPINData:
    """Raw features, integer classes, and ``(cells, K)`` training and validation membership."""

    x: np.ndarray
    y: np.ndarray
    train: np.ndarray
    validation: np.ndarray

    @classmethod
    def build(cls, x, y, train, validation) -> StackedLSPINData:
        x, y = np.asarray(x, "float32"), np.asarray(y, "int32")
        train, validation = np.asarray(train, bool), np.asarray(validation, bool)
        if x.ndim != 2 or len(x) == 0 or y.shape != (len(x),):
            raise ValueError(f"x, y: expected (cells, features) and (cells,), got {x.shape} and {y.shape}")
        for name, rows in (("train", train), ("validation", validation)):
            if rows.ndim != 2 or rows.shape[0] != len(x):
                raise ValueError(f"{name}: expected shape ({len(x)}, members), got {rows.shape}")
            if not rows.any(axis=0).all():
                raise ValueError(f"{name}: members {np.flatnonzero(~rows.any(axis=0)).tolist()} have no cells")
        if (train & validation).any():
            raise ValueError("validation: a member validates on cells it trains on")
        return cls(x, y, train, validation)


def _lspin_scalers(x, rows):
    """LSPIN.adapt_scaling per member: mean and std (1 where constant), as (mean, std**2)."""
    means, variances = [], []
    for k in range(rows.shape[1]):
        chosen = x[rows[:, k]]
        scale = chosen.std(axis=0)
        scale[scale == 0] = 1.0
        means.append(chosen.mean(axis=0))
        variances.append(scale.astype("float32") ** 2)
    return np.stack(means), np.stack(variances)


def fit_stacked_lspin(model: StackedLSPIN, data: StackedLSPINData, config: LspinTrainingConfig, shuffle_seed: int,
                      jit_compile: bool = False, callbacks=(), compact_at: float = COMPACT_AT,
                      retrace_epochs: float = RETRACE_EPOCHS) -> pd.DataFrame:
    """Trains every member with ``model.fit`` (``config.optimizer``, class balancing, early
    stopping every ``check_every`` epochs on ``monitor`` with ``patience`` epochs); best
    weights restored (without ``early_stopping``: ``max_epochs`` epochs, last weights kept). Returns one row per member and checked epoch (``epoch`` 0-based).
    ``compact_at``, ``retrace_epochs``: resume on the running members, as in ``fit_stacked``.

    A stack with per-member hyperparameters (``model.members``) takes each member's learning
    rate, weight decay and class balancing from them, not from ``config``, under SGD only:
    Adam's step does not scale with the loss."""
    if data.y.min() < 0 or data.y.max() >= model.n_classes:
        raise ValueError(f"y: expected class indices in [0, {model.n_classes})")
    model.scaler.set_scaling(*_lspin_scalers(data.x, data.train))
    weight = data.train.astype("float32")
    members = model.members
    if members is not None and config.optimizer != "sgd":
        raise ValueError(f"training.optimizer: per-member learning rates need sgd, got {config.optimizer!r}")
    balanced = members.balance_classes if members is not None else np.full(model.n_members, config.balance_classes)
    for k in np.flatnonzero(balanced):
        rows = data.train[:, k]
        weight[rows, k] = balanced_sample_weights(data.y[rows], model.n_classes)
    rows = [np.flatnonzero(data.train[:, k]) for k in range(model.n_members)]
    steps = steps_per_epoch(rows, config.batch_size)
    if members is None:
        optimizer = make_optimizer(config)
    else:
        optimizer = keras.optimizers.SGD(members.base_learning_rate)
    model.compile(optimizer=optimizer, jit_compile=jit_compile, steps_per_execution=steps)

    def batches(members, first_epoch, running_only):
        return member_batches({"x": data.x, "label": data.y}, {"weight": weight[:, members]},
                              [rows[k] for k in members], [model.seeds[k] for k in members], shuffle_seed,
                              config.batch_size, config.max_epochs, first_epoch=first_epoch, steps=steps,
                              members=members if running_only else None)

    validation = per_member_validation(data.x, {"label": data.y}, data.validation.astype("float32"))

    @tf.function
    def score():
        proba = model(validation["x"], training=False)  # (K, V, C)
        picked = tf.gather(proba, validation["label"], axis=2, batch_dims=2)
        hits = tf.cast(tf.equal(tf.argmax(proba, axis=2, output_type=tf.int32), validation["label"]), tf.float32)
        w = validation["weight"]
        total = tf.reduce_sum(w, axis=1)
        ce = -tf.reduce_sum(tf.math.log(tf.maximum(picked, 1e-12)) * w, axis=1) / total
        accuracy = tf.reduce_sum(hits * w, axis=1) / total
        return {"val_cross_entropy": ce, "val_accuracy": accuracy, "val_error": 1.0 - accuracy}

    monitor = "val_error" if config.monitor == "val_accuracy" else "val_cross_entropy"
    stopping = MemberEarlyStopping(score, monitor, config.patience, check_every=config.check_every,
                                   compact_at=compact_at, retrace_epochs=retrace_epochs,
                                   keep_last=not config.early_stopping)
    return fit_until_stopped(model, batches, stopping, config.max_epochs, steps, callbacks)


def export_lspin_member(stacked: StackedLSPIN, k: int) -> LSPIN:
    """Member ``k`` as an ordinary ``LSPIN`` (its training scaler in ``feature_mean`` /
    ``feature_scale``), for the existing gate and prediction code."""
    if not 0 <= int(k) < stacked.n_members:
        raise ValueError(f"export_lspin_member: k must be in [0, {stacked.n_members}), got {k}")
    k = int(k)
    settings = dict(stacked.settings)
    if stacked.members is not None and stacked.members.sigma is not None and stacked.use_gates:
        settings.update(sigma=float(stacked.members.sigma[k]), lambda1=float(stacked.members.lambda1[k]))
    single = LSPIN(stacked.n_features, stacked.n_classes, seed=stacked.seeds[k], **settings)
    single.build((None, stacked.n_features))
    singles = [*single.gating_layers, single.gate_mean_layer, *single.prediction_layers, single.logit_layer]
    by_name = {layer.name: layer for layer in singles if layer is not None}
    for layer in stacked.layers:
        if isinstance(layer, StackedDense):
            by_name[layer.name].set_weights([ops.convert_to_numpy(layer.kernel)[k], ops.convert_to_numpy(layer.bias)[k]])
    for stacked_norm, norm in zip(stacked.batch_norms, single.batch_norms):
        norm.set_weights([ops.convert_to_numpy(v)[k] for v in (stacked_norm.gamma, stacked_norm.beta,
                                                               stacked_norm.moving_mean, stacked_norm.moving_variance)])
    single.feature_mean.assign(ops.convert_to_numpy(stacked.scaler.mean)[k])
    single.feature_scale.assign(np.sqrt(ops.convert_to_numpy(stacked.scaler.variance)[k]))
    return single
