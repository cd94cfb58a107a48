"""Lineage in kedro-viz: the static site that `kedro viz build` writes, opened in a real
headless browser, draws the pipelines' nodes and datasets by name.

The site is built in a throwaway project after a tiny ingestion + feature-engineering run
(so that dataset previews have something to show), served on 127.0.0.1 from a thread, and
rendered by Chromium's ``--dump-dom``. Everything stays on this machine: the browser
resolves no host but 127.0.0.1, and ``kedro viz build`` itself needs no network.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.actd_fixture import PROJECT
from tests.conftest import skip_unless_ci

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Flags that work as root in a container; the resolver rule keeps the page offline (the
# site links a web font that would otherwise be fetched).
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--virtual-time-budget=15000",
]
# The pipeline whose every node the first test looks for, expanded: `dann` and `lspin`
# include ingestion and feature engineering (pipeline_registry.py).
SHOWN_PIPELINES = ("dann", "lspin", "__default__")


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class GraphNodes(HTMLParser):
    """The nodes kedro-viz drew in its flowchart: ``<g class="pipeline-node ..."
    data-node-type="task|data|parameters" data-node-fullname="...">``."""

    def __init__(self):
        super().__init__()
        self.nodes: dict[str, set[str]] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "g" and "pipeline-node" in classes and "data-node-fullname" in attributes:
            kind = attributes.get("data-node-type", "?")
            self.nodes.setdefault(kind, set()).add(attributes["data-node-fullname"])


@pytest.fixture
def static_site(tmp_path):
    """Serves a folder on 127.0.0.1 (a free port) while the test runs; yields a URL maker."""
    servers = []

    def serve(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature is http.server's
        pass


def test_viz_build_renders_every_pipeline_node_by_name(kedro_project, tiny_actd, static_site):
    browser = find_browser()
    if browser is None:
        skip_unless_ci(f"no headless browser ({', '.join(BROWSERS)}); install one with .ci/install-browser")

    site = _build_site(kedro_project, tiny_actd)
    registered = _registered_pipelines()
    shown = next(name for name in SHOWN_PIPELINES if name in registered)
    pipeline = registered[shown]
    for name in registered:
        assert (site / "api" / "pipelines" / name).is_file(), f"the site lacks pipeline {name!r}"
    _assert_previews(site, ["feature_engineering.cohort", "ei_model_input", "subclass_splits"])

    url = f"{static_site(site)}/?pid={shown}&expandAllPipelines=true"
    graph = _render(browser, url)

    # kedro-viz names a namespaced node by its own name, its group by the namespace
    expected_tasks = {node.name.rsplit(".", 1)[-1] for node in pipeline.nodes}
    drawn_tasks = graph.get("task", set())
    assert drawn_tasks == expected_tasks, (
        f"pipeline {shown!r}: the browser drew task nodes {sorted(drawn_tasks)}, expected "
        f"{sorted(expected_tasks)}"
    )
    expected_data = {name for name in pipeline.datasets() if not name.startswith("params:") and name != "parameters"}
    drawn_data = graph.get("data", set())
    assert expected_data <= drawn_data, f"datasets not drawn: {sorted(expected_data - drawn_data)}"


PIPELINE_GROUPS = {"ingestion", "feature_engineering", "dann", "lspin", "sensitivity", "reporting"}


def test_default_view_is_one_collapsed_group_per_pipeline(kedro_project, tiny_actd, static_site, tmp_path):
    """kedro-viz opens on five groups, ingestion -> feature_engineering -> {dann, lspin} ->
    reporting (the pipelines' namespaces), not on every node at once. A screenshot of that
    view is written for a person to look at (to ``NEURON_TYPES_VIZ_SCREENSHOT`` if set)."""
    browser = find_browser()
    if browser is None:
        skip_unless_ci(f"no headless browser ({', '.join(BROWSERS)}); install one with .ci/install-browser")
    site = _build_site(kedro_project, tiny_actd)
    url = f"{static_site(site)}/?pid=__default__"
    graph = _render(browser, url)
    assert graph.get("modularPipeline", set()) == PIPELINE_GROUPS, graph
    assert not graph.get("task"), f"task nodes drawn outside their groups: {sorted(graph['task'])}"
    # the groups' edges: what each pipeline reads from another
    main = json.loads((site / "api" / "main").read_text())
    names = {node["id"]: node["name"] for node in main["nodes"]}
    edges = {(names.get(e["source"]), names.get(e["target"])) for e in main["edges"]}
    for upstream, downstream in [("ingestion", "feature_engineering"), ("feature_engineering", "dann"),
                                 ("feature_engineering", "lspin"), ("dann", "reporting"), ("lspin", "reporting")]:
        assert any(src == upstream and dst == downstream for src, dst in _group_edges(main)), (upstream, downstream)

    screenshot = Path(os.environ.get("NEURON_TYPES_VIZ_SCREENSHOT") or tmp_path / "lineage.png")
    with tempfile.TemporaryDirectory(prefix="viz-browser-") as profile:
        subprocess.run([browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,900",
                        f"--screenshot={screenshot}", url], capture_output=True, text=True, timeout=90)
    assert screenshot.is_file() and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert edges  # the site's lineage is not empty


def _group_edges(main: dict) -> set[tuple[str, str]]:
    """(upstream group, downstream group) for every dataset one group writes and another reads."""
    modular = main.get("modular_pipelines", {})
    owner = {}
    for group, tree in modular.items():
        if group in PIPELINE_GROUPS:
            for child in tree.get("children", []):
                owner[child["id"]] = group
    writers, readers = {}, {}
    for edge in main["edges"]:
        if edge["source"] in owner:
            writers.setdefault(edge["target"], set()).add(owner[edge["source"]])
        if edge["target"] in owner:
            readers.setdefault(edge["source"], set()).add(owner[edge["target"]])
    return {(w, r) for dataset, groups in writers.items() for w in groups for r in readers.get(dataset, ()) if w != r}


_BUILT: dict[str, Path] = {}


def _build_site(kedro_project, tiny_actd) -> Path:
    """The static site of ``kedro viz build`` on a project that ran the data pipelines; built
    once per test session (the two tests read the same site) in a folder that outlives the
    first test's project."""
    if "site" in _BUILT:
        return _BUILT["site"]
    kedro_project(pipeline_names=["ingestion", "feature_engineering"], actd_dir=tiny_actd)
    root = kedro_project.root
    shutil.copy(PROJECT / ".telemetry", root / ".telemetry")
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "kedro", "viz", "build", "--include-previews"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120,
    )
    assert built.returncode == 0, f"kedro viz build failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
    site = root / "build"
    assert (site / "index.html").is_file(), f"kedro viz build wrote no build/index.html:\n{built.stdout[-3000:]}"
    kept = Path(tempfile.mkdtemp(prefix="viz-site-")) / "build"
    shutil.copytree(site, kept)
    _BUILT["site"] = kept
    return kept


