"""DANN networks and the fast training loop, on tiny synthetic two-domain problems."""

from __future__ import annotations

import numpy as np
import pytest

from neuron_types.config import DannNetwork
from neuron_types.models.networks import build_classifier, build_dann
from neuron_types.models.reproducibility import seed_everything
from neuron_types.models.training import Trainer, TrainingData, lambda_at
from tests.params import dann_network, dann_training

SMALL = dann_network(hidden_units=(32, 16), dropout=0.1, domain_hidden_units=(16,), domain_input_norm=True)


def two_domains(n: int = 240, seed: int = 0):
    """The label lives in features 0-1; the target domain is the source shifted by +3 in
    features 2-5, which says nothing about the label: domains are separable, labels shared."""
    rng = np.random.default_rng(seed)
    domain = (np.arange(n) % 2).astype("float32")
    label = rng.integers(0, 2, n).astype("float32")
    x = rng.normal(size=(n, 6)).astype("float32")
    x[:, :2] += (2 * label[:, None] - 1) * 1.5
    x[:, 2:] += 3.0 * domain[:, None]
    return x, label, domain


def fit(lambda_max: float, epochs: int = 40, seed: int = 0, network: DannNetwork = SMALL, conditioning="none"):
    x, y, d = two_domains()
    vx, vy, vd = two_domains(80, seed=1)
    config = dann_training(batch_size=32, max_epochs=epochs, patience=epochs, lambda_max=lambda_max)
    trainer = Trainer(lambda s: build_dann(6, network, s, conditioning=conditioning), config)
    history = trainer.fit(TrainingData.build(x, y, d), TrainingData.build(vx, vy, vd), seed=seed)
    return trainer, history


@pytest.fixture(scope="module")
def adversarial_and_plain():
    seed_everything(0)
    return fit(lambda_max=1.0, epochs=80), fit(lambda_max=0.0, epochs=80)


def test_dann_lowers_the_label_loss(adversarial_and_plain):
    (_, history), _ = adversarial_and_plain
    assert np.mean(history["label_loss"][-5:]) < 0.5 * history["label_loss"][0]
    assert max(history["val_label_accuracy"]) > 0.9


def test_reversal_pushes_the_domain_head_to_chance_and_no_reversal_separates_domains(adversarial_and_plain):
    (_, adversarial), (_, plain) = adversarial_and_plain
    # The minimax oscillates around its equilibrium, so judge the domain head on held-out
    # cells averaged over the second half of training.
    adversarial_accuracy = np.mean(adversarial["val_domain_accuracy"][-40:])
    plain_accuracy = np.mean(plain["val_domain_accuracy"][-40:])
    assert plain_accuracy > 0.85
    assert abs(adversarial_accuracy - 0.5) < 0.15
    assert np.mean(adversarial["val_domain_loss"][-40:]) > 0.6  # chance: ln 2 = 0.693
    assert np.mean(plain["val_domain_loss"][-40:]) < 0.5


def test_same_seed_same_history_and_predictions():
    seed_everything(0)
    (first, h1), (second, h2) = fit(0.7, epochs=5), fit(0.7, epochs=5)
    assert h1 == h2
    x, _, _ = two_domains(50, seed=3)
    np.testing.assert_array_equal(first.predict_proba(x), second.predict_proba(x))


def test_trainer_reuses_its_graph_across_splits_and_reseeds():
    x, y, d = two_domains()
    config = dann_training(batch_size=32, max_epochs=3, patience=3)
    trainer = Trainer(lambda s: build_dann(6, SMALL, s), config)
    train, validation = TrainingData.build(x, y, d), TrainingData.build(x[:40], y[:40], d[:40])
    a = trainer.fit(train, validation, seed=1)
    b = trainer.fit(TrainingData.build(x[:200], y[:200], d[:200]), validation, seed=2)
    c = trainer.fit(train, validation, seed=1)
    assert trainer._epoch.experimental_get_tracing_count() == 1
    assert a == c and a != b


def test_hidden_target_labels_do_not_influence_training():
    x, y, d = two_domains()
    hidden = np.where(d == 1, 0.0, 1.0)
    flipped = np.where(d == 1, 1 - y, y)
    config = dann_training(batch_size=32, max_epochs=4, patience=4)
    trainer = Trainer(lambda s: build_dann(6, SMALL, s), config)
    validation = TrainingData.build(x[:40], y[:40], d[:40], label_weight=hidden[:40])
    h1 = trainer.fit(TrainingData.build(x, y, d, label_weight=hidden), validation, seed=0)
    p1 = trainer.predict_proba(x)
    h2 = trainer.fit(TrainingData.build(x, flipped, d, label_weight=hidden), validation, seed=0)
    assert h1 == h2
    np.testing.assert_array_equal(p1, trainer.predict_proba(x))


