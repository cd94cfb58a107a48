"""Per-cell noise-sweep spike features, computed from each cell's NWB file. Kedro-free.

The ACTD dump's ``noise_spike_features.csv`` is not served by the Allen API; this module
makes it the way ``../shared/actd/README.md`` describes (and the downloader of Ophir,
Shefi & Lindenbaum did): for a cell with a "Short Square" sweep of exactly one spike,
take its first "Noise 1"/"Noise 2" sweep with more than 10 spikes, run allensdk's
``EphysSweepFeatureExtractor`` on it and average each single-spike feature over spikes.

"First" is the lowest ``sweep_number``: allensdk's ``CellTypesApi.get_ephys_sweeps``
already returns sweeps sorted that way (the original code took element ``[0]`` of that
list); we sort again so that a cache written by other means gives the same answer.

The sweep goes to the extractor as allensdk's ``extractor_for_nwb_sweeps`` hands noise
sweeps to it: volts -> mV, amperes -> pA, ``t`` from the sampling rate, the analysis
window (``start``, ``end``) from the sweep's ``index_range`` (end of the test pulse, end
of valid data), the trace cut at the end of valid data, default detection parameters
(10 kHz Bessel filter, dV/dt cutoff 20 V/s). Means use ``spike_feature``, allensdk's
accessor that leaves out a spike clipped by the end of the sweep for the features the
clipping makes undefined (trough, downstroke, width, ...), and ``np.mean`` (not
``nanmean``), so a cell with an undefined width keeps NaN as in the dump's own table.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

NOISE_STIMULI = ("Noise 1", "Noise 2")
SHORT_SQUARE = "Short Square"
MIN_NOISE_SPIKES = 10  # a noise sweep needs strictly more spikes than this
SPIKE_FEATURES = (
    "threshold_v", "threshold_i", "peak_v", "peak_i", "trough_v", "trough_i",
    "upstroke", "upstroke_v", "downstroke", "downstroke_v",
    "fast_trough_v", "fast_trough_i", "width", "upstroke_downstroke_ratio",
)
COLUMNS = ("specimen_id", "sweep_number", *SPIKE_FEATURES)

NO_SHORT_SQUARE = 'no "Short Square" sweep with exactly one spike'
NO_NOISE_SWEEP = f'no "Noise 1"/"Noise 2" sweep with more than {MIN_NOISE_SPIKES} spikes'
NO_SWEEP_METADATA = "sweep metadata could not be fetched"
NWB_UNREADABLE = "NWB file could not be fetched or its sweep read"
EXTRACTION_FAILED = "feature extraction failed"
NO_SPIKES_FOUND = "the extractor found no spike in the noise sweep"
_EXAMPLES = 3


class CellSkipped(Exception):
    """A cell that gets no row: ``reason`` is counted in the log, ``detail`` (the error
    behind it, if any) shown for the first cell of each reason."""

    def __init__(self, reason: str, detail: str | None = None):
        super().__init__(reason if detail is None else f"{reason}: {detail}")
        self.reason, self.detail = reason, detail

    def __reduce__(self):  # crosses process boundaries (extractor processes, Dask)
        return CellSkipped, (self.reason, self.detail)


def select_noise_sweep(sweeps: Iterable[Mapping]) -> int:
    """The sweep number whose spikes describe the cell (see the module docstring).

    ``sweeps`` are ``CellTypesCache.get_ephys_sweeps`` records (``stimulus_name``,
    ``sweep_number``, ``num_spikes``; ``num_spikes`` is None where not counted).
    Raises ``CellSkipped`` when the cell has no such sweep.
    """
    sweeps = sorted(sweeps, key=lambda sweep: sweep["sweep_number"])
    noise = [
        sweep["sweep_number"] for sweep in sweeps
        if sweep["stimulus_name"] in NOISE_STIMULI
        and (sweep["num_spikes"] or 0) > MIN_NOISE_SPIKES
    ]
    if not noise:
        raise CellSkipped(NO_NOISE_SWEEP)
    if not any(s["stimulus_name"] == SHORT_SQUARE and s["num_spikes"] == 1 for s in sweeps):
        raise CellSkipped(NO_SHORT_SQUARE)
    return int(noise[0])


def sweep_spike_features(sweep: Mapping) -> dict[str, float]:
    """Mean single-spike features of one sweep as ``NwbDataSet.get_sweep`` returns it
    (``response`` in V, ``stimulus`` in A, ``sampling_rate`` in Hz, ``index_range``).

    Units as allensdk reports them: mV, pA, V/s (= mV/ms) for up/downstroke, s for width.
    """
    from allensdk.ephys.ephys_extractor import EphysSweepFeatureExtractor

    first, last = (int(index) for index in sweep["index_range"])
    v = np.asarray(sweep["response"][: last + 1], dtype=float) * 1e3
    i = np.asarray(sweep["stimulus"][: last + 1], dtype=float) * 1e12
    dt = 1.0 / float(sweep["sampling_rate"])
    t = np.arange(len(v)) * dt
    extractor = EphysSweepFeatureExtractor(t=t, v=v, i=i, start=first * dt, end=last * dt)
    extractor.process_spikes()
    if not extractor.spikes():
        raise CellSkipped(NO_SPIKES_FOUND)
    return {name: float(np.mean(extractor.spike_feature(name))) for name in SPIKE_FEATURES}


def noise_sweep_of(cache, specimen_id: int) -> int:
    """The cell's noise sweep number, from its sweep metadata (``get_ephys_sweeps``).

    A cached sweeps file that does not parse (allensdk writes it in place: a killed run
    can cut it off) is deleted and fetched once more."""
    for attempt in (1, 2):
        try:
            sweeps = cache.get_ephys_sweeps(specimen_id)
            break
        except Exception as error:  # allensdk raises requests, HTTP, OS and JSON errors alike
            cached = _cached_sweeps(cache, specimen_id)
            if attempt == 2 or cached is None or not cached.is_file():
                raise _skip(specimen_id, NO_SWEEP_METADATA, error) from error
            cached.unlink()
    return select_noise_sweep(sweeps)


def _cached_sweeps(cache, specimen_id: int) -> Path | None:
    try:
        return Path(cache.get_cache_path(None, "EPHYS_SWEEPS", specimen_id))
    except Exception:  # a cache without that key (or a stand-in): nothing to clean up
        return None


def fetch_nwb(cache, specimen_id: int, keep_nwb: bool) -> tuple[str, bool]:
    """Downloads the cell's NWB file unless cached: ``(path, downloaded_here)``."""
    nwb = _nwb_path(cache, specimen_id, required=not keep_nwb)
    downloaded_here = nwb is not None and not nwb.exists()
    try:
        data_set = cache.get_ephys_data(specimen_id)
    except Exception as error:
        if downloaded_here and nwb.exists():
            nwb.unlink()
        raise _skip(specimen_id, NWB_UNREADABLE, error) from error
    return str(nwb if nwb is not None else data_set.file_name), downloaded_here