def _registered_pipelines() -> dict:
    """Every pipeline of the project (a session run earlier in this process asked for some
    only, and Kedro then loads those alone)."""
    from kedro.framework.project import pipelines

    from neuron_types.pipeline_registry import register_pipelines

    pipelines.set_requested(None)
    return register_pipelines()


def _render(browser: str, url: str) -> dict[str, set[str]]:
    with tempfile.TemporaryDirectory(prefix="viz-browser-") as profile:
        rendered = subprocess.run(
            [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True, text=True, timeout=90,
        )
    parser = GraphNodes()
    parser.feed(rendered.stdout)
    assert parser.nodes, (
        f"{browser} drew no pipeline node at {url} (exit {rendered.returncode}); "
        f"DOM {len(rendered.stdout)} characters; stderr tail:\n{rendered.stderr[-2000:]}"
    )
    return parser.nodes


def _assert_previews(site: Path, datasets: list[str]) -> None:
    """`--include-previews` stored a table preview for each of these datasets."""
    main = json.loads((site / "api" / "main").read_text())
    ids = {node["name"]: node["id"] for node in main["nodes"]}
    for name in datasets:
        details = json.loads((site / "api" / "nodes" / ids[name]).read_text())
        preview = details.get("preview") or {}
        assert preview.get("data"), f"no preview of {name!r} in the built site: {str(details)[:300]}"
