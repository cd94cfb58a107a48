"""Project hooks: parameters checked before a run starts, and a failed run that ends on one
clear line instead of a page of traceback.

* ``before_pipeline_run`` checks the parameters the pipeline reads against conf/base
  (same names, same kinds of value) and the constraints of
  :mod:`neuron_types.parameter_schemas`, so ``epochs: ten`` stops the run before any node.
* ``on_pipeline_error`` logs ``neuron-types: <message>``. When the error is bad input (an
  :class:`~neuron_types.io.ActdDumpError`, a :class:`~neuron_types.params_validation.ParameterError`
  or a ``ValueError`` this package raised on purpose), the command line ends with that
  line on stderr and no traceback: the message already names the file or parameter, the
  column, the value and what was expected. ``NEURON_TYPES_TRACEBACK=1`` brings the
  traceback back. Any other error keeps Kedro's traceback, followed by the same line.
* A failed run never becomes the latest version of anything: Kedro writes each versioned
  dataset of a run into ``<filepath>/<run id>/``, so the outputs a failed run wrote before
  it failed would otherwise be what a plain ``catalog.load`` returns. ``on_pipeline_error``
  moves them to ``data/failed_runs/<run id>/``. A run killed outright (SIGKILL, power loss,
  Ctrl-C) calls no hook; its marker ``data/.runs/<run id>.json`` outlives it, and the next
  session on the project (a run, ``kedro ipython``, a notebook) moves its versions away
  the same way once the process named in the marker is gone.
* With ``NEURON_TYPES_NODE_TIMES=<file>`` set, each node's wall-clock seconds are appended
  to that file as JSON lines (``benchmarks/run.py`` uses it); unset, nothing is timed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from kedro.framework.hooks import hook_impl

from neuron_types.io.actd import ActdDumpError
from neuron_types.params_validation import ParameterError, check_parameters

logger = logging.getLogger("neuron_types")

PACKAGE_DIR = Path(__file__).resolve().parent
TRACEBACK_VARIABLE = "NEURON_TYPES_TRACEBACK"
INPUT_ERRORS = (ActdDumpError, ParameterError)
NODE_TIMES_VARIABLE = "NEURON_TYPES_NODE_TIMES"
RUN_MARKERS = Path(".runs")  # under data/
FAILED_RUNS = Path("failed_runs")  # under data/


def root_cause(error: BaseException) -> BaseException:
    """The error a node or dataset raised, unwrapped from Kedro's ``DatasetError``s."""
    from kedro.io import DatasetError

    seen = set()
    while isinstance(error, DatasetError) and error.__cause__ is not None and id(error) not in seen:
        seen.add(id(error))
        error = error.__cause__
    return error


def _raised_here(error: BaseException) -> bool:
    """True when the innermost frame of the traceback is this package's own code: a
    ``raise`` with a message written for the user, not an accident deep in a library."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return PACKAGE_DIR in Path(tb.tb_frame.f_code.co_filename).resolve().parents


def is_input_error(error: BaseException) -> bool:
    """Bad input or parameters, explained by the message alone."""
    cause = root_cause(error)
    return isinstance(cause, INPUT_ERRORS) or (isinstance(cause, ValueError) and _raised_here(cause))


def one_line(error: BaseException) -> str:
    """``neuron-types: <message>`` on a single line."""
    cause = root_cause(error)
    message = " ".join(str(cause).split()) or type(cause).__name__
    if not is_input_error(error):
        message = f"{type(cause).__name__}: {message}"
    return f"neuron-types: {message}"


class _CleanExit:
    """An ``sys.excepthook`` that prints the one line for the error a run failed on."""

    def __init__(self):
        self.previous = sys.excepthook
        self.error: BaseException | None = None

    def __call__(self, exc_type, exc, tb):
        if exc is None or exc is not self.error:
            return self.previous(exc_type, exc, tb)
        if is_input_error(exc) and not os.environ.get(TRACEBACK_VARIABLE):
            print(one_line(exc), file=sys.stderr)
            print(f"(the run stopped on bad input; {TRACEBACK_VARIABLE}=1 shows the traceback)",
                  file=sys.stderr)
        else:
            self.previous(exc_type, exc, tb)
            print(one_line(exc), file=sys.stderr)
        sys.stderr.flush()


def _report(error: BaseException) -> None:
    # markup off: messages quote values such as [nan] that rich would read as tags
    logger.error(one_line(error), extra={"markup": False})
    hook = sys.excepthook
    if not isinstance(hook, _CleanExit):
        hook = _CleanExit()
        sys.excepthook = hook
    hook.error = error


def parameter_defaults(conf_dir: Path, patterns: Iterable[str]) -> tuple[dict, dict]:
    """conf/base parameters, and the file name of each top-level key (for messages).
    Read as plain YAML: values that are interpolations accept anything."""
    defaults: dict[str, Any] = {}
    files: dict[str, str] = {}
    paths = sorted({p for pattern in patterns for p in conf_dir.glob(pattern)
                    if p.is_file() and p.suffix in (".yml", ".yaml", ".json")})
    for path in paths:
        content = yaml.safe_load(path.read_text()) or {}
        if not isinstance(content, dict):
            continue
        for key, value in content.items():
            defaults[key] = _without_interpolations(value)
            files[key] = path.name
    return defaults, files


def _without_interpolations(value):
    if isinstance(value, dict):
        return {k: _without_interpolations(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_interpolations(v) for v in value]
    if isinstance(value, str) and "${" in value:
        return None  # resolved at run time; nothing to infer its kind from
    return value


def parameter_keys(pipeline) -> set[str] | None:
    """Top-level parameter keys the pipeline's nodes read; None when one reads them all."""
    keys = set()
    for name in pipeline.inputs():
        if name == "parameters":
            return None
        if name.startswith("params:"):
            keys.add(name[len("params:"):].split(".")[0])
    return keys


