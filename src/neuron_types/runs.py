"""A failed or killed run never becomes the latest version of anything.

Kedro writes each versioned dataset of a run into ``<filepath>/<run id>/``, so what a failed
run wrote before it failed would otherwise be what a plain ``catalog.load`` returns. The
project hook moves those versions to ``data/failed_runs/<run id>/`` when a run fails. A run
killed outright (SIGKILL, power loss, Ctrl-C) calls no hook: its marker
``data/.runs/<run id>.json`` outlives it, and the next session on the project (a run,
``kedro ipython``, a notebook) sets its versions aside the same way once the process named
in the marker is gone.

A catalog entry whose ``metadata`` has ``neuron_types: {published_as: <path>}`` is also
copied, as the version this run saved, to that fixed path once the run has completed
(:func:`publish`): the summary files the README links stay the last complete run's.
Kedro-free.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path

logger = logging.getLogger("neuron_types")

RUN_MARKERS = Path(".runs")  # under data/
FAILED_RUNS = Path("failed_runs")  # under data/

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


def mark_started(data_dir: Path, run_id: str) -> None:
    """Leaves the marker that tells a later session this run is (or was) in progress."""
    _write_marker(marker_path(data_dir, run_id), {"pid": os.getpid(), "host": socket.gethostname()})


def mark_finished(data_dir: Path, run_id: str) -> None:
    marker_path(data_dir, run_id).unlink(missing_ok=True)


def marker_path(data_dir: Path, run_id: str) -> Path:
    return data_dir / RUN_MARKERS / f"{run_id}.json"


def published_copies(conf_catalog: dict) -> dict[str, tuple[str, str]]:
    """``{dataset: (its filepath, the fixed path it is published as)}`` from catalog config."""
    copies = {}
    for name, entry in conf_catalog.items():
        metadata = entry.get("metadata") if isinstance(entry, dict) else None
        target = ((metadata or {}).get("neuron_types") or {}).get("published_as")
        if target and entry.get("versioned") and entry.get("filepath"):
            copies[name] = (str(entry["filepath"]), str(target))
    return copies


def publish(project_path: Path, run_id: str, copies: dict[str, tuple[str, str]]) -> list[Path]:
    """Copies each dataset's version ``run_id``, where this run saved one, to its fixed path
    (atomically: a temporary file renamed over the target); returns the paths written."""
    written = []
    for filepath, target in copies.values():
        source = project_path / filepath / run_id / Path(filepath).name
        if not source.is_file():
            continue
        destination = project_path / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=".", suffix=".tmp")
        os.close(handle)
        shutil.copyfile(source, temporary)
        os.replace(temporary, destination)
        written.append(destination)
    return written

