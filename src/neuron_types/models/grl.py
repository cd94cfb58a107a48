"""The gradient-reversal layer of domain-adversarial training (Ganin et al., JMLR 2016).

Forward it is the identity; backward it multiplies the incoming gradient by ``-lambda``,
so that the feature extractor below it learns to *confuse* the domain head above it.
"""

from __future__ import annotations

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="neuron_types")
class GradientReversal(keras.layers.Layer):
    """Identity forward, gradient times ``-lambda`` backward.

    ``lambda`` lives in a non-trainable variable rather than a Python float: a traced
    training step reads the variable's current value, so a schedule can change it between
    steps (a captured float would be frozen into the graph at trace time).
    """

    def __init__(self, lambda_: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        lambda_ = float(lambda_)
        if not math.isfinite(lambda_) or lambda_ < 0:
            raise ValueError(f"GradientReversal.lambda_: expected a finite value >= 0, got {lambda_}")
        self.lambda_ = self.add_weight(
            name="lambda",
            shape=(),
            initializer=keras.initializers.Constant(lambda_),
            trainable=False,
            dtype="float32",
        )

    def call(self, inputs):
        # stop_gradient(x) carries the value; (x - stop_gradient(x)) is exactly 0 forward
        # and carries a unit gradient backward, so the output equals x bit for bit and its
        # gradient is exactly -lambda * upstream. Backend-agnostic, unlike tf.custom_gradient.
        held = ops.stop_gradient(inputs)
        lam = ops.cast(ops.stop_gradient(self.lambda_), inputs.dtype)
        return held - lam * (inputs - held)

    def set_lambda(self, value: float) -> None:
        """Changes lambda in place; traced steps see the new value on their next call."""
        self.lambda_.assign(float(value))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config["lambda_"] = float(ops.convert_to_numpy(self.lambda_))
        return config


def ganin_lambda(progress: float, lambda_max: float, gamma: float = 10.0) -> float:
    """Ganin's schedule: ``lambda_max * (2 / (1 + exp(-gamma * p)) - 1)`` for progress p in [0, 1].

    Starts at 0, so early, noisy domain gradients do not disturb the label head, and rises
    smoothly towards ``lambda_max``.
    """
    p = min(max(float(progress), 0.0), 1.0)
    return float(lambda_max) * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)
