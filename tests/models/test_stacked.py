"""The stacked training engine: K members in one Keras model, on tiny synthetic cells."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from neuron_types.models.networks import build_dann, logit_view
from neuron_types.models.stacked import StackedNetwork, export_member, member_probabilities
from neuron_types.models.stacked_training import (LambdaSchedule, StackedData, fit_stacked, lambda_at, member_order,
                                                  steps_per_epoch)
from tests.params import dann_network, dann_training, lspin_model, lspin_training, mlp_model

N_CELLS, N_FEATURES, SEEDS = 120, 6, [11, 22, 33]
NO_DROPOUT = dann_network(hidden_units=(16, 8), domain_hidden_units=(4,), domain_input_norm=True, dropout=0.0)
WITH_DROPOUT = dann_network(hidden_units=(16, 8), domain_hidden_units=(4,), domain_input_norm=True, dropout=0.2)
LOGGED_KERNELS = ("extractor_dense_0", "extractor_dense_1", "label_logit", "domain_dense_0", "domain_logit")


def stack(seeds, network, domain_head=True, conditioning="none", domain_loss_weight=1.0) -> StackedNetwork:
    return StackedNetwork(N_FEATURES, seeds, network, domain_head, domain_loss_weight, conditioning)


def training(**changes):
    return dann_training(**{"batch_size": 16, "patience": 10, "min_epochs": 1, **changes})


def cells(seed: int = 0):
    """Raw (unscaled) features, a label in feature 0, ~40% target domain; every member has
    its own random train / validation / test roles (0 / 1 / 2)."""
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(N_CELLS, N_FEATURES)) * 3 + 1).astype("float32")
    label = (x[:, 0] + rng.normal(size=N_CELLS) > 1).astype("float32")
    domain = (rng.random(N_CELLS) < 0.4).astype("float32")
    role = rng.integers(0, 3, size=(N_CELLS, len(SEEDS)))
    return x, label, domain, role


def stacked_data(x, label, domain, role) -> StackedData:
    train = (role == 0).astype("float32")
    return StackedData.build(x, label, domain, train, train * (1 + domain[:, None]), (role == 1).astype("float32"))


def kernels(model: StackedNetwork, k: int) -> list[np.ndarray]:
    return [model.get_layer(name).kernel.numpy()[k] for name in LOGGED_KERNELS]


def _weighted_mean(values, weights):
    return tf.reduce_sum(values * weights) / tf.maximum(tf.reduce_sum(weights), 1e-12)


def own_batches(rows, steps, shuffle_seed, seed, epoch):
    """A member's minibatches as documented: its cells in ``member_order``, cut into
    ``steps`` near-equal consecutive runs."""
    order = rows[member_order(len(rows), shuffle_seed, seed, epoch).numpy()]
    return [order[s * len(rows) // steps:(s + 1) * len(rows) // steps] for s in range(steps)]


def train_alone(x, label, domain, label_weight, domain_weight, validation_weight, seed, config, shuffle_seed, steps):
    """The reference: one ``build_dann`` network, on scaled features, stepped by Adam on its
    own weighted label + domain loss (+ L2) over minibatches of its own training cells; its
    kernels and validation label loss after every epoch."""
    model = build_dann(N_FEATURES, NO_DROPOUT, seed)
    logits = logit_view(model)
    grl = model.get_layer("gradient_reversal")
    optimizer = keras.optimizers.Adam(config.learning_rate)
    tensors = [tf.constant(np.asarray(a, "float32")) for a in (x, label, domain, label_weight, domain_weight)]
    losses, weights = [], []
    for epoch in range(config.max_epochs):
        grl.set_lambda(lambda_at(config, epoch))
        rows = np.flatnonzero((label_weight > 0) | (domain_weight > 0))
        for batch in own_batches(rows, steps, shuffle_seed, seed, epoch):
            xb, yb, db, lwb, dwb = (tf.gather(t, batch) for t in tensors)
            with tf.GradientTape() as tape:
                label_logit, domain_logit = logits(xb, training=True)
                loss = (_weighted_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=yb, logits=label_logit[:, 0]), lwb)
                        + config.domain_loss_weight * _weighted_mean(
                            tf.nn.sigmoid_cross_entropy_with_logits(labels=db, logits=domain_logit[:, 0]), dwb)
                        + tf.add_n(logits.losses))
            gradients = tape.gradient(loss, logits.trainable_variables)
            optimizer.apply_gradients(zip(gradients, logits.trainable_variables))
        label_logit, _ = logits(tensors[0], training=False)
        losses.append(float(_weighted_mean(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tensors[1], logits=label_logit[:, 0]), tf.constant(validation_weight, tf.float32))))
        weights.append([model.get_layer(name).get_weights()[0] for name in LOGGED_KERNELS])
    return losses, weights


def test_a_stacked_member_takes_the_same_steps_as_the_network_trained_alone():
    """Member k of a 3-stack against ``build_dann`` with seed k trained alone on member k's
    cells, weights and scaler: same initial weights, batch order, lambda schedule, losses
    and L2; weights after 4 epochs (at the member's restored best epoch) agree to float32
    tolerance."""
    x, label, domain, role = cells()
    data = stacked_data(x, label, domain, role)
    config = training(max_epochs=4, learning_rate=1e-2, lambda_schedule="ganin", schedule_epochs=4)
    stacked = stack(SEEDS, NO_DROPOUT)
    history = fit_stacked(stacked, data, config, shuffle_seed=5)
    steps = steps_per_epoch([np.flatnonzero(data.training_rows()[:, k]) for k in range(len(SEEDS))], config.batch_size)
    for k, seed in enumerate(SEEDS):
        rows = data.training_rows()[:, k]
        mean, variance = x[rows].astype("float64").mean(0), x[rows].astype("float64").var(0)
        scaled = (x - mean.astype("float32")) / np.sqrt(variance.astype("float32"))
        losses, weights = train_alone(scaled, label, domain, data.label_weight[:, k], data.domain_weight[:, k],
                                      data.validation_weight[:, k], seed, config, 5, steps)
        member = history[history["member"] == k]
        np.testing.assert_allclose(member["val_label_loss"], losses, rtol=1e-5)
        best = int(member.loc[member["best_epoch"], "epoch"].iloc[0])
        for got, expected in zip(kernels(stacked, k), weights[best]):
            np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_member_is_unchanged_by_cells_its_masks_exclude():
    """Scramble the features and labels of member 0's test cells (which other members train
    on): member 0 trains bit for bit the same; a member that trains on them does not."""
    x, label, domain, role = cells()
    config = training(max_epochs=3)
    before = stack(SEEDS, WITH_DROPOUT)
    fit_stacked(before, stacked_data(x, label, domain, role), config, shuffle_seed=0)
    hidden = role[:, 0] == 2
    assert (role[hidden, 1] == 0).any()
    x2, label2 = x.copy(), label.copy()
    x2[hidden] = np.random.default_rng(9).normal(size=(hidden.sum(), N_FEATURES)) * 50
    label2[hidden] = 1 - label2[hidden]
    after = stack(SEEDS, WITH_DROPOUT)
    fit_stacked(after, stacked_data(x2, label2, domain, role), config, shuffle_seed=0)
    for got, expected in zip(kernels(after, 0), kernels(before, 0)):
        np.testing.assert_array_equal(got, expected)
    assert not np.allclose(kernels(after, 1)[0], kernels(before, 1)[0])


def test_same_seeds_give_a_bit_identical_run_and_other_seeds_do_not():
    x, label, domain, role = cells()
    config = training(max_epochs=2)
    runs = []
    for seeds in (SEEDS, SEEDS, [1, 2, 3]):
        model = stack(seeds, WITH_DROPOUT)
        fit_stacked(model, stacked_data(x, label, domain, role), config, shuffle_seed=1)
        runs.append(kernels(model, 0))
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(runs[0][0], runs[2][0])


class _Snapshots(keras.callbacks.Callback):
    """Every member's weights after each epoch, and how many fits the stack took."""

    def __init__(self):
        super().__init__()
        self.weights, self.fits = [], 0

    def on_train_begin(self, logs=None):
        self.fits += 1

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([v.numpy().copy() for v in self.model.member_variables()])


