"""The timing helpers a benchmark script uses: both loops timed, throughput measured."""

from __future__ import annotations

from neuron_types.models.benchmarking import prediction_throughput, synthetic_cells, time_training_loops
from neuron_types.models.networks import NetworkConfig, build_dann


def test_time_training_loops_reports_both_loops_and_their_ratio():
    x, y, d = synthetic_cells(n=200, n_features=6)
    result = time_training_loops(x, y, d, network=NetworkConfig(hidden_units=(16, 8)), batch_size=32, epochs=3)
    assert result["trainer_ms_per_epoch"] > 0 and result["fit_ms_per_epoch"] > 0
    assert result["speedup"] == result["fit_ms_per_epoch"] / result["trainer_ms_per_epoch"]
    assert result["n_cells"] == 160 and result["epochs"] == 3


def test_prediction_throughput_is_positive():
    model = build_dann(6, NetworkConfig(hidden_units=(16, 8)), 0)
    assert prediction_throughput(model, n_cells=5000, repeats=1) > 0
