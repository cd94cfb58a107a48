"""K independent DANNs (or domain-head-free classifiers) in one Keras model, trained with
``model.fit``.

Member ``k`` is the network ``networks.build_dann(n_features, network, seeds[k],
conditioning=conditioning)`` (or ``build_classifier``): same layers, widths, initial weights
(GlorotUniform with the same per-layer seeds), dropout rate, L2 and gradient reversal. Which
cells count for which member is data: label, domain and validation weights of shape
``(cells, K)``; each step gives every member a minibatch of its own training cells
(``(K, B, F)``), and member ``k``'s loss is its own weighted mean over it, so a cell with
weight 0 for member ``k`` has no effect on it. Each member standardises the raw input with
its own training scaler (:class:`~neuron_types.models.stacked_layers.MemberStandardisation`).
With ``network.gating``, LSPIN's gating network gates each member's standardised features
before its feature extractor, and each member's loss adds ``lambda1`` times its expected
share of open gates.

Why stacked: these networks are too small to keep two CPU cores busy one at a time; one
``einsum`` over the member axis does K members' matmuls for about the per-step overhead of
one (see ``benchmarks/training_engine.py``). Training itself is in
:mod:`neuron_types.models.stacked_training`; :func:`export_member` turns member ``k`` back
into the ordinary single network that prediction code already knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from neuron_types.models.grl import GradientReversal
from neuron_types.config import DannNetwork
from neuron_types.models.lspin import expected_open_gates
from neuron_types.models.networks import (DOMAIN_LOGIT, GATE_NOISE_SEED, GATING_SEED, LABEL_LOGIT, FeatureGates,
                                          build_classifier, build_dann)
from neuron_types.models.stacked_layers import (MemberBatchNormalisation, MemberStandardisation, StackedDense,
                                               StackedOuterProduct)


class MemberMean(keras.metrics.Metric):
    """Mean over batches of a per-member value ``(K,)``; reset by ``fit`` every epoch."""

    def __init__(self, n_members: int, name: str):
        super().__init__(name=name)
        self.total = self.add_variable(shape=(n_members,), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values):
        self.total.assign_add(values)
        self.count.assign_add(1.0)

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)


def _weighted_mean(values, weights):
    """Per-member weighted mean over the batch: values and weights ``(K, B)``."""
    return ops.sum(values * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1e-12)


def _accuracy(logits, targets):
    return ops.cast(ops.equal(ops.cast(logits > 0, "float32"), targets), "float32")


class StackedModel(keras.Model):
    """What every stack shares: one optimiser step on the sum of the members' losses (members
    share no weight, so the gradient of the sum with respect to member k's weights is the
    gradient of member k's own loss), per-member metrics, and the members' variables."""

    def apply_member_step(self, tape, loss, terms, members=None) -> dict:
        """``members``: the running members the ``(K_running,)`` terms belong to (default
        every member); the others get a zero gradient (and their L2 term) and metric 0. A
        stopped member's weights after it stopped are never kept (``MemberEarlyStopping``)."""
        gradients = tape.gradient(loss, self.trainable_variables)
        # a gather's gradient is sparse (IndexedSlices); Adam's update is dense
        gradients = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in gradients]
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        for metric in self.member_metrics:
            values = terms[metric.name]
            if members is not None:
                values = tf.scatter_nd(ops.expand_dims(members, 1), values, (self.n_members,))
            metric.update_state(values)
        return {metric.name: metric.result() for metric in self.member_metrics}

    @property
    def metrics(self):
        return list(self.member_metrics)

    def member_variables(self) -> list:
        """Every member's state, each with the member axis first: kernels and biases, and
        any batch normalisation's scales, offsets and moving statistics."""
        state = []
        for layer in self.layers:
            if isinstance(layer, StackedDense):
                state += [layer.kernel, layer.bias]
            elif isinstance(layer, MemberBatchNormalisation):
                state += [layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance]
        return state