def test_classifier_without_domain_head_trains_and_reports_no_domain_loss():
    x, y, d = two_domains()
    config = dann_training(batch_size=32, max_epochs=20, patience=20)
    trainer = Trainer(lambda s: build_classifier(6, SMALL, s), config)
    history = trainer.fit(TrainingData.build(x, y, d), TrainingData.build(x[:40], y[:40], d[:40]), seed=0)
    assert set(history["domain_loss"]) == {0.0}
    assert max(history["val_label_accuracy"]) > 0.9
    assert "domain" not in build_classifier(6, SMALL, 0).output


def test_early_stopping_restores_the_best_epoch():
    x, y, d = two_domains()
    config = dann_training(batch_size=32, max_epochs=200, patience=3)
    trainer = Trainer(lambda s: build_classifier(6, SMALL, s), config)
    vx, vy, vd = two_domains(80, seed=1)
    history = trainer.fit(TrainingData.build(x, y, d), TrainingData.build(vx, vy, vd), seed=0)
    assert len(history["val_label_loss"]) == history["best_epoch"] + 1 + 3
    best = min(history["val_label_loss"])
    p = np.clip(trainer.predict_proba(vx), 1e-7, 1 - 1e-7)
    restored = -np.mean(vy * np.log(p) + (1 - vy) * np.log(1 - p))
    assert restored == pytest.approx(best, rel=1e-4)


def test_cdan_conditioning_builds_and_trains():
    network = dann_network(hidden_units=(16, 8), dropout=0.0, domain_input_norm=True)
    _, history = fit(0.5, epochs=3, network=network, conditioning="cdan")
    assert len(history["domain_loss"]) == 3 and all(np.isfinite(history["domain_loss"]))


def test_ganin_schedule_raises_lambda_over_training():
    config = dann_training(lambda_schedule="ganin", lambda_max=0.7, schedule_epochs=10)
    values = [lambda_at(config, e) for e in range(12)]
    assert values[0] == 0.0 and values[-1] == pytest.approx(0.7, abs=1e-3)
    assert all(a <= b for a, b in zip(values, values[1:]))


def test_bad_training_data_is_refused():
    with pytest.raises(ValueError, match="NaN"):
        TrainingData.build(np.array([[np.nan, 1.0]]), [1], [0])
    with pytest.raises(ValueError, match="label_weight"):
        TrainingData.build(np.ones((3, 2)), [1, 0, 1], [0, 0, 1], label_weight=[1, 1])


def test_fused_adam_is_the_keras_adam_update():
    import keras
    import tensorflow as tf

    from neuron_types.models.fused_adam import FusedAdam

    rng = np.random.default_rng(0)
    start = rng.normal(size=(4, 3)).astype("float32")
    reference, fused_variable = keras.Variable(start), keras.Variable(start)
    keras_adam = keras.optimizers.Adam(learning_rate=0.01)
    fused = FusedAdam([fused_variable], learning_rate=0.01)
    for _ in range(5):
        grad = tf.constant(rng.normal(size=(4, 3)).astype("float32"))
        keras_adam.apply_gradients([(grad, reference)])
        fused.apply([grad], [fused_variable])
    np.testing.assert_allclose(fused_variable.numpy(), reference.numpy(), rtol=1e-5, atol=1e-6)  # float32 rounding of a fused kernel


def test_l2_penalty_is_folded_into_the_gradient_of_every_regularised_kernel():
    from neuron_types.models.networks import logit_view
    from neuron_types.models.fused_adam import l2_penalties

    model = logit_view(build_dann(6, dann_network(hidden_units=(8, 4), l2=1e-3, domain_hidden_units=(4,)), 0))
    penalties = l2_penalties(model)
    kernels = [layer.kernel for layer in model.layers if getattr(layer, "kernel_regularizer", None) is not None]
    assert len(penalties) == len(kernels) == 4  # 2 extractor, label head, 1 domain hidden
    assert all(l2 == pytest.approx(1e-3) for _, l2 in penalties)
    assert {id(model.trainable_variables[i]) for i, _ in penalties} == {id(k) for k in kernels}
