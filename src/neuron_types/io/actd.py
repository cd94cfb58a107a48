"""Reading an Allen Cell Types Database dump through allensdk's ``CellTypesCache``.

A dump is a folder laid out as ``CellTypesCache`` caches it: ``manifest.json``,
``cells.json`` and ``ephys_features.csv``, plus the project's ``noise_spike_features.csv``
(per-cell noise-sweep spike features, see ``../shared/actd/README.md``). With no dump at
the folder, allensdk downloads cells and precomputed features from the Allen API into it.
The API does not serve the noise table: with ``compute_noise_spike_features`` it is
computed from each cell's NWB file (``neuron_types.io.noise_features``) and written into
the dump folder, when that folder is writable. Kedro-free.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pandas as pd

from neuron_types.errors import InputError
from neuron_types.io.noise_features import COLUMNS as NOISE_SPIKE_FEATURE_COLUMNS
from neuron_types.io.recording_rate import SHORT_SQUARE_SPIKES_FILE, read_sampling_rates

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
CELLS_FILE = "cells.json"
EPHYS_FEATURES_FILE = "ephys_features.csv"
NOISE_SPIKE_FEATURES_FILE = "noise_spike_features.csv"
NOISE_PROGRESS_FILE = "noise_spike_features.progress.csv"  # finished cells of a run, for resuming
# present while cells.json and ephys_features.csv are being downloaded: allensdk writes the
# manifest first and its files in place, so a killed download is told from a dump by this
DOWNLOADING_MARKER = ".download_in_progress"

# The columns of ephys_features.csv as CellTypesCache caches the current release (allensdk
# 2.16.2). Ingestion ignores, with one log line, any other column a release or a user's
# table brings, so that an extra column is no reason to stop; a missing one is refused only
# when a configured feature needs it. The noise table's are NOISE_SPIKE_FEATURE_COLUMNS.
EPHYS_FEATURE_COLUMNS = (
    "adaptation", "avg_isi", "electrode_0_pa", "f_i_curve_slope", "fast_trough_t_long_square",
    "fast_trough_t_ramp", "fast_trough_t_short_square", "fast_trough_v_long_square",
    "fast_trough_v_ramp", "fast_trough_v_short_square", "has_burst", "has_delay", "has_pause",
    "id", "input_resistance_mohm", "latency", "peak_t_long_square", "peak_t_ramp",
    "peak_t_short_square", "peak_v_long_square", "peak_v_ramp", "peak_v_short_square",
    "rheobase_sweep_id", "rheobase_sweep_number", "ri", "sag", "seal_gohm",
    "slow_trough_t_long_square", "slow_trough_t_ramp", "slow_trough_t_short_square",
    "slow_trough_v_long_square", "slow_trough_v_ramp", "slow_trough_v_short_square",
    "specimen_id", "tau", "threshold_i_long_square", "threshold_i_ramp",
    "threshold_i_short_square", "threshold_t_long_square", "threshold_t_ramp",
    "threshold_t_short_square", "threshold_v_long_square", "threshold_v_ramp",
    "threshold_v_short_square", "thumbnail_sweep_id", "trough_t_long_square", "trough_t_ramp",
    "trough_t_short_square", "trough_v_long_square", "trough_v_ramp", "trough_v_short_square",
    "upstroke_downstroke_ratio_long_square", "upstroke_downstroke_ratio_ramp",
    "upstroke_downstroke_ratio_short_square", "vm_for_sag", "vrest",
)

POINT_AT_A_DUMP = (
    "Point the project at a local dump with the environment variable "
    "NEURON_TYPES_ACTD_DIR=/path/to/actd (the folder holding manifest.json), or edit "
    "`actd_dump.path` in conf/base/catalog.yml."
)


class ActdDumpError(InputError):
    """A dump that cannot be read: the message names the file, the field and what was expected."""


def read_actd_dump(
    dump_dir: str | Path,
    allow_download: bool = True,
    compute_noise_spike_features: bool = False,
    keep_nwb: bool = False,
    download=None,
) -> dict[str, pd.DataFrame]:
    """Reads a dump into raw tables, keyed ``cells``, ``ephys_features``,
    ``noise_spike_features`` (empty when the dump has none) and ``sampling_rates``
    (``specimen_id`` -> ``sampling_rate_khz`` from ``short_square_spikes.npz``; empty when
    the dump has none, see ``neuron_types.io.recording_rate``).

    ``cells`` is ``CellTypesCache.get_cells()``: ``id``, ``species``, ``dendrite_type``,
    ``transgenic_line``, ``reporter_status``, ``structure_layer_name``, ...

    With ``compute_noise_spike_features``, a dump without ``noise_spike_features.csv``
    (a fresh download, or a local dump lacking it) gets one computed from every cell's
    NWB file through ``CellTypesCache`` (one NWB download per cell) and
    written atomically beside ``cells.json``; never into a read-only folder. ``keep_nwb``
    keeps the NWB files it downloads (else each is deleted once its cell is done).
    ``download``: an ``allen_download.DownloadOptions`` (API address, timeouts, retries,
    workers, Dask cluster); the computation resumes from ``noise_spike_features.progress.csv``
    when a run was stopped (``neuron_types.io.noise_table``).
    """
    from neuron_types.io.download_options import DownloadOptions

    download = download or DownloadOptions()
    dump_dir = Path(dump_dir)
    manifest = dump_dir / MANIFEST
    if manifest.is_file() and (dump_dir / DOWNLOADING_MARKER).is_file():
        logger.info("%s: an earlier download of the dump was stopped; downloading again", dump_dir)
        for name in (CELLS_FILE, EPHYS_FEATURES_FILE):  # possibly cut off midway
            (dump_dir / name).unlink(missing_ok=True)
        _download(dump_dir, download)
    elif manifest.is_file():
        # A local dump must be complete: allensdk would otherwise fetch the missing part
        # from the API and silently mix two releases of the database.
        for name in (CELLS_FILE, EPHYS_FEATURES_FILE):
            if not (dump_dir / name).is_file():
                raise ActdDumpError(
                    f"ACTD dump {dump_dir}: required file {name} is missing "
                    f"(expected beside {MANIFEST}, as CellTypesCache stores it)."
                )
    elif (dump_dir / CELLS_FILE).is_file() and (dump_dir / EPHYS_FEATURES_FILE).is_file():
        # A dump copied without its manifest: read through one written elsewhere, since the
        # dump folder is input and never written.
        manifest = manifest_outside(dump_dir)
    elif not allow_download:
        raise ActdDumpError(
            f"No ACTD dump at {dump_dir}: {manifest} not found and downloading is disabled "
            f"(allow_download: false). {POINT_AT_A_DUMP}"
        )
    else:
        _download(dump_dir, download)

    cache = _cache(manifest)
    cells = _read_cells(cache, dump_dir / CELLS_FILE)
    noise_path = dump_dir / NOISE_SPIKE_FEATURES_FILE
    if compute_noise_spike_features and not noise_path.is_file():
        _compute_noise_spike_table(cache, cells["id"], noise_path, keep_nwb, download, manifest)
    return {
        "cells": cells,
        "ephys_features": _read_ephys_features(cache, dump_dir / EPHYS_FEATURES_FILE),
        "noise_spike_features": _read_noise_spike_features(noise_path),
        "sampling_rates": read_sampling_rates(dump_dir / SHORT_SQUARE_SPIKES_FILE),
    }


def manifest_outside(dump_dir: Path) -> Path:
    """A ``CellTypesCache`` manifest for ``dump_dir`` in a temporary folder (removed at
    exit), its base directory the dump's absolute path."""
    folder = Path(tempfile.mkdtemp(prefix="neuron-types-manifest-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    entries = [{"type": "manifest_version", "value": "1.1"},
               {"key": "BASEDIR", "type": "dir", "spec": str(dump_dir.resolve())}]
    entries += [{"key": key, "type": "file", "spec": spec, "parent_key": "BASEDIR"}
                for key, spec in (("CELLS", CELLS_FILE), ("EPHYS_FEATURES", EPHYS_FEATURES_FILE),
                                  ("EPHYS_DATA", "specimen_%d/ephys.nwb"),
                                  ("EPHYS_SWEEPS", "specimen_%d/ephys_sweeps.json"),
                                  ("MORPHOLOGY_FEATURES", "morphology_features.csv"),
                                  ("RECONSTRUCTION", "specimen_%d/reconstruction.swc"),
                                  ("MARKER", "specimen_%d/reconstruction.marker"))]
    manifest = folder / MANIFEST
    manifest.write_text(json.dumps({"manifest": entries}, indent=2))
    logger.info("%s: no %s; reading the dump through a manifest in %s (the dump is never written)",
                dump_dir, MANIFEST, folder)
    return manifest


def _cache(manifest: Path):
    from allensdk.core.cell_types_cache import CellTypesCache

    try:
        return CellTypesCache(manifest_file=str(manifest))
    except ValueError as error:  # json decode errors (UnicodeDecodeError is one too)
        raise ActdDumpError(
            f"{manifest}: not a valid JSON manifest ({error}); expected the CellTypesCache "
            f"manifest ({{\"manifest\": [...]}}), or remove it to read the dump without one."
        ) from error


def _download(dump_dir: Path, download) -> None:
    from neuron_types.io.allen_download import attach

    logger.info("No ACTD dump at %s: downloading cells and ephys features from the Allen API "
                "at %s", dump_dir, download.api_url)
    try:
        dump_dir.mkdir(parents=True, exist_ok=True)
        (dump_dir / DOWNLOADING_MARKER).touch()
        cache = _cache(dump_dir / MANIFEST)
        attach(cache, download)
        cache.get_cells()
        cache.get_ephys_features()
        (dump_dir / DOWNLOADING_MARKER).unlink()
    except Exception as error:  # allensdk raises requests, HTTP and OS errors alike
        raise ActdDumpError(
            f"No ACTD dump at {dump_dir} ({MANIFEST} not found), and downloading it from the "
            f"Allen API through allensdk failed: {type(error).__name__}: {error}. "
            f"{POINT_AT_A_DUMP}"
        ) from error


def _compute_noise_spike_table(cache, specimen_ids, path: Path, keep_nwb: bool, download,
                               manifest: Path) -> None:
    """Computes ``noise_spike_features.csv`` at ``path``; leaves no file unless complete
    (the progress file of finished cells stays until then)."""
    from neuron_types.io.allen_download import attach
    from neuron_types.io.noise_features import skipped_summary
    from neuron_types.io.noise_table import compute_noise_spike_features

    if not _writable(path.parent):
        logger.warning(
            "%s not found and not computed: %s is read-only (the noise table would be written "
            "there, and the NWB files cached there). Copy the dump to a writable folder "
            "(e.g. data/01_raw/actd) and point NEURON_TYPES_ACTD_DIR at it to compute it.",
            path.name, path.parent,
        )
        return
    logger.info(
        "%s not found: computing it for %d cells from their NWB files through the Allen API "
        "(one download per cell, into %s; %s)", path.name, len(specimen_ids), path.parent,
        "kept" if keep_nwb else "each deleted once its cell is done",
    )
    attach(cache, download)
    progress_path = path.parent / NOISE_PROGRESS_FILE
    table = compute_noise_spike_features(
        cache, specimen_ids, progress=True, keep_nwb=keep_nwb, options=download,
        progress_path=progress_path, manifest=manifest,  # the one read: maybe not in the dump
    )
    if table.empty:
        raise ActdDumpError(
            f"{path}: could compute noise-sweep spike features for none of {len(specimen_ids)} "
            f"cells (skipped: {skipped_summary(table)}); nothing written. Check the connection "
            f"to the Allen API (the log has the reasons), or use a dump that has the table. "
            f"{POINT_AT_A_DUMP}"
        )
    # A temporary file in the same folder, renamed over the target: a run interrupted while
    # writing leaves no half table that a later run would read as complete.
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", newline="") as file:
            table.to_csv(file, index=False)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the dump's other files are not
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    progress_path.unlink(missing_ok=True)  # the table now holds what it recorded
    logger.info("wrote %s (%d cells)", path, len(table))


def _writable(folder: Path) -> bool:
    # Permission bits as well as access(): root may write anywhere, yet a folder marked
    # read-only (the shared dump) is to be left alone by everyone.
    mode = folder.stat().st_mode
    return os.access(folder, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _read_cells(cache, path: Path) -> pd.DataFrame:
    try:
        cells = cache.get_cells()
    except ValueError as error:  # json or simplejson (allensdk) decode errors
        raise ActdDumpError(
            f"{path}: not valid JSON ({error}); expected the list of cell records that "
            f"CellTypesCache stores (specimen__id, donor__species, tag__dendrite_type, ...)."
        ) from error
    except KeyError as error:
        raise ActdDumpError(
            f"{path}: a cell record lacks the field {error}; expected the cells API fields "
            f"(specimen__id, donor__species, tag__dendrite_type, line_name, ...)."
        ) from error
    except (TypeError, AttributeError) as error:
        raise ActdDumpError(
            f"{path}: expected a JSON list of cell records (objects), got something else: {error}"
        ) from error
    if not cells:
        raise ActdDumpError(f"{path}: holds no cells; expected a non-empty list of cell records.")
    return pd.DataFrame.from_records(cells)


def check_csv_header(path: Path, what: str) -> None:
    """The first line of a table: UTF-8 text, comma-separated, each column named once."""
    with open(path, "rb") as file:
        first = file.readline()
    try:
        header = first.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ActdDumpError(
            f"{path}: not UTF-8 text (byte {first[error.start:error.start + 1]!r} at position "
            f"{error.start} of the header); expected a UTF-8 CSV of {what}."
        ) from None
    columns = [c.strip().strip('"') for c in header.rstrip("\r\n").split(",")]
    if len(columns) == 1:
        other = next((d for d in (";", "\t", "|") if d in header), None)
        if other is not None:
            raise ActdDumpError(
                f"{path}: the header is {other!r}-separated ({header.strip()[:60]!r}...); expected "
                f"comma-separated values of {what}."
            )
    duplicated = sorted({c for c in columns if columns.count(c) > 1 and c})
    if duplicated:
        raise ActdDumpError(
            f"{path}, header: columns {duplicated} are named more than once; expected each "
            f"column once ({what})."
        )


def _read_table(read, path: Path, what: str) -> pd.DataFrame:
    if path.is_file() and path.stat().st_size:
        check_csv_header(path, what)
    try:
        table = read()
    except pd.errors.EmptyDataError as error:
        raise ActdDumpError(f"{path}: the file is empty; expected {what}.") from error
    except pd.errors.ParserError as error:
        raise ActdDumpError(f"{path}: not a readable CSV ({error}); expected {what}.") from error
    except UnicodeDecodeError as error:
        raise ActdDumpError(f"{path}: not UTF-8 text ({error}); expected a UTF-8 CSV of {what}.") from None
    if table.empty:
        raise ActdDumpError(f"{path}: has a header but no rows; expected {what}.")
    return table


def _read_ephys_features(cache, path: Path) -> pd.DataFrame:
    return _read_table(
        lambda: pd.DataFrame.from_records(cache.get_ephys_features()),
        path,
        "one row of precomputed ephys features per specimen_id",
    )


def _read_noise_spike_features(path: Path) -> pd.DataFrame:
    if not path.is_file():
        logger.warning(
            "%s not found: the dump has no noise-sweep spike features, so no cell can enter "
            "the 41-feature cohort (see ../shared/actd/README.md for how they are computed).",
            path,
        )
        return pd.DataFrame({"specimen_id": pd.Series(dtype="int64")})
    return _read_table(
        lambda: pd.read_csv(path), path, "one row of noise-sweep spike features per specimen_id"
    )
