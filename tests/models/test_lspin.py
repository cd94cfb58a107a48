"""LSPIN gates, penalties, training (the stacked Keras ``fit`` path) and persistence on tiny
synthetic data."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy import stats

from neuron_types.models.lspin import (
    LSPIN,
    expected_open_gates,
    inference_gates,
    predict_proba,
)
from neuron_types.models.reproducibility import seed_everything
from neuron_types.models.stacked_lspin import StackedLSPIN, StackedLSPINData, export_lspin_member, fit_stacked_lspin
from tests.params import lspin_model, lspin_training


def informative_and_noise(n_cells: int = 600, n_noise: int = 20, seed: int = 0):
    """3 informative features decide the class; ``n_noise`` features are pure noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_cells, 3 + n_noise)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + 2 * (x[:, 1] + x[:, 2] > 0).astype("int32")
    return x, y


def small_model(**overrides) -> LSPIN:
    settings = dict(
        n_features=23, n_classes=4, gating_units=(16,), prediction_units=(16,), seed=3
    )
    settings.update(overrides)
    model = LSPIN(**settings)
    model.build((None, settings["n_features"]))
    return model


def test_inference_gates_are_clipped_gate_means_exactly():
    model = small_model(sigma=0.7)
    x, _ = informative_and_noise(50)
    model.adapt_scaling(x)
    mu = keras.ops.convert_to_numpy(model.gate_means(x))
    np.testing.assert_array_equal(inference_gates(model, x), np.clip(0.5 + mu, 0.0, 1.0))
    gates = inference_gates(model, x)
    assert gates.min() >= 0.0 and gates.max() <= 1.0


def test_training_gates_are_noisy_and_inference_gates_are_not():
    model = small_model(sigma=0.5)
    x, _ = informative_and_noise(40)
    first = keras.ops.convert_to_numpy(model.gates(x, training=True))
    second = keras.ops.convert_to_numpy(model.gates(x, training=True))
    assert np.abs(first - second).max() > 0.1
    np.testing.assert_array_equal(inference_gates(model, x), inference_gates(model, x))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
    )


@pytest.mark.parametrize("sigma", [0.1, 0.5, 2.0])
def test_l0_penalty_equals_its_closed_form(sigma):
    model = small_model(sigma=sigma)
    mu = np.array([[-1.0, -0.5, 0.0, 0.3], [0.9, -0.2, -0.8, 0.5]], dtype="float32")
    expected = stats.norm.cdf((mu + 0.5) / sigma).mean()
    assert float(model.l0_penalty(mu)) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(expected_open_gates(mu, sigma)),
        stats.norm.cdf((mu + 0.5) / sigma),
        atol=1e-6,
    )


def test_label_kernel_similarity_penalty_on_known_gates():
    model = small_model(n_features=2, lambda2=1.0)
    gates = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]], dtype="float32")
    y = np.array([0, 0, 1])
    # Only the pair (0, 1) shares a label: ||z_0 - z_1||^2 = 1, counted twice over 9 pairs.
    penalty = float(model.similarity_penalty(np.zeros((3, 2), "float32"), y, gates))
    assert penalty == pytest.approx(2.0 / 9.0)


def train_alone(x, y, n_train: int, config, seed: int = 3, **settings):
    """One LSPIN (a one-member stack, exported) trained on the first ``n_train`` cells and
    stopping early on the others; returns it and its history."""
    model = lspin_model(**{"gating_units": (16,), "prediction_units": (16,), **settings})
    stack = StackedLSPIN(x.shape[1], 4, [seed], model)
    train = (np.arange(len(x)) < n_train)[:, None]
    history = fit_stacked_lspin(stack, StackedLSPINData.build(x, y, train, ~train), config, shuffle_seed=seed)
    return export_lspin_member(stack, 0), history