def test_early_stopping_restores_each_members_own_best_epoch():
    x, label, domain, role = cells(seed=3)
    label = np.random.default_rng(4).permutation(label)  # noise labels: validation loss soon rises
    config = training(max_epochs=40, patience=3, learning_rate=2e-2)
    model = stack(SEEDS, NO_DROPOUT)
    snapshots = _Snapshots()
    history = fit_stacked(model, stacked_data(x, label, domain, role), config, shuffle_seed=0, callbacks=[snapshots])
    best = {k: int(h.loc[h["best_epoch"], "epoch"].iloc[0]) for k, h in history.groupby("member")}
    last = len(snapshots.weights) - 1
    assert last < config.max_epochs - 1  # every member stopped: the fit ended early
    for k, h in history.groupby("member"):
        # a member stops `patience` epochs after its best and keeps that best from then on
        assert best[k] + config.patience <= last
        window = h["val_label_loss"].iloc[: best[k] + config.patience + 1]
        assert window.idxmin() == h.index[best[k]]
        for restored, at_best, at_end in zip(model.member_variables(), snapshots.weights[best[k]],
                                             snapshots.weights[last]):
            np.testing.assert_array_equal(restored.numpy()[k], at_best[k])
    assert any(not np.array_equal(model.member_variables()[0].numpy()[k], snapshots.weights[last][0][k])
               for k in best)


