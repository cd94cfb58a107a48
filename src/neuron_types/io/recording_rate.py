"""Each cell's sampling rate, read off the length of its short-square action potential.

``short_square_spikes.npz`` (see ``../shared/actd/README.md``) holds one array per cell,
keyed ``<specimen_id>_<sweep_number>``: the membrane voltage from 1 ms before to 2 ms after
the peak of the single spike of a "Short Square" sweep. A 3 ms window holds 150 samples
at 50 kHz and 600 at 200 kHz; the rate is ``samples / 3 ms``, rounded to whole kHz, so
another length gives its own rate (e.g. 300 samples -> 100 kHz) rather than an error.
Kedro-free.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

SHORT_SQUARE_SPIKES_FILE = "short_square_spikes.npz"
SPIKE_WINDOW_MS = 3.0


def sampling_rates(spikes: Mapping[str, np.ndarray], source: str = SHORT_SQUARE_SPIKES_FILE) -> pd.DataFrame:
    """``specimen_id`` (int64) -> ``sampling_rate_khz`` (int64), one row per cell, sorted.

    ``spikes`` maps ``<specimen_id>_<sweep_number>`` to a 1-D voltage trace. A cell with
    several sweeps must have one rate; ``source`` names the file in errors.
    """
    rows = []
    for key, trace in spikes.items():
        specimen, _, sweep = key.partition("_")
        if not (specimen.isdigit() and sweep.isdigit()):
            raise ValueError(
                f"{source}: key {key!r} is not <specimen_id>_<sweep_number> (two integers)"
            )
        samples = np.shape(trace)[-1] if np.ndim(trace) else 0
        if np.ndim(trace) != 1 or samples == 0:
            raise ValueError(
                f"{source}, key {key}: expected a 1-D voltage trace, got shape {np.shape(trace)}"
            )
        rows.append((int(specimen), int(round(samples / SPIKE_WINDOW_MS))))
    table = pd.DataFrame(rows, columns=["specimen_id", "sampling_rate_khz"]).astype("int64")
    rates_per_cell = table.groupby("specimen_id")["sampling_rate_khz"].nunique()
    mixed = rates_per_cell[rates_per_cell > 1].index.tolist()
    if mixed:
        raise ValueError(
            f"{source}: {len(mixed)} cells have sweeps at different sampling rates "
            f"(e.g. specimen_id {mixed[:3]}); expected one rate per cell."
        )
    return table.drop_duplicates().sort_values("specimen_id", ignore_index=True)


def read_sampling_rates(path: str | Path) -> pd.DataFrame:
    """:func:`sampling_rates` of the npz at ``path``; an empty table (same columns) when the
    file is absent, with a log line saying that the rate-based analysis will be skipped."""
    path = Path(path)
    if not path.is_file():
        logger.info(
            "%s not found: no sampling rate per cell (sampling_rate_khz is left out of the "
            "cell tables), so the recording-rate analysis will be skipped.", path,
        )
        return pd.DataFrame({"specimen_id": pd.Series(dtype="int64"),
                             "sampling_rate_khz": pd.Series(dtype="int64")})
    try:
        with np.load(path, allow_pickle=False) as archive:
            spikes = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable npz of spike traces ({error})") from error
    return sampling_rates(spikes, source=str(path))
