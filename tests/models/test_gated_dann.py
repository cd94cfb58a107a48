"""The DANN with LSPIN's gating network in front of its feature extractor (``gated: true``),
on tiny synthetic cells."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from neuron_types.models.lspin import expected_open_gates
from neuron_types.models.networks import build_dann
from neuron_types.models.stacked import StackedNetwork, export_member, member_gates, member_probabilities
from neuron_types.models.stacked_training import fit_stacked, lambda_at, steps_per_epoch
from tests.models.test_stacked import N_FEATURES, SEEDS, cells, own_batches, stacked_data, training
from tests.params import dann_network, typed_params

GATING = {"gating_units": [8, 8], "activation": "tanh", "sigma": 0.5, "lambda1": 0.05}
GATED = dann_network(hidden_units=(16, 8), domain_hidden_units=(4,), domain_input_norm=True, dropout=0.0,
                     gating=GATING)
GATED_KERNELS = ("gating_0", "gating_1", "gate_mean", "extractor_dense_0", "label_logit", "domain_logit")


def gated_stack(seeds, network=GATED, domain_head=True) -> StackedNetwork:
    return StackedNetwork(N_FEATURES, seeds, network, domain_head, 1.0, "none")


def _weighted_mean(values, weights):
    return tf.reduce_sum(values * weights) / tf.maximum(tf.reduce_sum(weights), 1e-12)


def train_gated_alone(x, label, domain, label_weight, domain_weight, seed, config, shuffle_seed, steps):
    """One gated ``build_dann`` network on scaled features, stepped by Adam on its weighted
    label + domain loss + lambda1 x the mean expected share of open gates over its batch's
    cells (+ L2); its kernels after every epoch."""
    model = build_dann(N_FEATURES, GATED, seed)
    outputs = keras.Model(model.inputs, [model.get_layer(n).output for n in ("label_logit", "domain_logit",
                                                                              "gate_mean")])
    grl = model.get_layer("gradient_reversal")
    optimizer = keras.optimizers.Adam(config.learning_rate)
    tensors = [tf.constant(np.asarray(a, "float32")) for a in (x, label, domain, label_weight, domain_weight)]
    rows = np.flatnonzero((label_weight > 0) | (domain_weight > 0))
    weights = []
    for epoch in range(config.max_epochs):
        grl.set_lambda(lambda_at(config, epoch))
        for batch in own_batches(rows, steps, shuffle_seed, seed, epoch):
            xb, yb, db, lwb, dwb = (tf.gather(t, batch) for t in tensors)
            with tf.GradientTape() as tape:
                label_logit, domain_logit, mu = outputs(xb, training=True)
                open_gates = tf.reduce_mean(expected_open_gates(mu, GATED.gating.sigma), axis=1)
                loss = (_weighted_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=yb, logits=label_logit[:, 0]), lwb)
                        + _weighted_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=db, logits=domain_logit[:, 0]),
                                         dwb)
                        + GATED.gating.lambda1 * tf.reduce_mean(open_gates)
                        + tf.add_n(outputs.losses))
            gradients = tape.gradient(loss, outputs.trainable_variables)
            optimizer.apply_gradients(zip(gradients, outputs.trainable_variables))
        weights.append([model.get_layer(name).get_weights()[0] for name in GATED_KERNELS])
    return weights


def test_a_gated_member_takes_the_same_steps_as_the_gated_network_trained_alone():
    """A one-member gated stack against ``build_dann`` with the same gating trained alone:
    same initial gating weights, gate noise, L0 term over the batch's cells, and steps."""
    x, label, domain, role = cells()
    data = stacked_data(x, label, domain, role[:, :1])
    config = training(max_epochs=3, learning_rate=1e-2, patience=10)
    stacked = gated_stack(SEEDS[:1])
    history = fit_stacked(stacked, data, config, shuffle_seed=5)
    rows = data.training_rows()[:, 0]
    steps = steps_per_epoch([np.flatnonzero(rows)], config.batch_size)
    mean, variance = x[rows].astype("float64").mean(0), x[rows].astype("float64").var(0)
    scaled = (x - mean.astype("float32")) / np.sqrt(variance.astype("float32"))
    weights = train_gated_alone(scaled, label, domain, data.label_weight[:, 0], data.domain_weight[:, 0], SEEDS[0],
                                config, 5, steps)
    best = int(history.loc[history["best_epoch"], "epoch"].iloc[0])
    assert "expected_open_gates" in history
    for name, expected in zip(GATED_KERNELS, weights[best]):
        np.testing.assert_allclose(stacked.get_layer(name).kernel.numpy()[0], expected, atol=1e-5, err_msg=name)


def test_the_gate_penalty_shuts_gates_and_a_gated_export_predicts_like_the_stack(tmp_path):
    """lambda1 = 5 leaves fewer gates open than lambda1 = 0 after the same epochs; the
    exported member reloads (safe mode) and gives the stack's probabilities."""
    x, label, domain, role = cells()
    data = stacked_data(x, label, domain, role)
    config = training(max_epochs=6, learning_rate=1e-2, patience=10)
    open_share = {}
    for lambda1 in (0.0, 5.0):
        network = GATED.model_copy(update={"gating": GATED.gating.model_copy(update={"lambda1": lambda1})})
        model = gated_stack(SEEDS, network)
        fit_stacked(model, data, config, shuffle_seed=0)
        gates = member_gates(model, x)
        assert gates.shape == (len(SEEDS), len(x), N_FEATURES)
        assert gates.min() >= 0.0 and gates.max() <= 1.0
        open_share[lambda1] = float(gates.mean())
    assert open_share[5.0] < open_share[0.0] - 0.05
    exported = export_member(model, 2)
    path = tmp_path / "gated.keras"
    exported.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0)["label"][:, 0], member_probabilities(model, x)[2],
                               atol=1e-6)


def test_a_stack_without_gating_network_refuses_gates():
    with pytest.raises(ValueError, match="no gating network"):
        member_gates(gated_stack([1], GATED.model_copy(update={"gating": None})), np.zeros((2, N_FEATURES)))


def test_a_gated_model_trains_with_dann_gating_in_front_of_its_extractor():
    dann = typed_params("dann")
    network, _ = dann.settings_of(dann.models["dann_unsupervised_gated"])
    assert network.gating == dann.gating
    assert network.domain_hidden_units == dann.unsupervised.domain_hidden_units
    assert dann.settings_of(dann.models["dann"])[0].gating is None