def test_a_stack_resumed_without_its_stopped_members_trains_the_others_as_the_full_stack_does():
    """Members stop at different epochs; resumed on the running members after every stop
    (``compact_at=1``), each member's validation losses, stop epoch and restored weights are
    those of the stack that never drops a member (``compact_at=0``), to float32 round-off."""
    x, label, domain, role = cells(seed=3)
    label = np.random.default_rng(4).permutation(label)
    config = training(max_epochs=40, patience=3, learning_rate=2e-2)
    runs = {}
    for compact_at in (0.0, 1.0):
        model, snapshots = stack(SEEDS, NO_DROPOUT), _Snapshots()
        history = fit_stacked(model, stacked_data(x, label, domain, role), config, shuffle_seed=0,
                              callbacks=[snapshots], compact_at=compact_at, retrace_epochs=0)
        runs[compact_at] = (history, [v.numpy() for v in model.member_variables()], snapshots.fits)
    (full, full_weights, full_fits), (resumed, resumed_weights, resumed_fits) = runs[0.0], runs[1.0]
    stops = full.groupby("member")["epoch"].max()
    assert stops.nunique() > 1 and full_fits == 1
    assert resumed_fits == stops.nunique()  # resumed after every stop but the last
    assert resumed.groupby("member")["epoch"].max().equals(stops)
    np.testing.assert_allclose(resumed["val_label_loss"], full["val_label_loss"], rtol=1e-5)
    assert resumed["best_epoch"].equals(full["best_epoch"])
    for got, expected in zip(resumed_weights, full_weights):
        np.testing.assert_allclose(got, expected, atol=1e-5)


def test_the_lambda_schedule_scales_the_reversed_gradient_between_epochs():
    """Ganin's schedule through the callback: lambda is 0 at epoch 0 (no reversed gradient
    reaches the extractor) and grows after; the extractor's domain-loss gradient scales with
    it, sign reversed."""
    x, label, domain, role = cells()
    data = stacked_data(x, label, domain, role)
    config = training(max_epochs=3, lambda_max=1.0, lambda_schedule="ganin", schedule_epochs=10)
    model = stack(SEEDS, NO_DROPOUT)
    schedule = LambdaSchedule(config)
    schedule.set_model(model)
    k = len(SEEDS)
    targets = {"label": np.broadcast_to(label, (k, N_CELLS)), "domain": np.broadcast_to(domain, (k, N_CELLS)),
               "label_weight": data.label_weight.T, "domain_weight": data.domain_weight.T}
    kernel = model.get_layer("extractor_dense_0").kernel

    def domain_gradient(epoch):
        schedule.on_epoch_begin(epoch)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model.member_losses(x, targets, training=True)["domain_loss"])
        return tape.gradient(loss, kernel).numpy()

    assert not domain_gradient(0).any()
    g2, g5 = domain_gradient(2), domain_gradient(5)
    assert np.abs(g2).max() > 0
    np.testing.assert_allclose(g5, g2 * lambda_at(config, 5) / lambda_at(config, 2), rtol=1e-4, atol=1e-8)
    history = fit_stacked(model, data, config, shuffle_seed=0)
    np.testing.assert_allclose(history.loc[history["member"] == 0, "lambda"], [lambda_at(config, e) for e in range(3)],
                               rtol=1e-6)