def train_gates(lambda1: float, x, y, epochs: int = 150) -> np.ndarray:
    """Full-batch Adam for ``epochs``; one check at the end keeps the last weights."""
    seed_everything(0)
    config = lspin_training(
        max_epochs=epochs, batch_size=len(x), learning_rate=0.01, optimizer="adam", check_every=epochs,
        patience=epochs, balance_classes=False,
    )
    held_out, held_out_y = informative_and_noise(40, seed=9)
    model, _ = train_alone(np.r_[x, held_out], np.r_[y, held_out_y], len(x), config, lambda1=lambda1,
                           gating_units=(32,), prediction_units=(32,))
    return inference_gates(model, x)


def test_raising_lambda1_closes_the_noise_gates():
    x, y = informative_and_noise()
    loose = train_gates(0.0, x, y)
    sparse = train_gates(1.0, x, y)
    informative, noise = sparse[:, :3].mean(), sparse[:, 3:].mean()
    assert noise < informative
    assert noise < 0.1
    assert noise < loose[:, 3:].mean() - 0.2


def test_fit_learns_and_restores_the_best_validation_weights():
    x, y = informative_and_noise(800)
    seed_everything(1)
    config = lspin_training(max_epochs=60, batch_size=64, learning_rate=0.1, check_every=10, patience=30)
    model, history = train_alone(x, y, 600, config)
    assert {"epoch", "loss", "val_cross_entropy", "val_accuracy", "best_epoch"} <= set(history.columns)
    assert history["epoch"].tolist()[:2] == [9, 19]  # checked every 10 epochs
    best = history.loc[history["best_epoch"]]
    assert len(best) == 1 and float(best["val_cross_entropy"].iloc[0]) == pytest.approx(
        history["val_cross_entropy"].min())
    accuracy = (predict_proba(model, x[600:]).argmax(axis=1) == y[600:]).mean()
    assert accuracy == pytest.approx(float(best["val_accuracy"].iloc[0]))
    assert accuracy > 0.8


def test_keras_fit_uses_the_custom_train_step():
    x, y = informative_and_noise(128)
    model = small_model()
    model.adapt_scaling(x)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert {"loss", "cross_entropy", "expected_open_gates"} <= set(history.history)
    assert model.evaluate(x, y, verbose=0, return_dict=True)["loss"] > 0


def test_save_and_load_round_trips_predictions_and_gates_exactly(tmp_path):
    x, y = informative_and_noise(200)
    model, _ = train_alone(x, y, 150, lspin_training(max_epochs=5, batch_size=50, check_every=5, patience=5),
                           lambda2=0.1, similarity_kernel="rbf")
    path = tmp_path / "lspin.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded, LSPIN)
    assert loaded.get_config()["similarity_kernel"] == "rbf"
    np.testing.assert_array_equal(predict_proba(loaded, x), predict_proba(model, x))
    np.testing.assert_array_equal(inference_gates(loaded, x), inference_gates(model, x))


def test_same_seeds_and_inputs_give_identical_models():
    x, y = informative_and_noise(200)

    def run(seed: int) -> np.ndarray:
        seed_everything(7)
        model, _ = train_alone(x, y, 150, lspin_training(max_epochs=5, batch_size=32, check_every=1, patience=5),
                               seed=seed)
        return predict_proba(model, x)

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.allclose(run(7), run(8))


@pytest.mark.parametrize(
    "overrides, parameter",
    [
        ({"sigma": 0.0}, "sigma"),
        ({"lambda1": -1.0}, "lambda1"),
        ({"similarity_kernel": "cosine"}, "similarity_kernel"),
        ({"n_classes": 1}, "n_classes"),
    ],
)
def test_bad_parameters_name_the_parameter(overrides, parameter):
    with pytest.raises(ValueError, match=parameter):
        small_model(**overrides)


def test_bad_training_settings_and_labels_are_rejected():
    with pytest.raises(ValueError, match="optimizer: got 'rmsprop'"):
        lspin_training(optimizer="rmsprop")
    x, y = informative_and_noise(20)
    with pytest.raises(ValueError, match="class indices"):
        train_alone(x, y + 10, 15, lspin_training(max_epochs=1))
