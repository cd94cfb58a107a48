"""DANN networks trained by the stacked Keras ``fit`` path, on tiny synthetic two-domain problems."""

from __future__ import annotations

import numpy as np
import pytest

from neuron_types.config import DannNetwork
from neuron_types.models.networks import build_classifier
from neuron_types.models.reproducibility import seed_everything
from neuron_types.models.stacked import StackedNetwork, member_probabilities
from neuron_types.models.stacked_training import StackedData, fit_stacked, lambda_at
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


def one_member(train, validation, label_weight=None) -> StackedData:
    """A one-member stack's data: ``train`` cells then ``validation`` cells (x, y, d)."""
    (x, y, d), (vx, vy, vd) = train, validation
    n, m = len(x), len(vx)
    train_rows = np.r_[np.ones(n), np.zeros(m)][:, None]
    label_weight = train_rows if label_weight is None else np.r_[label_weight, np.zeros(m)][:, None]
    return StackedData.build(np.r_[x, vx], np.r_[y, vy], np.r_[d, vd], label_weight, train_rows,
                             1 - train_rows, validation_domain_weight=1 - train_rows, scaler_rows=train_rows > 0)


def fit(lambda_max: float, epochs: int = 40, seed: int = 0, network: DannNetwork = SMALL, conditioning="none",
        domain_head=True, data=None, patience=None):
    data = data or one_member(two_domains(), two_domains(80, seed=1))
    config = dann_training(batch_size=32, max_epochs=epochs, patience=patience or epochs, lambda_max=lambda_max,
                           min_epochs=1)
    model = StackedNetwork(6, [seed], network, domain_head, config.domain_loss_weight, conditioning)
    history = fit_stacked(model, data, config, shuffle_seed=seed)
    return model, history


@pytest.fixture(scope="module")
def adversarial_and_plain():
    seed_everything(0)
    return fit(lambda_max=1.0, epochs=80), fit(lambda_max=0.0, epochs=80)


def test_dann_lowers_the_label_loss(adversarial_and_plain):
    (_, history), _ = adversarial_and_plain
    assert history["label_loss"].iloc[-5:].mean() < 0.5 * history["label_loss"].iloc[0]
    assert history["val_label_accuracy"].max() > 0.9


def test_reversal_pushes_the_domain_head_to_chance_and_no_reversal_separates_domains(adversarial_and_plain):
    (_, adversarial), (_, plain) = adversarial_and_plain
    # The minimax oscillates around its equilibrium, so judge the domain head on held-out
    # cells averaged over the second half of training.
    adversarial_accuracy = adversarial["val_domain_accuracy"].iloc[-40:].mean()
    plain_accuracy = plain["val_domain_accuracy"].iloc[-40:].mean()
    assert plain_accuracy > 0.85
    assert abs(adversarial_accuracy - 0.5) < 0.15
    assert adversarial["val_domain_loss"].iloc[-40:].mean() > 0.6  # chance: ln 2 = 0.693
    assert plain["val_domain_loss"].iloc[-40:].mean() < 0.5


def test_same_seed_same_history_and_predictions():
    seed_everything(0)
    (first, h1), (second, h2) = fit(0.7, epochs=5), fit(0.7, epochs=5)
    assert h1.equals(h2)
    x, _, _ = two_domains(50, seed=3)
    np.testing.assert_array_equal(member_probabilities(first, x), member_probabilities(second, x))
    _, other = fit(0.7, epochs=5, seed=1)
    assert not other["val_label_loss"].equals(h1["val_label_loss"])


def test_hidden_target_labels_do_not_influence_training():
    x, y, d = two_domains()
    hidden = np.where(d == 1, 0.0, 1.0)
    flipped = np.where(d == 1, 1 - y, y)
    validation = two_domains(80, seed=1)
    m1, h1 = fit(0.7, epochs=4, data=one_member((x, y, d), validation, label_weight=hidden))
    m2, h2 = fit(0.7, epochs=4, data=one_member((x, flipped, d), validation, label_weight=hidden))
    assert h1.equals(h2)
    np.testing.assert_array_equal(member_probabilities(m1, x), member_probabilities(m2, x))


def test_classifier_without_domain_head_trains_and_reports_no_domain_loss():
    _, history = fit(0.0, epochs=20, domain_head=False)
    assert set(history["domain_loss"]) == {0.0}
    assert "lambda" not in history and "val_domain_loss" not in history
    assert history["val_label_accuracy"].max() > 0.9
    assert "domain" not in build_classifier(6, SMALL, 0).output


def test_early_stopping_restores_the_best_epoch():
    patience = 3
    model, history = fit(0.0, epochs=200, domain_head=False, patience=patience)
    best = int(history.loc[history["best_epoch"], "epoch"].iloc[0])
    assert len(history) == best + 1 + patience < 200
    vx, vy, _ = two_domains(80, seed=1)
    p = np.clip(member_probabilities(model, vx)[0], 1e-7, 1 - 1e-7)
    restored = -np.mean(vy * np.log(p) + (1 - vy) * np.log(1 - p))
    assert restored == pytest.approx(history["val_label_loss"].min(), rel=1e-4)


def test_cdan_conditioning_builds_and_trains():
    network = dann_network(hidden_units=(16, 8), dropout=0.0, domain_input_norm=True)
    _, history = fit(0.5, epochs=3, network=network, conditioning="cdan")
    assert len(history) == 3 and np.isfinite(history["domain_loss"]).all()


def test_ganin_schedule_raises_lambda_over_training():
    config = dann_training(lambda_schedule="ganin", lambda_max=0.7, schedule_epochs=10)
    values = [lambda_at(config, e) for e in range(12)]
    assert values[0] == 0.0 and values[-1] == pytest.approx(0.7, abs=1e-3)
    assert all(a <= b for a, b in zip(values, values[1:]))


def test_bad_training_data_is_refused():
    ones = np.ones((3, 1))
    with pytest.raises(ValueError, match="finite"):
        StackedData.build(np.array([[np.nan, 1.0], [0, 0], [1, 1]]), [1, 0, 1], [0, 0, 1], ones, ones, ones)
    with pytest.raises(ValueError, match="domain_weight"):
        StackedData.build(np.ones((3, 2)), [1, 0, 1], [0, 0, 1], [[1], [1], [0]], [[1], [1]], [[0], [0], [1]])