@pytest.mark.parametrize("domain_head, conditioning", [(True, "none"), (True, "cdan"), (False, "none")])
def test_an_exported_member_reloads_and_predicts_like_the_stack(tmp_path, domain_head, conditioning):
    x, label, domain, role = cells()
    model = stack(SEEDS, WITH_DROPOUT, domain_head, conditioning)
    fit_stacked(model, stacked_data(x, label, domain, role), training(max_epochs=2), shuffle_seed=0)
    exported = export_member(model, 1)
    reference = build_dann(N_FEATURES, WITH_DROPOUT, SEEDS[1], (np.zeros(N_FEATURES), np.ones(N_FEATURES)), conditioning)
    if domain_head:
        assert [layer.name for layer in exported.layers] == [layer.name for layer in reference.layers]
    path = tmp_path / "member.keras"
    exported.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    probabilities = loaded.predict(x, verbose=0)
    assert set(probabilities) == ({"label", "domain"} if domain_head else {"label"})
    np.testing.assert_allclose(probabilities["label"][:, 0], member_probabilities(model, x)[1], atol=1e-6)


def test_stacked_data_names_a_member_without_validation_cells():
    x, label, domain, role = cells()
    role[:, 2] = np.where(role[:, 2] == 1, 0, role[:, 2])
    with pytest.raises(ValueError, match=r"validation_weight: members \[2\]"):
        stacked_data(x, label, domain, role)


# --- LSPIN ------------------------------------------------------------------------------------

N_CLASSES = 3


def subclass_cells(seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, N_CELLS).astype("int32")
    x = (rng.normal(size=(N_CELLS, N_FEATURES)) * 2 + 1).astype("float32")
    x[:, :2] += y[:, None]
    role = rng.integers(0, 3, size=(N_CELLS, len(SEEDS)))
    return x, y, role


@pytest.mark.parametrize("settings", [
    {"lambda1": 0.05},
    {"lambda1": 0.05, "lambda2": 0.1, "similarity_kernel": "rbf"},
    None,  # the MLP
])
def test_a_stacked_lspin_member_takes_the_same_steps_as_a_single_lspin(settings):
    """Member k against an ``LSPIN`` with seed k stepped (``update_on_batch``) on member k's
    own minibatches: same weights after 2 epochs. The gate noise is the one
    thing a stack draws differently, so sigma is tiny here."""
    from neuron_types.models.lspin import LSPIN
    from neuron_types.models.stacked_lspin import (StackedLSPIN, StackedLSPINData, fit_stacked_lspin, lspin_settings,
                                                   make_optimizer)

    x, y, role = subclass_cells()
    if settings is None:
        network = mlp_model(prediction_units=(8,))
    else:
        network = lspin_model(gating_units=(8,), prediction_units=(8,), sigma=1e-7, **settings)
    config = lspin_training(max_epochs=2, batch_size=16, learning_rate=0.1, check_every=2, patience=10,
                            balance_classes=False)
    stacked = StackedLSPIN(N_FEATURES, N_CLASSES, SEEDS, network)
    fit_stacked_lspin(stacked, StackedLSPINData.build(x, y, role == 0, role == 1), config, shuffle_seed=3)
    for k, seed in enumerate(SEEDS):
        single = LSPIN(N_FEATURES, N_CLASSES, seed=seed, **lspin_settings(network))
        single.build((None, N_FEATURES))
        single.adapt_scaling(x[role[:, k] == 0])
        single.compile(optimizer=make_optimizer(config))
        steps = steps_per_epoch([np.flatnonzero(role[:, j] == 0) for j in range(len(SEEDS))], config.batch_size)
        for epoch in range(config.max_epochs):
            for batch in own_batches(np.flatnonzero(role[:, k] == 0), steps, 3, seed, epoch):
                single.update_on_batch(tf.constant(x[batch]), tf.constant(y[batch]))
        layers = [*single.gating_layers, single.gate_mean_layer, *single.prediction_layers, single.logit_layer]
        for layer in (layer for layer in layers if layer is not None):
            np.testing.assert_allclose(stacked.get_layer(layer.name).kernel.numpy()[k], layer.kernel.numpy(), atol=2e-5)