# --- versions of failed and interrupted runs

# never versioned, and possibly large (a downloaded dump with its NWB files)
UNVERSIONED_DATA = {"01_raw", str(FAILED_RUNS), str(RUN_MARKERS)}


def _version_folders(data_dir: Path, version: str) -> list[Path]:
    """Every ``<filepath>/<version>/`` folder under ``data_dir`` (Kedro's versioned layout)."""
    found = []
    for folder, subfolders, _ in os.walk(data_dir):
        if Path(folder) == data_dir:
            subfolders[:] = [name for name in subfolders if name not in UNVERSIONED_DATA]
        if version in subfolders:
            found.append(Path(folder) / version)
            subfolders.remove(version)
    return sorted(found)


def set_aside_versions(data_dir: Path, version: str, why: str) -> list[Path]:
    """Moves every dataset version ``version`` under ``data_dir`` to
    ``data_dir/failed_runs/<version>/``, keeping its relative path; returns the new places."""
    moved = []
    for folder in _version_folders(data_dir, version):
        target = data_dir / FAILED_RUNS / version / folder.relative_to(data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(target))
        moved.append(target)
    if moved:
        logger.warning(
            "%s run %s: moved its %d dataset versions to %s, so that the latest version of "
            "each dataset is still the last complete run's",
            why, version, len(moved), data_dir / FAILED_RUNS / version,
        )
    return moved


def _write_marker(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        json.dump(content, file)
    os.replace(temporary, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted_runs(data_dir: Path) -> list[str]:
    """Sets aside the versions of runs that started here and died without finishing (their
    marker is left and their process is gone); returns their run ids."""
    recovered = []
    for marker in sorted((data_dir / RUN_MARKERS).glob("*.json")):
        try:
            started = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        if started.get("host") != socket.gethostname() or _alive(int(started.get("pid", 0))):
            continue  # still running, or on another machine: not ours to judge
        set_aside_versions(data_dir, marker.stem, "interrupted")
        marker.unlink(missing_ok=True)
        recovered.append(marker.stem)
    return recovered


class ProjectHooks:
    def __init__(self):
        self._context = None
        self._node_started: dict[str, float] = {}

    @hook_impl
    def before_node_run(self, node) -> None:
        if os.environ.get(NODE_TIMES_VARIABLE):
            self._node_started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:
        path = os.environ.get(NODE_TIMES_VARIABLE)
        started = self._node_started.pop(node.name, None)
        if path and started is not None:
            record = {"node": node.name, "seconds": time.perf_counter() - started}
            with open(path, "a") as file:
                file.write(json.dumps(record) + "\n")

    @hook_impl
    def after_context_created(self, context) -> None:
        self._context = context
        try:
            recover_interrupted_runs(Path(context.project_path) / "data")
        except OSError as error:  # never stop a session over housekeeping
            logger.warning("could not check for interrupted runs: %s", error)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._context is None:
            return
        loader = self._context.config_loader
        base = Path(loader.conf_source) / (getattr(loader, "base_env", None) or "base")
        patterns = getattr(loader, "config_patterns", {}).get("parameters", ["parameters*"])
        defaults, files = parameter_defaults(base, patterns)
        try:
            check_parameters(
                self._context.params, defaults, files,
                keys=parameter_keys(pipeline),
                runtime_keys=(run_params.get("runtime_params") or {}).keys(),
            )
        except ParameterError as error:
            _report(error)
            raise
        _write_marker(_marker(run_params), {"pid": os.getpid(), "host": socket.gethostname()})

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], run_result, pipeline, catalog) -> None:
        _marker(run_params).unlink(missing_ok=True)

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline, catalog) -> None:
        set_aside_versions(Path(run_params["project_path"]) / "data", run_params["run_id"], "failed")
        _marker(run_params).unlink(missing_ok=True)
        _report(error)


def _marker(run_params: dict[str, Any]) -> Path:
    return Path(run_params["project_path"]) / "data" / RUN_MARKERS / f"{run_params['run_id']}.json"