class StackedNetwork(StackedModel):
    """K DANNs (``domain_head=True``) or K classifiers in stacked weights; outputs logits.

    ``call(x)`` takes raw features ``(B, F)`` shared by every member, or ``(K, B, F)``
    per member (``fills_missing``: NaN for a missing feature, filled with the member's
    training mean), and returns ``(label_logit, domain_logit)`` of shape ``(K, B)`` each
    (``domain_logit`` is None without a domain head). Train it with
    :func:`neuron_types.models.stacked_training.fit_stacked`.
    """

    def __init__(self, n_features: int, seeds: Sequence[int], network: DannNetwork, domain_head: bool,
                 domain_loss_weight: float, conditioning: Literal["none", "cdan"], fills_missing: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        if conditioning not in ("none", "cdan"):
            raise ValueError(f"StackedNetwork.conditioning: expected 'none' or 'cdan', got {conditioning!r}")
        self.conditioning = conditioning
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise ValueError("StackedNetwork.seeds: expected one seed per member, got none")
        self.n_features, self.network = int(n_features), network
        self.domain_head, self.domain_loss_weight = bool(domain_head), float(domain_loss_weight)
        k = len(self.seeds)
        self.scaler = MemberStandardisation(k, self.n_features, fills_missing, name="training_scaler")
        self.gating = network.gating
        if self.gating is not None:
            # LSPIN's gating network; small initial weights start every gate near 0.5
            units = [*self.gating.gating_units, self.n_features]
            self.gating_layers = [
                StackedDense(int(width), self._shift(GATING_SEED + i),
                             activation="tanh" if i == len(units) - 1 else self.gating.activation,
                             initializer="truncated_normal", stddev=0.1,
                             name="gate_mean" if i == len(units) - 1 else f"gating_{i}")
                for i, width in enumerate(units)]
            # one noise draw over the (K, B, F) gate means, seeded from the first member
            self.feature_gates = FeatureGates(self.gating.sigma, self.seeds[0] + GATE_NOISE_SEED, name="gates")
        self.extractor_dense, self.extractor_dropout = self._dense_stack(network.hidden_units, "extractor", 0)
        self.label_logit = StackedDense(1, self._shift(2000), l2=network.l2, name=LABEL_LOGIT)
        if self.domain_head:
            self.gradient_reversal = GradientReversal(1.0, name="gradient_reversal")
            self.outer_product = StackedOuterProduct(name="conditioned_features")
            self.domain_input_norm = layers.LayerNormalization(
                center=False, scale=False, name="domain_input_norm") if network.domain_input_norm else None
            self.domain_dense, self.domain_dropout = self._dense_stack(network.domain_hidden_units, "domain", 3000)
            self.domain_logit = StackedDense(1, self._shift(4000), name=DOMAIN_LOGIT)
        names = ("label_loss", "label_accuracy", "domain_loss", "domain_accuracy")
        if self.gating is not None:
            names = (*names, "expected_open_gates")
        self.member_metrics = [MemberMean(k, name) for name in names]
        self.build((None, self.n_features))

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def _shift(self, offset: int) -> list[int]:
        return [seed + offset for seed in self.seeds]

    def _dense_stack(self, units, prefix: str, offset: int):
        # Seeds as in networks._dense_stack: kernel seed + i, dropout seed + 1000 + i. One
        # dropout draw covers the whole (K, B, F) tensor, seeded from the first member: a K=1
        # stack drops exactly the units its single network would.
        dense = [StackedDense(int(width), self._shift(offset + i), activation=self.network.activation,
                              l2=self.network.l2, name=f"{prefix}_dense_{i}") for i, width in enumerate(units)]
        dropout = [layers.Dropout(self.network.dropout, seed=self.seeds[0] + offset + 1000 + i,
                                  name=f"{prefix}_dropout_{i}") for i in range(len(units))]
        return dense, (dropout if self.network.dropout > 0 else [])

    @staticmethod
    def _run(dense, dropout, x, training, members=None):
        for i, layer in enumerate(dense):
            x = layer(x, members=members)
            if dropout:
                x = dropout[i](x, training=training)
        return x

    def build(self, input_shape=None):
        if not self.built:
            self.call(ops.zeros((1, self.n_features)))
            self.built = True

    def gate_means(self, x, members=None):
        """``mu(x)`` ``(K, B, F)`` of the gating network on the standardised features, and
        those features; ``None`` and the features without a gating network."""
        scaled = self.scaler(x, members=members)
        if self.gating is None:
            return None, scaled
        hidden = scaled
        for layer in self.gating_layers:
            hidden = layer(hidden, members=members)
        return hidden, scaled

    def gates(self, x):
        """Every member's inference gates (no noise) of raw cells ``x``: ``(K, B, F)``."""
        mu, _ = self.gate_means(x)
        if mu is None:
            raise ValueError("gates: this stack has no gating network (dann.models.<name>.gated is false)")
        return self.feature_gates(mu, training=False)

    def call(self, x, training=False, members=None):
        """``members``: which members' inputs ``x`` ``(K_running, B, F)`` holds (default
        all, in order); the logits are then ``(K_running, B)``."""
        return self._forward(x, training, members)[:2]

    def _forward(self, x, training, members=None):
        """``(label_logit, domain_logit, mu)``: ``mu`` the gate means (None without gates)."""
        mu, features = self.gate_means(x, members)
        if mu is not None:
            features = features * self.feature_gates(mu, training=training)
        features = self._run(self.extractor_dense, self.extractor_dropout, features, training, members)
        label_logit = self.label_logit(features, members=members)
        if not self.domain_head:
            return label_logit[..., 0], None, mu
        domain_input = features
        if self.conditioning == "cdan":
            p = ops.sigmoid(label_logit)
            domain_input = self.outer_product([features, ops.concatenate([1.0 - p, p], axis=-1)])
        reversed_features = self.gradient_reversal(domain_input)
        if self.domain_input_norm is not None:
            reversed_features = self.domain_input_norm(reversed_features)
        domain_logit = self.domain_logit(
            self._run(self.domain_dense, self.domain_dropout, reversed_features, training, members), members=members)
        return label_logit[..., 0], domain_logit[..., 0], mu

    # -- training ----------------------------------------------------------------------------
    def member_losses(self, x, targets, training: bool) -> dict:
        """Per-member ``(K,)`` label loss/accuracy and domain loss/accuracy on one batch.

        ``x``: ``(K, B, F)``, each member's own cells; ``targets``: ``label``, ``domain``,
        ``label_weight`` and ``domain_weight``, each ``(K, B)``, and optionally ``members``
        (the running members' indices, when ``x`` holds only theirs).
        """
        label_logit, domain_logit, mu = self._forward(x, training, targets.get("members"))
        label = ops.cast(targets["label"], "float32")
        terms = {
            "label_loss": _weighted_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=label, logits=label_logit),
                                         targets["label_weight"]),
            "label_accuracy": _weighted_mean(_accuracy(label_logit, label), targets["label_weight"]),
        }
        if self.domain_head:
            domain = ops.cast(targets["domain"], "float32")
            terms["domain_loss"] = _weighted_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                labels=domain, logits=domain_logit), targets["domain_weight"])
            terms["domain_accuracy"] = _weighted_mean(_accuracy(domain_logit, domain), targets["domain_weight"])
        else:
            terms["domain_loss"] = terms["domain_accuracy"] = ops.zeros_like(terms["label_loss"])
        if mu is not None:
            # the share of open gates over the member's own cells of the batch, both species
            cells = ops.cast((targets["label_weight"] > 0) | (targets["domain_weight"] > 0), "float32")
            terms["expected_open_gates"] = _weighted_mean(
                ops.mean(expected_open_gates(mu, self.gating.sigma), axis=-1), cells)
        return terms

    def train_step(self, data):
        x, targets = data[0], data[1]
        with tf.GradientTape() as tape:
            terms = self.member_losses(x, targets, training=True)
            loss = ops.sum(terms["label_loss"]) + self.domain_loss_weight * ops.sum(terms["domain_loss"])
            if self.gating is not None:
                loss = loss + self.gating.lambda1 * ops.sum(terms["expected_open_gates"])
            if self.losses:
                loss = loss + ops.sum(ops.stack(self.losses))
        return self.apply_member_step(tape, loss, terms, targets.get("members"))

    def set_input_scaling(self, mean: np.ndarray, variance: np.ndarray) -> None:
        """Each member's training scaler, ``(K, F)`` mean and variance (see ``member_scalers``)."""
        self.scaler.set_scaling(mean, variance)

    def grl(self) -> GradientReversal | None:
        return self.gradient_reversal if self.domain_head else None