@pytest.mark.parametrize("gated", [True, False])
def test_stacked_lspin_members_with_their_own_hyperparameters_step_as_single_lspins_with_them(gated):
    """Per-member learning rate, weight decay, class balancing (and, gated, lambda1 and
    sigma) in one SGD stack: member k ends where an ``LSPIN`` with those settings, stepped
    by Keras' SGD(lr_k, weight_decay=wd_k) on member k's own minibatches, ends."""
    from neuron_types.models.lspin import LSPIN
    from neuron_types.models.stacked_lspin import (MemberHyperparameters, StackedLSPIN, StackedLSPINData,
                                                   balanced_sample_weights, export_lspin_member, fit_stacked_lspin,
                                                   lspin_settings)

    x, y, role = subclass_cells()
    network = (lspin_model(gating_units=(8,), prediction_units=(8,), sigma=1e-7) if gated
               else mlp_model(prediction_units=(8,)))
    rows = [{"learning_rate": 0.1, "weight_decay": 0.0, "balance_classes": False},
            {"learning_rate": 0.03, "weight_decay": 0.02, "balance_classes": True},
            {"learning_rate": 0.2, "weight_decay": 0.005, "balance_classes": False}]
    if gated:
        for row, lambda1, sigma in zip(rows, (0.05, 0.0, 0.2), (1e-7, 2e-7, 5e-8)):
            row.update(lambda1=lambda1, sigma=sigma)
    members = MemberHyperparameters.build(rows)
    config = lspin_training(max_epochs=2, batch_size=16, learning_rate=0.5, weight_decay=0.1, check_every=2,
                            patience=10, balance_classes=True, optimizer="sgd")  # none of these three is read
    stacked = StackedLSPIN(N_FEATURES, N_CLASSES, SEEDS, network, members=members)
    fit_stacked_lspin(stacked, StackedLSPINData.build(x, y, role == 0, role == 1), config, shuffle_seed=3)
    steps = steps_per_epoch([np.flatnonzero(role[:, j] == 0) for j in range(len(SEEDS))], config.batch_size)
    for k, (seed, row) in enumerate(zip(SEEDS, rows)):
        settings = {**lspin_settings(network), **{f: row[f] for f in ("lambda1", "sigma") if f in row}}
        single = LSPIN(N_FEATURES, N_CLASSES, seed=seed, **settings)
        single.build((None, N_FEATURES))
        train = np.flatnonzero(role[:, k] == 0)
        single.adapt_scaling(x[train])
        single.compile(optimizer=keras.optimizers.SGD(row["learning_rate"], weight_decay=row["weight_decay"] or None))
        weight = np.ones(N_CELLS, "float32")
        if row["balance_classes"]:
            weight[train] = balanced_sample_weights(y[train], N_CLASSES)
        for epoch in range(config.max_epochs):
            for batch in own_batches(train, steps, 3, seed, epoch):
                single.update_on_batch(tf.constant(x[batch]), tf.constant(y[batch]), tf.constant(weight[batch]))
        layers = [*single.gating_layers, single.gate_mean_layer, *single.prediction_layers, single.logit_layer]
        for layer in (layer for layer in layers if layer is not None):
            np.testing.assert_allclose(stacked.get_layer(layer.name).kernel.numpy()[k], layer.kernel.numpy(), atol=2e-5)
        exported = export_lspin_member(stacked, k)
        assert (exported.lambda1, exported.sigma) == (single.lambda1, single.sigma)


