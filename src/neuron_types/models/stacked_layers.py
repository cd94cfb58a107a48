"""Layers that hold K independent copies ("members") of a dense network in stacked weights.

A member's weights are slice ``k`` of every stacked weight; activations are ``(K, B, .)``.
Because no weight is shared and every op is per member (``einsum`` over the member axis,
elementwise activations, a sum of per-member losses), the gradient of member ``k``'s
weights is exactly the gradient of member ``k``'s own loss: K networks trained in one
``fit``, at the cost of one batched matmul per layer instead of K small ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable(package="neuron_types")
class StackedInitializer(keras.initializers.Initializer):
    """Member ``k``'s slice is ``initializer(seed=seeds[k])`` of the per-member shape, so a
    member starts from exactly the weights a single network with that seed would."""

    def __init__(self, seeds: Sequence[int], kind: str = "glorot_uniform", stddev: float = 0.05):
        self.seeds = [int(s) for s in seeds]
        self.kind, self.stddev = kind, float(stddev)

    def _one(self, seed: int):
        if self.kind == "glorot_uniform":
            return keras.initializers.GlorotUniform(seed=seed)
        if self.kind == "truncated_normal":
            return keras.initializers.TruncatedNormal(stddev=self.stddev, seed=seed)
        raise ValueError(f"StackedInitializer.kind: expected glorot_uniform or truncated_normal, got {self.kind!r}")

    def __call__(self, shape, dtype=None):
        if shape[0] != len(self.seeds):
            raise ValueError(f"StackedInitializer: {len(self.seeds)} seeds for a stack of {shape[0]}")
        return ops.stack([self._one(seed)(tuple(shape[1:]), dtype=dtype) for seed in self.seeds])

    def get_config(self):
        return {"seeds": self.seeds, "kind": self.kind, "stddev": self.stddev}


@keras.saving.register_keras_serializable(package="neuron_types")
class StackedDense(layers.Layer):
    """``Dense`` for K members: kernel ``(K, in, out)``, bias ``(K, out)``, inputs ``(K, B, in)``.

    ``l2`` penalises ``sum_k ||W_k||^2`` (the sum of every member's own penalty), which is
    what ``Dense(kernel_regularizer=L2(l2))`` adds for one network.
    """

    def __init__(self, units: int, seeds: Sequence[int], activation=None, l2: float = 0.0,
                 initializer: str = "glorot_uniform", stddev: float = 0.05, **kwargs):
        super().__init__(**kwargs)
        self.units, self.seeds = int(units), [int(s) for s in seeds]
        self.activation = keras.activations.get(activation)
        self.l2, self.initializer, self.stddev = float(l2), initializer, float(stddev)

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.n_members, int(input_shape[-1]), self.units),
            initializer=StackedInitializer(self.seeds, self.initializer, self.stddev),
            regularizer=keras.regularizers.L2(self.l2) if self.l2 > 0 else None,
        )
        self.bias = self.add_weight(name="bias", shape=(self.n_members, self.units), initializer="zeros")

    def call(self, inputs, members=None):
        """``members``: the indices of the members whose inputs these are (default every
        member, in order), so that a stack whose other members have stopped computes only
        its running members (see ``stacked_training.fit_stacked``)."""
        kernel, bias = (self.kernel, self.bias) if members is None else (
            ops.take(self.kernel, members, axis=0), ops.take(self.bias, members, axis=0))
        return self.activation(ops.matmul(inputs, kernel) + bias[:, None, :])

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, seeds=self.seeds, activation=keras.activations.serialize(self.activation),
                      l2=self.l2, initializer=self.initializer, stddev=self.stddev)
        return config


@keras.saving.register_keras_serializable(package="neuron_types")
class MemberStandardisation(layers.Layer):
    """Standardises raw features with each member's own training scaler.

    Non-trainable ``mean`` and ``variance`` of shape ``(K, F)``; ``(B, F)`` inputs (one batch
    shared by every member) become ``(K, B, F)``, ``(K, B, F)`` inputs (per-member cells)
    stay so. The arithmetic is that of ``keras.layers.Normalization``, so an exported member
    with a ``Normalization(mean, variance)`` computes the same numbers.

    ``fills_missing``: a missing (NaN) feature becomes 0, its member's training mean:
    mean imputation fitted on each member's own training rows (:func:`member_scalers`
    skips missing values), in the graph because the members share one input matrix.
    """

    def __init__(self, n_members: int, n_features: int, fills_missing: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.n_members, self.n_features = int(n_members), int(n_features)
        self.fills_missing = bool(fills_missing)
        shape = (self.n_members, self.n_features)
        self.mean = self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
        self.variance = self.add_weight(name="variance", shape=shape, initializer="ones", trainable=False)

    def set_scaling(self, mean: np.ndarray, variance: np.ndarray) -> None:
        shape = (self.n_members, self.n_features)
        for name, values in (("mean", mean), ("variance", variance)):
            values = np.asarray(values, dtype="float32")
            if values.shape != shape:
                raise ValueError(f"input scaling {name}: expected shape {shape}, got {values.shape}")
            if not np.isfinite(values).all() or (name == "variance" and (values < 0).any()):
                raise ValueError(f"input scaling {name}: expected finite values (variance >= 0)")
        self.mean.assign(np.asarray(mean, "float32"))
        self.variance.assign(np.asarray(variance, "float32"))

    def call(self, inputs, members=None):
        """``members``: as in :meth:`StackedDense.call` (per-member inputs only)."""
        inputs = ops.cast(inputs, self.compute_dtype)
        if len(inputs.shape) == 2:
            inputs = inputs[None, :, :]
        mean, variance = (self.mean, self.variance) if members is None else (
            ops.take(self.mean, members, axis=0), ops.take(self.variance, members, axis=0))
        scale = ops.maximum(ops.sqrt(variance), keras.config.epsilon())
        scaled = (inputs - mean[:, None, :]) / scale[:, None, :]
        if self.fills_missing:
            # the NaN branch carries no gradient to any weight: inputs, mean and variance are constants
            scaled = ops.where(ops.isnan(scaled), ops.zeros_like(scaled), scaled)
        return scaled

    def compute_output_shape(self, input_shape):
        return (self.n_members, *input_shape[-2:]) if len(input_shape) == 2 else input_shape

    def get_config(self):
        config = super().get_config()
        config.update(n_members=self.n_members, n_features=self.n_features, fills_missing=self.fills_missing)
        return config


@keras.saving.register_keras_serializable(package="neuron_types")
class MemberBatchNormalisation(layers.Layer):
    """``keras.layers.BatchNormalization`` per member, over that member's own cells.

    Inputs ``(K, B, U)``; while training, each member's batch mean and (biased) variance are
    over the cells its ``member_cells`` ``(K, B)`` marks (padding excluded), and its moving
    statistics move towards them as Keras' do (``momentum``); otherwise the moving
    statistics normalise. ``gamma``, ``beta``, ``moving_mean``, ``moving_variance`` are
    ``(K, U)``: member k's slice is an ordinary BatchNormalization's weights.
    """

    def __init__(self, n_members: int, units: int, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.n_members, self.units = int(n_members), int(units)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        shape = (self.n_members, self.units)
        self.gamma = self.add_weight(name="gamma", shape=shape, initializer="ones")
        self.beta = self.add_weight(name="beta", shape=shape, initializer="zeros")
        self.moving_mean = self.add_weight(name="moving_mean", shape=shape, initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=shape, initializer="ones",
                                               trainable=False)

    def call(self, inputs, training=False, member_cells=None, members=None):
        """``members``: as in :meth:`StackedDense.call`; only their moving statistics move."""
        def picked(variable):
            return variable if members is None else ops.take(variable, members, axis=0)

        gamma, beta = picked(self.gamma), picked(self.beta)
        if training:
            weight = ops.ones(ops.shape(inputs)[:2]) if member_cells is None else ops.cast(member_cells, inputs.dtype)
            count = ops.maximum(ops.sum(weight, axis=1), 1.0)[:, None]
            mean = ops.sum(inputs * weight[:, :, None], axis=1) / count
            variance = ops.sum(ops.square(inputs - mean[:, None, :]) * weight[:, :, None], axis=1) / count
            for variable, value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                moved = picked(variable) * self.momentum + value * (1.0 - self.momentum)
                if members is None:
                    variable.assign(moved)
                else:
                    variable.assign(ops.scatter_update(variable, ops.expand_dims(members, 1), moved))
        else:
            mean, variance = picked(self.moving_mean), picked(self.moving_variance)
        scale = gamma * ops.rsqrt(variance + self.epsilon)
        return (inputs - mean[:, None, :]) * scale[:, None, :] + beta[:, None, :]

    def get_config(self):
        config = super().get_config()
        config.update(n_members=self.n_members, units=self.units, momentum=self.momentum, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="neuron_types")
class StackedOuterProduct(layers.Layer):
    """CDAN's flattened outer product of features ``(K, B, F)`` and class probabilities
    ``(K, B, C)``, in the element order of ``networks.OuterProduct``."""

    def call(self, inputs):
        features, probs = inputs
        outer = ops.expand_dims(features, 3) * ops.expand_dims(probs, 2)
        return ops.reshape(outer, (ops.shape(features)[0], ops.shape(features)[1],
                                   features.shape[-1] * probs.shape[-1]))

    def compute_output_shape(self, input_shapes):
        features, probs = input_shapes
        return (*features[:2], features[-1] * probs[-1])


def member_scalers(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-member ``(mean, variance)`` of shape ``(K, F)`` over each member's rows
    (``rows[:, k]`` true for the cells member ``k`` trains on): ``StandardScaler``'s
    ``mean_`` and ``var_`` (population variance), fitted per member; like it, over the
    values present where some are missing (NaN)."""
    x = np.asarray(x, dtype="float64")
    rows = np.asarray(rows, dtype=bool)
    if rows.ndim != 2 or rows.shape[0] != len(x):
        raise ValueError(f"scaler rows: expected shape ({len(x)}, members), got {rows.shape}")
    if not rows.any(axis=0).all():
        raise ValueError(f"scaler rows: members {np.flatnonzero(~rows.any(axis=0)).tolist()} have no training rows")
    means, variances = [], []
    for k in range(rows.shape[1]):
        chosen = x[rows[:, k]]
        absent = np.flatnonzero(np.isnan(chosen).all(axis=0))
        if len(absent):
            raise ValueError(f"scaler rows: member {k} has no training row with feature columns {absent.tolist()}")
        # without NaN, nanmean and nanvar give mean and var bit for bit (the same pairwise sums)
        means.append(np.nanmean(chosen, axis=0))
        variances.append(np.nanvar(chosen, axis=0))
    return np.stack(means), np.stack(variances)