def member_probabilities(model: StackedNetwork, x: np.ndarray) -> np.ndarray:
    """P(excitatory) of every member for raw cells ``x``: shape ``(K, cells)``."""
    label_logit, _ = model(tf.constant(np.asarray(x, dtype="float32")), training=False)
    return ops.convert_to_numpy(ops.sigmoid(label_logit))


def member_gates(model: StackedNetwork, x: np.ndarray) -> np.ndarray:
    """Every member's inference gates of raw cells ``x``: shape ``(K, cells, features)``."""
    return ops.convert_to_numpy(model.gates(tf.constant(np.asarray(x, dtype="float32"))))


def export_member(stacked: StackedNetwork, k: int, input_scaling=None) -> keras.Model:
    """Member ``k`` as the ordinary network of ``networks.build_dann`` / ``build_classifier``
    (same layers and names, outputs ``{"label", "domain"}`` / ``{"label"}`` probabilities)
    with its training scaler baked in as a ``Normalization`` layer: raw features in.

    ``input_scaling``: ``(mean, variance)`` to bake in instead of the member's own scaler.
    """
    if not 0 <= int(k) < stacked.n_members:
        raise ValueError(f"export_member: k must be in [0, {stacked.n_members}), got {k}")
    k = int(k)
    if input_scaling is None:
        input_scaling = (ops.convert_to_numpy(stacked.scaler.mean)[k], ops.convert_to_numpy(stacked.scaler.variance)[k])
    if stacked.domain_head:
        single = build_dann(stacked.n_features, stacked.network, stacked.seeds[k], input_scaling, stacked.conditioning)
    else:
        single = build_classifier(stacked.n_features, stacked.network, stacked.seeds[k], input_scaling)
    for layer in stacked.layers:
        if isinstance(layer, StackedDense):
            single.get_layer(layer.name).set_weights(
                [ops.convert_to_numpy(layer.kernel)[k], ops.convert_to_numpy(layer.bias)[k]])
    if stacked.domain_head:
        single.get_layer("gradient_reversal").set_lambda(float(ops.convert_to_numpy(stacked.gradient_reversal.lambda_)))
    return single
