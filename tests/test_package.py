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


def test_a_run_that_trains_nothing_imports_no_tensorflow(tmp_path):
    """Listing the pipelines and running the data pipelines load no TensorFlow (~4 s): the
    model code is imported by the nodes that train, and no hook opens the model datasets."""
    from tests.actd_fixture import project_copy, write_actd_dump

    root = project_copy(tmp_path / "project")
    dump = write_actd_dump(tmp_path / "actd")
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from kedro.framework.session import KedroSession\n"
        "from kedro.framework.startup import bootstrap_project\n"
        "from kedro.framework.project import pipelines\n"
        "bootstrap_project(Path.cwd())\n"
        "names = sorted(pipelines)\n"
        "listed = 'tensorflow' in sys.modules\n"
        "with KedroSession.create(project_path=Path.cwd()) as session:\n"
        "    session.run(pipeline_names=['ingestion', 'feature_engineering'])\n"
        "print(names, listed, 'tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "NEURON_TYPES_ACTD_DIR": str(dump), "KEDRO_DISABLE_TELEMETRY": "1"}
    result = subprocess.run([sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    names, listed, ran = result.stdout.strip().splitlines()[-1].rsplit(" ", 2)
    assert "dann" in names and "lspin" in names
    assert (listed, ran) == ("False", "False"), result.stdout[-500:]