def cell_row(specimen_id: int, sweep_number: int, nwb_path: str) -> dict:
    """The cell's row of the table, from its NWB file (CPU-bound; runs in a process)."""
    from allensdk.core.nwb_data_set import NwbDataSet

    try:
        sweep = NwbDataSet(nwb_path).get_sweep(sweep_number)
    except Exception as error:
        raise _skip(specimen_id, NWB_UNREADABLE, error) from error
    try:
        features = sweep_spike_features(sweep)
    except CellSkipped:
        raise
    except Exception as error:  # allensdk's FeatureError, ValueError (filter), ...
        raise _skip(specimen_id, EXTRACTION_FAILED, error) from error
    return {"specimen_id": specimen_id, "sweep_number": sweep_number, **features}


def _nwb_path(cache, specimen_id: int, required: bool) -> Path | None:
    """Where ``get_ephys_data`` caches the cell's NWB file (None if the cache cannot say
    and nothing needs deleting)."""
    if not required and not hasattr(cache, "get_cache_path"):
        return None
    return Path(cache.get_cache_path(None, "EPHYS_DATA", specimen_id))


def _skip(specimen_id: int, reason: str, error: Exception) -> CellSkipped:
    detail = f"{type(error).__name__}: {error}"
    logger.debug("specimen_id %d: %s: %s", specimen_id, reason, detail)
    return CellSkipped(reason, detail)


def skipped_summary(table: pd.DataFrame) -> str:
    """``{reason: count}`` of a computed table, as one line for an error message."""
    counts = Counter(table.attrs.get("skipped", {}))
    return ", ".join(f"{reason}: {count}" for reason, count in counts.most_common()) or "none"
