"""notebooks/exploration.ipynb: committed without outputs, and runs headless from a project
root on the real dump's model inputs, loading everything through the Kedro catalog."""

from __future__ import annotations

import shutil

import nbformat
import pytest

from tests.actd_fixture import PROJECT
from tests.conftest import import_or_skip_unless_ci

NOTEBOOK = PROJECT / "notebooks" / "exploration.ipynb"


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with_outputs = [
        i for i, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert not with_outputs, (
        f"{NOTEBOOK.name}: code cells {with_outputs} carry outputs or execution counts; strip them "
        "before committing (Jupyter: Edit > Clear Outputs of All Cells, then save)"
    )
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.real_data
def test_notebook_runs_on_the_real_model_inputs(kedro_project, real_actd, monkeypatch):
    nbclient = import_or_skip_unless_ci("nbclient")
    import_or_skip_unless_ci("ipykernel")

    kedro_project(pipeline_names=["ingestion", "feature_engineering"], actd_dir=real_actd)
    root = kedro_project.root
    shutil.copytree(PROJECT / "notebooks", root / "notebooks")
    shutil.copy(PROJECT / ".telemetry", root / ".telemetry")
    # the kernel inherits this environment
    monkeypatch.setenv("DO_NOT_TRACK", "1")

    # metrics of one model, in the model pipelines' shape (made-up numbers, never reported):
    # the results cells show what exists and say what does not
    from kedro.framework.session import KedroSession

    with KedroSession.create(project_path=root) as session:
        catalog = session.load_context().catalog
    has_lspin_entry = "lspin_metrics" in catalog
    if has_lspin_entry:
        summary = {"mean": 0.5, "std": 0.1, "ci95": [0.4, 0.6], "n_splits": 5}
        catalog.save("lspin_metrics", {"test_model": {"mouse": {"accuracy": summary, "f1_macro": summary}}})

    notebook = nbformat.read(root / "notebooks" / NOTEBOOK.name, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",  # jupyter_client runs it with this interpreter (sys.executable)
        timeout=120,
        resources={"metadata": {"path": str(root / "notebooks")}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error

    text = "\n".join(
        output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
        for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )
    assert "41 features" in text
    assert "excitatory" in text and "inhibitory" in text
    # no model has run in this project: the results cells say so instead of failing
    assert "dann_metrics: not found" in text
    assert ("lspin_metrics: 2 numbers" if has_lspin_entry else "lspin_metrics: not found") in text
    if has_lspin_entry:
        assert "test_model" in text
    figures = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs
               if "image/png" in o.get("data", {})]
    assert figures, "the feature-distribution cell drew no figure"
