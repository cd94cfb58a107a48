"""KerasModelDataset: versioned .keras files that load in a fresh process with safe_mode."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from kedro.io import DatasetError
from kedro.io.core import Version

from neuron_types.io.keras_model import KerasModelDataset
from neuron_types.models.networks import NetworkConfig, build_dann


@pytest.fixture(scope="module")
def tiny_dann():
    config = NetworkConfig(hidden_units=(8, 4), domain_hidden_units=(4,), domain_input_norm=True, conditioning="cdan")
    return build_dann(5, config, seed=0)


def test_versioned_round_trip_keeps_outputs_and_custom_layers(tmp_path, tiny_dann):
    dataset = KerasModelDataset(filepath=str(tmp_path / "dann.keras"), version=Version(None, None))
    dataset.save(tiny_dann)
    assert dataset.exists()
    saved = list((tmp_path / "dann.keras").iterdir())
    assert len(saved) == 1 and (saved[0] / "dann.keras").is_file()  # <filepath>/<version>/<name>

    loaded = KerasModelDataset(filepath=str(tmp_path / "dann.keras"), version=Version(None, None)).load()
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    np.testing.assert_allclose(loaded(x)["label"].numpy(), tiny_dann(x)["label"].numpy(), rtol=1e-6)
    assert {"GradientReversal", "OuterProduct"} <= {type(layer).__name__ for layer in loaded.layers}


def test_model_loads_in_a_fresh_process(tmp_path, tiny_dann):
    path = tmp_path / "dann.keras"
    KerasModelDataset(filepath=str(path)).save(tiny_dann)
    x = np.ones((2, 5), dtype="float32")
    expected = tiny_dann(x)["label"].numpy()
    script = textwrap.dedent(
        f"""
        import numpy as np
        from neuron_types.io.keras_model import KerasModelDataset
        model = KerasModelDataset(filepath={str(path)!r}).load()
        print(float(model(np.ones((2, 5), dtype="float32"))["label"].numpy()[0, 0]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(float(expected[0, 0]), rel=1e-6)


def test_bad_arguments_are_refused_with_clear_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"\.keras"):
        KerasModelDataset(filepath=str(tmp_path / "model.h5"))
    with pytest.raises(DatasetError, match="safe_mode"):
        KerasModelDataset(filepath=str(tmp_path / "m.keras"), load_args={"safe_mode": False})
    with pytest.raises(DatasetError, match="keras.Model"):
        KerasModelDataset(filepath=str(tmp_path / "m.keras")).save({"not": "a model"})
