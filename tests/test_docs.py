"""The documentation builds with `mkdocs build --strict` (any warning fails), documents
every pipeline, and quotes the error message users really get."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from tests.actd_fixture import PROJECT
from tests.conftest import import_or_skip_unless_ci

DOCS = PROJECT / "docs"


def test_mkdocs_builds_strictly_without_warnings(tmp_path):
    import_or_skip_unless_ci("mkdocs", reason="mkdocs is not installed: the docs cannot be built")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
         "--config-file", str(PROJECT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
    )
    log = built.stdout + built.stderr
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{log[-4000:]}"
    warnings = [line for line in log.splitlines() if "WARNING" in line]
    assert not warnings, "mkdocs warnings:\n" + "\n".join(warnings)
    nav = yaml.safe_load((PROJECT / "mkdocs.yml").read_text())["nav"]
    for entry in nav:
        (page,) = entry.values()
        html = tmp_path / "site" / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert html.is_file(), f"{page} was not rendered"


def test_every_pipeline_has_a_section():
    text = (DOCS / "pipelines.md").read_text()
    headings = set(re.findall(r"^## (\S+)", text, flags=re.MULTILINE))
    packages = {p.parent.name for p in (PROJECT / "src/neuron_types/pipelines").glob("*/pipeline.py")}
    assert packages <= headings, f"docs/pipelines.md lacks sections for {sorted(packages - headings)}"


@pytest.mark.parametrize("name", ["ingestion", "feature_engineering", "reporting"])
def test_data_and_reporting_nodes_are_listed_by_name(name):
    module = importlib.import_module(f"neuron_types.pipelines.{name}.pipeline")
    text = (DOCS / "pipelines.md").read_text()
    # docs/pipelines.md has a section per pipeline: nodes appear without their namespace
    short = [node.name.removeprefix(f"{name}.") for node in module.create_pipeline().nodes]
    missing = sorted(n for n in short if f"`{n}`" not in text)
    assert not missing, f"docs/pipelines.md does not name the {name} nodes {missing}"


def test_quoted_missing_column_error_is_the_real_one():
    """docs/bring_your_own_cells.md quotes the error of a features table without `tau`;
    when the message changes, paste the new one there."""
    from neuron_types.pipelines.feature_engineering.nodes import build_ei_model_input
    from tests.params import typed_params

    features = typed_params("feature_engineering")
    columns = ["specimen_id", "species", "cell_class", *features.features.names]
    table = pd.DataFrame([[1, "mouse", "excitatory", *[0.0] * (len(columns) - 3)]], columns=columns)
    with pytest.raises(Exception) as raised:
        build_ei_model_input(table.drop(columns=["tau"]), features)
    message = f"{type(raised.value).__name__}: {raised.value}"
    assert message in (DOCS / "bring_your_own_cells.md").read_text(), (
        f"docs/bring_your_own_cells.md should quote the real error, now: {message}"
    )