def test_a_batch_normalised_full_batch_stack_without_early_stopping_steps_as_single_lspins():
    """The reference's regime: batch normalisation of every prediction layer's input,
    one full batch per epoch, no early stopping. Member k against an ``LSPIN`` with
    ``batch_normalization`` stepped on member k's cells: same kernels and moving statistics
    after 4 epochs, the last weights kept, and the exported member predicts as the stack."""
    from neuron_types.models.lspin import LSPIN, predict_proba
    from neuron_types.models.stacked_lspin import (StackedLSPIN, StackedLSPINData, export_lspin_member,
                                                   fit_stacked_lspin, lspin_settings, make_optimizer)

    x, y, role = subclass_cells()
    network = lspin_model(gating_units=(8,), prediction_units=(8,), sigma=1e-7, batch_normalization=True)
    config = lspin_training(max_epochs=4, batch_size=100000, learning_rate=0.1, check_every=2, patience=1,
                            balance_classes=False, early_stopping=False)
    stacked = StackedLSPIN(N_FEATURES, N_CLASSES, SEEDS, network)
    history = fit_stacked_lspin(stacked, StackedLSPINData.build(x, y, role == 0, role == 1), config, shuffle_seed=3)
    # patience 1 would have stopped a member whose validation loss rose; none stops, each keeps its last epoch
    assert (history.groupby("member")["epoch"].max() == 3).all()
    assert (history.loc[history["best_epoch"], "epoch"] == 3).all()
    for k, seed in enumerate(SEEDS):
        single = LSPIN(N_FEATURES, N_CLASSES, seed=seed, **lspin_settings(network))
        single.build((None, N_FEATURES))
        train = np.flatnonzero(role[:, k] == 0)
        single.adapt_scaling(x[train])
        single.compile(optimizer=make_optimizer(config))
        for epoch in range(config.max_epochs):
            (batch,) = own_batches(train, 1, 3, seed, epoch)
            single.update_on_batch(tf.constant(x[batch]), tf.constant(y[batch]))
        for layer in [*single.prediction_layers, single.logit_layer]:
            np.testing.assert_allclose(stacked.get_layer(layer.name).kernel.numpy()[k], layer.kernel.numpy(), atol=2e-5)
        for norm in single.batch_norms:
            stacked_norm = stacked.get_layer(norm.name)
            for got, expected in zip((stacked_norm.moving_mean, stacked_norm.moving_variance, stacked_norm.gamma),
                                     (norm.moving_mean, norm.moving_variance, norm.gamma)):
                np.testing.assert_allclose(got.numpy()[k], expected.numpy(), atol=2e-5)
        exported = export_lspin_member(stacked, k)
        np.testing.assert_allclose(predict_proba(exported, x), keras.ops.convert_to_numpy(stacked(x))[k], atol=1e-5)


def test_per_member_learning_rates_refuse_adam_and_hyperparameters_of_another_stack_size():
    from neuron_types.models.stacked_lspin import MemberHyperparameters, StackedLSPIN, StackedLSPINData, fit_stacked_lspin

    x, y, role = subclass_cells()
    row = {"learning_rate": 0.1, "weight_decay": 0.0, "balance_classes": False}
    with pytest.raises(ValueError, match="hyperparameters of 2 members for a stack of 3"):
        StackedLSPIN(N_FEATURES, N_CLASSES, SEEDS, mlp_model(prediction_units=(8,)),
                     members=MemberHyperparameters.build([row, row]))
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        MemberHyperparameters.build([row, {**row, "learning_rate": 0.0}])
    with pytest.raises(ValueError, match=r"member 1 hyperparameters: missing \['sigma', 'lambda1'\]"):
        MemberHyperparameters.build([{**row, "sigma": 0.5, "lambda1": 0.01}, row])
    stacked = StackedLSPIN(N_FEATURES, N_CLASSES, SEEDS, mlp_model(prediction_units=(8,)),
                           members=MemberHyperparameters.build([row] * 3))
    with pytest.raises(ValueError, match="training.optimizer: per-member learning rates need sgd, got 'adam'"):
        fit_stacked_lspin(stacked, StackedLSPINData.build(x, y, role == 0, role == 1),
                          lspin_training(optimizer="adam", max_epochs=1), shuffle_seed=0)


