"""The gradient-reversal layer: identity forward, exactly -lambda times the gradient backward."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras
from neuron_types.models.grl import GradientReversal, ganin_lambda


def _gradient_through(layer: GradientReversal, x: tf.Tensor, weights: tf.Tensor) -> np.ndarray:
    """Gradient of sum(weights * layer(x) ** 2) with respect to x."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(weights * layer(x) ** 2)
    return tape.gradient(loss, x).numpy()


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(7, 5)).astype("float32"))
    weights = tf.constant(rng.normal(size=(7, 5)).astype("float32"))
    return x, weights


def test_forward_is_the_identity_bit_for_bit(batch):
    x, _ = batch
    out = GradientReversal(0.7)(x)
    np.testing.assert_array_equal(out.numpy(), x.numpy())


def test_gradient_is_exactly_minus_lambda_times_the_upstream_gradient(batch):
    x, weights = batch
    layer = GradientReversal(0.7)
    # Autodiff of the same loss without the layer gives the upstream gradient 2 * w * x.
    with tf.GradientTape() as tape:
        tape.watch(x)
        plain = tf.reduce_sum(weights * x**2)
    upstream = tape.gradient(plain, x).numpy()
    reversed_grad = _gradient_through(layer, x, weights)
    np.testing.assert_array_equal(reversed_grad, np.float32(-0.7) * upstream)


def test_changing_lambda_between_traced_steps_changes_the_gradient(batch):
    x, weights = batch
    layer = GradientReversal(0.5)

    @tf.function
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            loss = tf.reduce_sum(weights * layer(inputs) ** 2)
        return tape.gradient(loss, inputs)

    upstream = (2.0 * weights * x).numpy()
    first = step(x).numpy()
    layer.set_lambda(2.0)
    second = step(x).numpy()
    assert step.experimental_get_tracing_count() == 1  # same graph, new value
    np.testing.assert_allclose(first, -0.5 * upstream, rtol=1e-6)
    np.testing.assert_allclose(second, -2.0 * upstream, rtol=1e-6)


def test_lambda_zero_blocks_the_gradient(batch):
    x, weights = batch
    np.testing.assert_array_equal(_gradient_through(GradientReversal(0.0), x, weights), 0.0)


def test_lambda_is_not_trainable():
    layer = GradientReversal(0.3)
    layer.build((None, 4))
    assert layer.trainable_weights == []
    assert len(layer.non_trainable_weights) == 1


def test_layer_survives_save_and_load_in_a_model(tmp_path, batch):
    x, weights = batch
    inputs = keras.Input(shape=(5,))
    hidden = keras.layers.Dense(3, name="dense")(inputs)
    outputs = GradientReversal(0.25, name="grl")(hidden)
    model = keras.Model(inputs, outputs)
    model.get_layer("grl").set_lambda(1.5)  # the current value, not the initial one, is saved
    path = tmp_path / "grl.keras"
    model.save(path)

    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = loaded.get_layer("grl")
    assert isinstance(layer, GradientReversal)
    assert float(layer.lambda_.numpy()) == pytest.approx(1.5)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)
    hidden_value = loaded.get_layer("dense")(x)
    np.testing.assert_allclose(
        _gradient_through(layer, hidden_value, tf.ones_like(hidden_value)),
        -1.5 * 2.0 * hidden_value.numpy(),
        rtol=1e-6,
    )


def test_config_round_trip():
    layer = GradientReversal(0.4, name="grl")
    clone = GradientReversal.from_config(layer.get_config())
    assert clone.name == "grl"
    assert float(clone.lambda_.numpy()) == pytest.approx(0.4)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_bad_lambda_is_rejected_with_a_clear_error(bad):
    with pytest.raises(ValueError, match="lambda_"):
        GradientReversal(bad)


def test_ganin_schedule_starts_at_zero_and_approaches_lambda_max():
    assert ganin_lambda(0.0, 0.7) == 0.0
    assert ganin_lambda(1.0, 0.7) == pytest.approx(0.7 * (2 / (1 + np.exp(-10)) - 1))
    values = [ganin_lambda(p, 0.7) for p in np.linspace(0, 1, 11)]
    assert all(a < b for a, b in zip(values, values[1:]))
    assert ganin_lambda(3.0, 0.7) == ganin_lambda(1.0, 0.7)  # progress is clipped to [0, 1]
