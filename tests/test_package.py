import importlib
import os
import subprocess
import sys

import neuron_types

NOISE = ("oneDNN custom operations", "Unable to register", "cpu_feature_guard",
         "Could not find cuda drivers", "TF-TRT Warning")


def test_tensorflow_imports_without_start_up_noise():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-c", "import neuron_types, tensorflow as tf; print(float(tf.constant(2.0) + 1))"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )
    assert result.stdout.strip() == "3.0"
    assert not [line for line in result.stderr.splitlines() if any(n in line for n in NOISE)], result.stderr


def test_a_level_the_user_sets_wins(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    importlib.reload(neuron_types)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
