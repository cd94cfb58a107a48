"""LSPIN: locally sparse networks that pick a few features per cell (Yang, Lindenbaum &
Kluger, ICML 2022).

A gating network ``psi`` maps a cell's (standardised) features ``x`` to gate means
``mu(x)``; the stochastic gates ``z = clip(0.5 + mu + eps, 0, 1)`` with
``eps ~ N(0, sigma^2)`` while training (``eps = 0`` at inference) mask the features that
a prediction network ``f`` sees: ``p(y | x) = softmax(f(x * z))``. The loss adds to the
cross-entropy ``lambda1`` times the expected number of open gates, averaged over cells and
features, ``mean Phi((mu + 0.5) / sigma)``, and optionally ``lambda2`` times a kernel-weighted
spread of the gates ``mean_ij K_ij ||z_i - z_j||^2`` so that similar cells pick similar
features. Because the gates are a function of the trained model, the per-cell gate matrix is
the model's own explanation: no separate explainer.

The model holds its feature scaling as non-trainable weights (:meth:`LSPIN.adapt_scaling`,
fitted on training cells only), so a saved ``.keras`` file takes raw features. Kedro-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

SIMILARITY_KERNELS = ("label", "rbf")


def expected_open_gates(mu, sigma: float):
    """Probability that each stochastic gate is open, ``P(0.5 + mu + eps > 0)``.

    The expected L0 norm of the gates: ``Phi((mu + 0.5) / sigma)`` elementwise.
    """
    return 0.5 * (1.0 + ops.erf((mu + 0.5) / (sigma * math.sqrt(2.0))))


def pairwise_squared_distances(a):
    """``D_ij = ||a_i - a_j||^2`` for the rows of ``a``."""
    squared_norms = ops.sum(a * a, axis=1, keepdims=True)
    distances = squared_norms - 2.0 * ops.matmul(a, ops.transpose(a)) + ops.transpose(squared_norms)
    return ops.maximum(distances, 0.0)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"LSPIN: {message}")


@keras.saving.register_keras_serializable(package="neuron_types")
class LSPIN(keras.Model):
    """Gating network + prediction network trained jointly with an L0 penalty on the gates.

    ``call`` returns class probabilities; :meth:`gates` the per-cell gates in [0, 1].
    Train with ``model.fit`` (the custom :meth:`train_step`); the pipeline trains many at
    once as the members of a :class:`~neuron_types.models.stacked_lspin.StackedLSPIN` and
    exports each back to this class.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        gating_units: Sequence[int] = (50, 50, 50),
        prediction_units: Sequence[int] = (40, 20),
        activation: str = "tanh",
        sigma: float = 0.5,
        lambda1: float = 0.01047,
        lambda2: float = 0.0,
        similarity_kernel: str = "label",
        rbf_bandwidth: float = 1.0,
        use_gates: bool = True,
        batch_normalization: bool = False,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check(int(n_features) >= 1, f"n_features: expected a positive integer, got {n_features}")
        _check(int(n_classes) >= 2, f"n_classes: expected at least 2, got {n_classes}")
        _check(sigma > 0, f"sigma: expected > 0, got {sigma}")
        _check(lambda1 >= 0, f"lambda1: expected >= 0, got {lambda1}")
        _check(lambda2 >= 0, f"lambda2: expected >= 0, got {lambda2}")
        _check(
            similarity_kernel in SIMILARITY_KERNELS,
            f"similarity_kernel: expected one of {SIMILARITY_KERNELS}, got {similarity_kernel!r}",
        )
        _check(rbf_bandwidth > 0, f"rbf_bandwidth: expected > 0, got {rbf_bandwidth}")
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        self.gating_units = [int(u) for u in gating_units]
        self.prediction_units = [int(u) for u in prediction_units]
        self.activation = activation
        self.sigma = float(sigma)
        self.lambda1 = float(lambda1)
        self.lambda2 = float(lambda2)
        self.similarity_kernel = similarity_kernel
        self.rbf_bandwidth = float(rbf_bandwidth)
        self.use_gates = bool(use_gates)
        self.batch_normalization = bool(batch_normalization)
        self.seed = int(seed)

        # Explicit initializer seeds make the initial weights a function of ``seed`` alone,
        # whatever else drew from Keras's global generator before.
        seeds = iter(range(self.seed * 1000, self.seed * 1000 + 100))

        def dense(units: int, activation: str | None, stddev: float | None, name: str):
            initializer = (
                keras.initializers.TruncatedNormal(stddev=stddev, seed=next(seeds))
                if stddev is not None
                else keras.initializers.GlorotUniform(seed=next(seeds))
            )
            return keras.layers.Dense(units, activation, kernel_initializer=initializer, name=name)

        # Small gating weights start every gate near 0.5, as in the reference implementation.
        # Without gates (the plain-MLP ablation) there is no gating network at all.
        self.gating_layers = [
            dense(units, activation, 0.1, f"gating_{i}") for i, units in enumerate(self.gating_units)
        ] if self.use_gates else []
        self.gate_mean_layer = (
            dense(self.n_features, "tanh", 0.1, "gate_mean") if self.use_gates else None
        )
        self.prediction_layers = [
            dense(units, activation, None, f"prediction_{i}")
            for i, units in enumerate(self.prediction_units)
        ]
        self.logit_layer = dense(self.n_classes, None, None, "logits")
        # the reference implementation's batch normalisation of every prediction layer's input
        self.batch_norms = [
            keras.layers.BatchNormalization(name=f"prediction_norm_{i}")
            for i in range(len(self.prediction_units) + 1)
        ] if self.batch_normalization else []
        self.noise = keras.random.SeedGenerator(self.seed, name="gate_noise")
        self.feature_mean = self.add_weight(
            shape=(self.n_features,), initializer="zeros", trainable=False, name="feature_mean"
        )
        self.feature_scale = self.add_weight(
            shape=(self.n_features,), initializer="ones", trainable=False, name="feature_scale"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.cross_entropy_tracker = keras.metrics.Mean(name="cross_entropy")
        self.open_gates_tracker = keras.metrics.Mean(name="expected_open_gates")

    # ----------------------------------------------------------------------------- build
    def build(self, input_shape=None):
        if self.built:
            return
        width = self.n_features
        for layer in self.gating_layers:
            layer.build((None, width))
            width = layer.units
        if self.gate_mean_layer is not None:
            self.gate_mean_layer.build((None, width))
        width = self.n_features
        for i, layer in enumerate([*self.prediction_layers, self.logit_layer]):
            if self.batch_norms:
                self.batch_norms[i].build((None, width))
            layer.build((None, width))
            width = layer.units
        self.built = True

    def adapt_scaling(self, x_train: np.ndarray) -> None:
        """Standardise with the mean and std of ``x_train`` (training cells only)."""
        x_train = np.asarray(x_train, dtype="float32")
        _check(
            x_train.ndim == 2 and x_train.shape[1] == self.n_features,
            f"adapt_scaling: expected shape (cells, {self.n_features}), got {x_train.shape}",
        )
        scale = x_train.std(axis=0)
        # A constant feature carries nothing; scale 1 keeps it at 0 instead of dividing by 0.
        scale[scale == 0] = 1.0
        self.feature_mean.assign(x_train.mean(axis=0))
        self.feature_scale.assign(scale)

    # --------------------------------------------------------------------------- forward
    def standardise(self, x):
        return (ops.cast(x, "float32") - self.feature_mean) / self.feature_scale

    def _gate_means_of_scaled(self, x_scaled):
        if not self.use_gates:
            return ops.zeros_like(x_scaled)
        hidden = x_scaled
        for layer in self.gating_layers:
            hidden = layer(hidden)
        return self.gate_mean_layer(hidden)

    def _gates_from_means(self, mu, training: bool):
        if not self.use_gates:
            return ops.ones_like(mu)
        if training:
            mu = mu + self.sigma * keras.random.normal(ops.shape(mu), seed=self.noise)
        return ops.clip(0.5 + mu, 0.0, 1.0)

    def _logits(self, x_scaled, gates, training: bool = False):
        hidden = x_scaled * gates
        for i, layer in enumerate([*self.prediction_layers, self.logit_layer]):
            if self.batch_norms:
                hidden = self.batch_norms[i](hidden, training=training)
            hidden = layer(hidden)
        return hidden

    def gate_means(self, x):
        """``mu(x)``: the gating network's output for raw features ``x``."""
        return self._gate_means_of_scaled(self.standardise(x))

    def gates(self, x, training: bool = False):
        """Per-cell gates in [0, 1]; noisy only when ``training`` (and ``sigma`` > 0)."""
        return self._gates_from_means(self.gate_means(x), training)

    def call(self, x, training: bool = False):
        x_scaled = self.standardise(x)
        gates = self._gates_from_means(self._gate_means_of_scaled(x_scaled), training)
        return ops.softmax(self._logits(x_scaled, gates, training), axis=-1)

    # ------------------------------------------------------------------------------ loss
    def l0_penalty(self, mu):
        """Mean over cells and features of the probability that a gate is open."""
        if not self.use_gates:
            return ops.zeros(())
        return ops.mean(expected_open_gates(mu, self.sigma))

    def similarity_penalty(self, x_scaled, y, gates):
        """``mean_ij K_ij ||z_i - z_j||^2`` with a same-label or RBF kernel."""
        if self.similarity_kernel == "label":
            kernel = ops.cast(ops.equal(y[:, None], y[None, :]), "float32")
        else:
            kernel = ops.exp(
                -pairwise_squared_distances(x_scaled) / (2.0 * self.rbf_bandwidth**2)
            )
        return ops.mean(kernel * pairwise_squared_distances(gates))

    def loss_terms(self, x, y, sample_weight=None, training: bool = True):
        """Total loss and its parts on one batch (integer class labels ``y``)."""
        y = ops.cast(ops.reshape(y, (-1,)), "int32")
        x_scaled = self.standardise(x)
        mu = self._gate_means_of_scaled(x_scaled)
        gates = self._gates_from_means(mu, training)
        logits = self._logits(x_scaled, gates, training)
        per_cell = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        if sample_weight is None:
            cross_entropy = ops.mean(per_cell)
        else:
            weight = ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
            cross_entropy = ops.sum(per_cell * weight) / ops.maximum(ops.sum(weight), 1e-12)
        open_gates = self.l0_penalty(mu)
        total = cross_entropy + self.lambda1 * open_gates
        if self.lambda2 > 0 and self.use_gates:
            total = total + self.lambda2 * self.similarity_penalty(x_scaled, y, gates)
        return {"loss": total, "cross_entropy": cross_entropy, "expected_open_gates": open_gates}

    # -------------------------------------------------------------------------- training
    def update_on_batch(self, x, y, sample_weight=None):
        """One optimiser step on one batch; returns the loss terms (before the step)."""
        with tf.GradientTape() as tape:
            terms = self.loss_terms(x, y, sample_weight, training=True)
        gradients = tape.gradient(terms["loss"], self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return terms

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        return self._track(self.update_on_batch(x, y, sample_weight))

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        return self._track(self.loss_terms(x, y, sample_weight, training=False))

    def _track(self, terms):
        self.loss_tracker.update_state(terms["loss"])
        self.cross_entropy_tracker.update_state(terms["cross_entropy"])
        self.open_gates_tracker.update_state(terms["expected_open_gates"])
        return {metric.name: metric.result() for metric in self.metrics}

    @property
    def metrics(self):
        return [self.loss_tracker, self.cross_entropy_tracker, self.open_gates_tracker]

    # ----------------------------------------------------------------------- persistence
    def get_config(self):
        config = super().get_config()
        config.update(
            n_features=self.n_features,
            n_classes=self.n_classes,
            gating_units=self.gating_units,
            prediction_units=self.prediction_units,
            activation=self.activation,
            sigma=self.sigma,
            lambda1=self.lambda1,
            lambda2=self.lambda2,
            similarity_kernel=self.similarity_kernel,
            rbf_bandwidth=self.rbf_bandwidth,
            use_gates=self.use_gates,
            batch_normalization=self.batch_normalization,
            seed=self.seed,
        )
        return config


def inference_gates(model: LSPIN, x: np.ndarray) -> np.ndarray:
    """Deterministic gate matrix (cells x features) of raw features ``x``, as NumPy."""
    return ops.convert_to_numpy(model.gates(np.asarray(x, dtype="float32"), training=False))


def predict_proba(model: LSPIN, x: np.ndarray) -> np.ndarray:
    """Class probabilities (cells x classes) with inference gates, as NumPy."""
    return ops.convert_to_numpy(model(np.asarray(x, dtype="float32"), training=False))