@pytest.mark.parametrize("use_gates", [True, False])
def test_an_exported_lspin_member_reloads_and_predicts_like_the_stack(tmp_path, use_gates):
    from neuron_types.models.lspin import inference_gates, predict_proba
    from neuron_types.models.stacked_lspin import StackedLSPIN, StackedLSPINData, export_lspin_member, fit_stacked_lspin

    x, y, role = subclass_cells()
    network = lspin_model(gating_units=(8,), prediction_units=(8,)) if use_gates else mlp_model(prediction_units=(8,))
    stacked = StackedLSPIN(N_FEATURES, N_CLASSES, SEEDS, network)
    history = fit_stacked_lspin(stacked, StackedLSPINData.build(x, y, role == 0, role == 1),
                                lspin_training(max_epochs=4, check_every=2, batch_size=16, patience=10), shuffle_seed=0)
    assert set(history["member"]) == {0, 1, 2} and history["epoch"].tolist()[:2] == [1, 3]
    member = export_lspin_member(stacked, 2)
    path = tmp_path / "lspin.keras"
    member.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    expected = keras.ops.convert_to_numpy(stacked(x))[2]
    np.testing.assert_allclose(predict_proba(loaded, x), expected, atol=1e-6)
    if use_gates:
        gates = inference_gates(loaded, x)
        assert gates.shape == (N_CELLS, N_FEATURES) and ((gates >= 0) & (gates <= 1)).all()


@pytest.mark.parametrize("use_gates, batch_normalization", [(True, False), (False, False), (True, True)])
def test_a_stacked_lspin_resumed_without_its_stopped_members_trains_the_others_as_before(use_gates,
                                                                                         batch_normalization):
    """As for the DANN stack: resumed on its running members after every stop, each member
    stops at the same epoch with the same validation curve and weights (gate noise tiny);
    with batch normalisation, only the running members' moving statistics move."""
    from neuron_types.models.stacked_lspin import StackedLSPIN, StackedLSPINData, fit_stacked_lspin

    x, y, role = subclass_cells(seed=2)
    y = np.random.default_rng(5).permutation(y)  # noise labels: members stop soon, at different epochs
    network = (lspin_model(gating_units=(8,), prediction_units=(8,), sigma=1e-7, lambda1=0.05,
                           batch_normalization=batch_normalization) if use_gates
               else mlp_model(prediction_units=(8,)))
    config = lspin_training(max_epochs=60, batch_size=16, learning_rate=0.3, check_every=1, patience=3,
                            balance_classes=False)
    runs = []
    for compact_at in (0.0, 1.0):
        stacked, snapshots = StackedLSPIN(N_FEATURES, N_CLASSES, SEEDS, network), _Snapshots()
        history = fit_stacked_lspin(stacked, StackedLSPINData.build(x, y, role == 0, role == 1), config,
                                    shuffle_seed=3, callbacks=[snapshots], compact_at=compact_at,
                                    retrace_epochs=0)
        runs.append((history, [v.numpy() for v in stacked.member_variables()], snapshots.fits))
    (full, full_weights, full_fits), (resumed, resumed_weights, resumed_fits) = runs
    stops = full.groupby("member")["epoch"].max()
    assert stops.nunique() > 1 and full_fits == 1 and resumed_fits == stops.nunique()
    assert resumed.groupby("member")["epoch"].max().equals(stops)
    np.testing.assert_allclose(resumed["val_cross_entropy"], full["val_cross_entropy"], rtol=1e-5)
    for got, expected in zip(resumed_weights, full_weights):
        np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("best_epoch, compacts", [(20, False), (30, True)])
def test_a_stack_resumes_only_when_that_saves_more_than_its_retrace(best_epoch, compacts):
    """Three of four members stopped at epoch 22; the running one (patience 10) must go on
    for at least 8 or 18 epochs: resuming saves 3/4 of that, 6 or 13.5 stack-epochs,
    against the ``RETRACE_EPOCHS`` (10) a retrace costs. No clock is read."""
    from neuron_types.models.stacked_training import RETRACE_EPOCHS, MemberEarlyStopping

    assert RETRACE_EPOCHS == 10
    stopping = MemberEarlyStopping(score=None, monitor="val_label_loss", patience=10, compact_at=0.5,
                                   retrace_epochs=RETRACE_EPOCHS)
    stopping.set_params({"epochs": 100})
    stopping.stopped = np.array([True, True, True, False])
    stopping.best_epoch = np.array([3, 5, 8, best_epoch])
    stopping.running_at_start = 4
    assert stopping._worth_compacting(22) is compacts
