"""Noise-sweep spike features from NWB sweeps, through a fake CellTypesCache.

Sweeps are built from real action potentials (the dump's short_square_spikes.npz) when the
real dump is present, else from a synthetic waveform: a train of more than 10 copies of
one spike on a resting baseline, with a noise-like current. The fake cache writes them as
NWB files in the Allen layout and reads them back with allensdk's own NwbDataSet.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from allensdk.core.nwb_data_set import NwbDataSet

from neuron_types.io import ActdDumpDataset, ActdDumpError, read_actd_dump
from neuron_types.io import actd as actd_module
from neuron_types.io.noise_features import (
    COLUMNS,
    EXTRACTION_FAILED,
    NO_NOISE_SWEEP,
    NO_SHORT_SQUARE,
    NO_SPIKES_FOUND,
    NO_SWEEP_METADATA,
    NWB_UNREADABLE,
    SPIKE_FEATURES,
    CellSkipped,
    select_noise_sweep,
    sweep_spike_features,
)
from neuron_types.io.allen_download import DownloadOptions
from neuron_types.io.noise_table import compute_noise_spike_features
from tests.actd_fixture import NOISE_FEATURES, actd_tables, write_actd_dump
from tests.conftest import real_actd_dir

# the header of the dump's real noise_spike_features.csv
REAL_HEADER = (
    "specimen_id,sweep_number,threshold_v,threshold_i,peak_v,peak_i,trough_v,trough_i,upstroke,"
    "upstroke_v,downstroke,downstroke_v,fast_trough_v,fast_trough_i,width,upstroke_downstroke_ratio"
)
NOISE_SWEEP = 44
STIMULUS_PA = 150.0


# ---------------------------------------------------------------- waveforms and sweeps


def synthetic_spike(rate_hz: float = 50_000.0) -> np.ndarray:
    """A spike from 1 ms before to 2 ms after its +40 mV peak, in mV."""
    t = np.arange(-int(rate_hz / 1000), int(2 * rate_hz / 1000)) / rate_hz * 1000  # ms
    rise = -50 + 90 * np.exp(-((t / 0.2) ** 2))
    fall = -56 + 96 * np.exp(-((t / 0.45) ** 2)) + 2 * t
    return np.where(t < 0, rise, fall)


def _has_a_spike(waveform: np.ndarray) -> bool:
    peak = len(waveform) // 3  # the snippets start 1 ms before the peak, end 2 ms after
    return waveform.max() > 0 and abs(int(waveform.argmax()) - peak) <= 1


def real_spikes(count: int, seed: int = 0) -> list[tuple[int, np.ndarray]]:
    """(specimen_id, waveform) of real short-square spikes of cells in the real noise table."""
    folder = real_actd_dir()
    spikes = np.load(folder / "short_square_spikes.npz")
    in_table = set(pd.read_csv(folder / "noise_spike_features.csv")["specimen_id"])
    keys = sorted(k for k in spikes.files if int(k.split("_")[0]) in in_table)
    chosen = []
    for index in np.random.default_rng(seed).permutation(len(keys)):
        specimen_id, waveform = int(keys[index].split("_")[0]), spikes[keys[index]]
        if _has_a_spike(waveform) and specimen_id not in dict(chosen):
            chosen.append((specimen_id, waveform))
        if len(chosen) == count:
            return chosen
    raise AssertionError("not enough real spikes")


@pytest.fixture(scope="module")
def waveforms() -> list[tuple[int, np.ndarray]]:
    """Three spikes (one at 200 kHz): real ones when the real dump is here."""
    if real_actd_dir() is None:
        return [(900001, synthetic_spike()), (900002, synthetic_spike()),
                (900003, synthetic_spike(200_000.0))]
    spikes = real_spikes(40)
    fast = [s for s in spikes if len(s[1]) == 600][:1]
    return [s for s in spikes if len(s[1]) == 150][:2] + fast


def synthetic_sweep(
    spike_mv: np.ndarray, n_spikes: int = 12, isi_s: float = 0.05, seed: int = 0
) -> dict:
    """An ``NwbDataSet.get_sweep`` dict (V, A, Hz): ``n_spikes`` copies of one spike.

    Between spikes the membrane relaxes to rest, then depolarises smoothly (slower than
    the 20 V/s detection cutoff) into the next spike's first sample. A test pulse, then
    a noise-like current around STIMULUS_PA, as in the ACTD's noise sweeps.
    """
    spike_mv = np.asarray(spike_mv, dtype=float)
    rate = len(spike_mv) / 0.003
    per_ms = rate / 1000
    rest = min(spike_mv[0], spike_mv[-1]) - 5.0

    def gap(n: int, v_from: float, v_to: float) -> np.ndarray:
        t = np.arange(1, n + 1) / per_ms
        rise = np.clip((t - (t[-1] - 10.0)) / 10.0, 0.0, 1.0)
        return rest + (v_from - rest) * np.exp(-t / 2.0) + (v_to - rest) * rise * rise * (3 - 2 * rise)

    pieces = [np.full(int(0.2 * rate), rest)]
    for _ in range(n_spikes):
        pieces += [gap(int(isi_s * rate) - len(spike_mv), pieces[-1][-1], spike_mv[0]), spike_mv]
    pieces.append(gap(int(0.1 * rate), spike_mv[-1], rest))
    v = np.concatenate(pieces)

    stimulus_start = int(0.1 * rate)  # the end of the test pulse: index_range[0]
    i = np.zeros_like(v)
    i[int(0.02 * rate): int(0.03 * rate)] = -20.0
    smooth = np.convolve(np.random.default_rng(seed).normal(size=len(v)), np.ones(int(per_ms)), "same")
    i[stimulus_start:] = STIMULUS_PA * (1 + 0.2 * smooth[stimulus_start:] / smooth.std())
    return {"response": v * 1e-3, "stimulus": i * 1e-12, "sampling_rate": rate,
            "index_range": (stimulus_start, len(v) - 1)}


def sweep_records(noise_spikes: int = 25, short_square_spikes: int = 1) -> list[dict]:
    """get_ephys_sweeps records of a cell; with the defaults, sweep NOISE_SWEEP qualifies."""
    return [
        {"sweep_number": 60, "stimulus_name": "Noise 2", "num_spikes": noise_spikes},
        {"sweep_number": NOISE_SWEEP, "stimulus_name": "Noise 1", "num_spikes": noise_spikes},
        {"sweep_number": 5, "stimulus_name": "Long Square", "num_spikes": 7},
        {"sweep_number": 20, "stimulus_name": "Short Square", "num_spikes": short_square_spikes},
        {"sweep_number": 3, "stimulus_name": "Test", "num_spikes": None},
    ]


# ---------------------------------------------------------------- a fake CellTypesCache


def write_allen_nwb(path: Path, sweeps: dict[int, dict]) -> None:
    """An NWB 1 file in the layout allensdk's ``NwbDataSet.get_sweep`` reads: per sweep
    an ``epochs/Sweep_<n>`` (the whole trace) and an ``epochs/Experiment_<n>`` (from the
    end of the test pulse: ``index_range``), data in volts and amperes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as nwb:
        nwb.create_group("general")
        for number, sweep in sweeps.items():
            first, last = sweep["index_range"]
            epochs = (("Sweep", 0, len(sweep["response"])), ("Experiment", first, last - first + 1))
            for epoch, start, count in epochs:
                for part, unit in (("stimulus", "Amps"), ("response", "Volts")):
                    group = nwb.create_group(f"epochs/{epoch}_{number}/{part}")
                    group["idx_start"], group["count"] = start, count
                    data = group.create_dataset("timeseries/data", data=sweep[part])
                    data.attrs["conversion"] = 1.0
                    data.attrs.create("unit", np.bytes_(unit))
                    time = group.create_dataset("timeseries/starting_time", data=0.0)
                    time.attrs["rate"] = sweep["sampling_rate"]


class FakeCache:
    """``get_ephys_sweeps`` / ``get_ephys_data`` / ``get_cache_path`` as CellTypesCache has
    them: ``get_ephys_data`` "downloads" (writes) the cell's NWB file where the manifest
    puts it unless it is there, and returns allensdk's own ``NwbDataSet`` over it. Cells
    not given have no qualifying noise sweep. Other attributes come from ``real``."""

    def __init__(self, folder, cells: dict[int, tuple[list[dict], dict[int, dict]]], real=None):
        self.folder, self.cells, self.real = folder, cells, real
        self.fetched: list[int] = []

    def get_ephys_sweeps(self, specimen_id: int) -> list[dict]:
        if specimen_id in self.cells:
            return self.cells[specimen_id][0]
        return sweep_records(noise_spikes=3)

    def get_cache_path(self, file_name, key: str, specimen_id: int) -> str:
        assert key == "EPHYS_DATA"
        return str(self.folder / f"specimen_{specimen_id}" / "ephys.nwb")

    def get_ephys_data(self, specimen_id: int) -> NwbDataSet:
        self.fetched.append(specimen_id)
        path = Path(self.get_cache_path(None, "EPHYS_DATA", specimen_id))
        if not path.exists():  # allensdk's 'lazy' strategy
            write_allen_nwb(path, self.cells[specimen_id][1])
        return NwbDataSet(str(path))

    def __getattr__(self, name):
        return getattr(self.real, name)


def good_cell(waveform: np.ndarray, seed: int = 0) -> tuple[list[dict], dict[int, dict]]:
    return sweep_records(), {NOISE_SWEEP: synthetic_sweep(waveform, seed=seed)}


# ---------------------------------------------------------------- the selection rule


def test_first_noise_sweep_with_more_than_ten_spikes_by_sweep_number():
    assert select_noise_sweep(sweep_records()) == NOISE_SWEEP  # 44 before 60, whatever the order
    earlier_but_few = [{"sweep_number": 40, "stimulus_name": "Noise 2", "num_spikes": 10}]
    assert select_noise_sweep(sweep_records() + earlier_but_few) == NOISE_SWEEP
    earlier = [{"sweep_number": 41, "stimulus_name": "Noise 2", "num_spikes": 11}]
    assert select_noise_sweep(sweep_records() + earlier) == 41


@pytest.mark.parametrize(
    "records, reason",
    [
        (sweep_records(short_square_spikes=2), NO_SHORT_SQUARE),
        (sweep_records(short_square_spikes=0), NO_SHORT_SQUARE),
        # only the plain "Short Square" stimulus counts, not its variants
        ([r | {"stimulus_name": "Short Square - Triple"} if r["sweep_number"] == 20 else r
          for r in sweep_records()], NO_SHORT_SQUARE),
        ([r for r in sweep_records() if r["stimulus_name"] != "Short Square"], NO_SHORT_SQUARE),
        ([r | {"num_spikes": 10} if r["stimulus_name"].startswith("Noise") else r
          for r in sweep_records()], NO_NOISE_SWEEP),
        ([r | {"num_spikes": None} if r["stimulus_name"].startswith("Noise") else r
          for r in sweep_records()], NO_NOISE_SWEEP),
    ],
)
def test_cells_without_the_sweeps_are_skipped(records, reason):
    with pytest.raises(CellSkipped, match=re.escape(reason)):
        select_noise_sweep(records)


# ---------------------------------------------------------------- the extractor path


def test_columns_are_the_real_tables_and_the_model_features():
    assert ",".join(COLUMNS) == REAL_HEADER
    assert set(SPIKE_FEATURES) == set(NOISE_FEATURES)  # conf: features.noise_spike


def test_features_of_a_spike_train_end_to_end(tmp_path, waveforms):
    cache = FakeCache(tmp_path, {sid: good_cell(w, seed=k) for k, (sid, w) in enumerate(waveforms)})
    table = compute_noise_spike_features(cache, [sid for sid, _ in waveforms], progress=False)

    assert list(table.columns) == list(COLUMNS)
    assert table["specimen_id"].tolist() == [sid for sid, _ in waveforms]
    assert (table["sweep_number"] == NOISE_SWEEP).all()
    assert not table.isna().any().any()
    for (_, waveform), (_, row) in zip(waveforms, table.iterrows()):
        # every spike is the same waveform: the mean peak is its maximum, in mV
        assert row["peak_v"] == pytest.approx(waveform.max(), abs=1e-9)
        assert waveform.min() - 6 < row["threshold_v"] < row["peak_v"]
        assert row["fast_trough_v"] < row["threshold_v"] + 1
        # currents in pA, read at the spike: inside the noise stimulus
        assert 0.2 * STIMULUS_PA < row["threshold_i"] < 2 * STIMULUS_PA
        assert row["upstroke"] > 20 and row["downstroke"] < 0  # V/s
        assert 1e-4 < row["width"] < 3e-3  # s
        ratio = -row["upstroke"] / row["downstroke"]  # the ratio of means, near the mean ratio
        assert row["upstroke_downstroke_ratio"] == pytest.approx(ratio, rel=0.5)


def test_a_train_of_one_spike_gives_that_spikes_features():
    """The mean over a train of identical spikes is one spike's value."""
    spike = synthetic_spike()
    train = sweep_spike_features(synthetic_sweep(spike, n_spikes=12))
    shorter = sweep_spike_features(synthetic_sweep(spike, n_spikes=11))
    for name in ("threshold_v", "peak_v", "upstroke", "downstroke", "width", "upstroke_downstroke_ratio"):
        assert train[name] == pytest.approx(shorter[name], rel=1e-6)


@pytest.mark.real_data
def test_real_spikes_give_values_in_the_range_of_the_real_table(real_actd, tmp_path):
    """Short-square spikes pasted into a train against the same cells' noise-sweep means.

    Different sweeps (a single spike from rest against spikes riding on noise), so values
    differ cell by cell; they must lie in the real table's range and rank cells alike.
    """
    real = pd.read_csv(real_actd / "noise_spike_features.csv").set_index("specimen_id")
    spikes = real_spikes(30, seed=1)
    cache = FakeCache(tmp_path, {sid: good_cell(w) for sid, w in spikes})
    table = compute_noise_spike_features(cache, [sid for sid, _ in spikes], progress=False)
    assert len(table) == len(spikes)
    computed, same_cells = table.set_index("specimen_id"), real.loc[table["specimen_id"]]
    for name in ("threshold_v", "peak_v", "width", "upstroke_downstroke_ratio"):
        inside = computed[name].between(real[name].min(), real[name].max())
        assert inside.mean() >= 0.9, name
    for name in ("width", "upstroke_downstroke_ratio", "peak_v"):
        assert computed[name].corr(same_cells[name], method="spearman") > 0.5, name


# ---------------------------------------------------------------- skipping and NWB files


def test_skipped_cells_are_counted_by_reason(tmp_path, caplog):
    spike = synthetic_spike()
    slow = synthetic_sweep(spike) | {"sampling_rate": 15_000.0}  # below the 10 kHz filter's range

    class Failing(FakeCache):
        def get_ephys_sweeps(self, specimen_id):
            if specimen_id == 4:
                raise ConnectionError("Allen API unreachable")
            return super().get_ephys_sweeps(specimen_id)

        def get_ephys_data(self, specimen_id):
            if specimen_id == 5:
                raise OSError("truncated NWB file")
            return super().get_ephys_data(specimen_id)

    cache = Failing(tmp_path, {
        1: good_cell(spike),
        2: (sweep_records(short_square_spikes=3), {}),
        3: (sweep_records(noise_spikes=8), {}),
        5: (sweep_records(), {}),
        6: (sweep_records(), {NOISE_SWEEP: synthetic_sweep(np.full(150, -70.0))}),
        7: (sweep_records(), {NOISE_SWEEP: slow}),
        8: (sweep_records(short_square_spikes=3), {}),
    })
    with caplog.at_level(logging.INFO, logger="neuron_types.io.noise_table"):
        table = compute_noise_spike_features(cache, range(1, 9), progress=False)
    assert table["specimen_id"].tolist() == [1]
    assert table.attrs["skipped"] == {
        NO_SHORT_SQUARE: 2, NO_NOISE_SWEEP: 1, NO_SWEEP_METADATA: 1, NWB_UNREADABLE: 1,
        NO_SPIKES_FOUND: 1, EXTRACTION_FAILED: 1,
    }
    assert "computed for 1 of 8 cells" in caplog.text
    assert f"skipped 2 cells: {NO_SHORT_SQUARE} (e.g. specimen_id [2, 8])" in caplog.text
    assert (f"skipped 1 cells: {NO_SWEEP_METADATA} (e.g. specimen_id [4]; "
            "first error: ConnectionError: Allen API unreachable)") in caplog.text


def test_nwb_files_downloaded_here_are_deleted_unless_kept(tmp_path):
    spike = synthetic_spike()
    cache = FakeCache(tmp_path, {1: good_cell(spike), 2: good_cell(spike), 3: (sweep_records(), {})})
    cached_before = tmp_path / "specimen_2" / "ephys.nwb"
    write_allen_nwb(cached_before, cache.cells[2][1])

    compute_noise_spike_features(cache, [1, 2, 3], progress=False, keep_nwb=False)
    assert not (tmp_path / "specimen_1" / "ephys.nwb").exists()
    assert not (tmp_path / "specimen_3" / "ephys.nwb").exists()  # deleted on failure too
    assert cached_before.exists()

    compute_noise_spike_features(cache, [1, 3], progress=False, keep_nwb=True)
    assert (tmp_path / "specimen_1" / "ephys.nwb").exists()
    # a download that cannot be read is not kept: allensdk would reuse it next time
    assert not (tmp_path / "specimen_3" / "ephys.nwb").exists()


# ---------------------------------------------------------------- read_actd_dump wiring


def dump_without_noise_table(folder):
    tables = actd_tables()
    tables["noise_spike_features"] = None
    write_actd_dump(folder, tables)
    return [record["specimen__id"] for record in tables["cells"]]


@pytest.fixture
def fake_allen(monkeypatch):
    """Makes actd._cache a FakeCache over the real CellTypesCache of the dump: the first
    three cells of a tiny dump get synthetic noise sweeps, the others none."""
    real_cache = actd_module._cache
    made = []

    def install(specimen_ids, cache_class=FakeCache):
        spike = synthetic_spike()

        def fake(manifest):
            cells = {sid: good_cell(spike, seed=sid % 7) for sid in specimen_ids[:3]}
            cache = cache_class(manifest.parent, cells, real=real_cache(manifest))
            made.append(cache)
            return cache

        monkeypatch.setattr(actd_module, "_cache", fake)
        return made

    return install


def test_read_actd_dump_computes_a_missing_noise_table(tmp_path, fake_allen):
    ids = dump_without_noise_table(tmp_path / "actd")
    made = fake_allen(ids)
    tables = read_actd_dump(tmp_path / "actd", compute_noise_spike_features=True)

    written = tmp_path / "actd" / "noise_spike_features.csv"
    assert written.read_text().splitlines()[0] == REAL_HEADER
    assert tables["noise_spike_features"]["specimen_id"].tolist() == ids[:3]
    assert sorted(made[0].fetched) == sorted(ids[:3])  # by 4 download threads
    assert not list((tmp_path / "actd").glob("specimen_*/ephys.nwb"))  # keep_nwb=False
    assert not list((tmp_path / "actd").glob(".*tmp"))

    again = read_actd_dump(tmp_path / "actd", compute_noise_spike_features=True)
    assert made[-1].fetched == []  # read back, not recomputed
    pd.testing.assert_frame_equal(again["noise_spike_features"], tables["noise_spike_features"])


def test_dataset_option_computes_and_default_reader_does_not(tmp_path, fake_allen):
    ids = dump_without_noise_table(tmp_path / "actd")
    fake_allen(ids)
    assert read_actd_dump(tmp_path / "actd")["noise_spike_features"].empty
    assert not (tmp_path / "actd" / "noise_spike_features.csv").exists()

    loaded = ActdDumpDataset(path=str(tmp_path / "actd"), allow_download=False, keep_nwb=True).load()
    assert len(loaded["noise_spike_features"]) == 3
    assert len(list((tmp_path / "actd").glob("specimen_*/ephys.nwb"))) == 3


def test_a_download_computes_the_noise_table(tmp_path, fake_allen):
    source = tmp_path / "allen"
    ids = dump_without_noise_table(source)

    class Downloading(FakeCache):
        def get_cells(self):  # what allensdk does on a first download
            for name in ("cells.json", "ephys_features.csv"):
                (self.folder / name).write_bytes((source / name).read_bytes())
            return self.real.get_cells()

    fake_allen(ids, Downloading)
    tables = read_actd_dump(tmp_path / "downloaded", compute_noise_spike_features=True)
    assert len(tables["noise_spike_features"]) == 3
    assert (tmp_path / "downloaded" / "noise_spike_features.csv").is_file()


class Interrupted(FakeCache):
    def get_ephys_data(self, specimen_id):
        if len(self.fetched) == 2:
            raise KeyboardInterrupt  # not a per-cell failure: it stops the run
        return super().get_ephys_data(specimen_id)


def test_an_interrupted_computation_leaves_no_table_but_its_finished_cells(tmp_path, fake_allen):
    ids = dump_without_noise_table(tmp_path / "actd")
    fake_allen(ids, Interrupted)
    one_at_a_time = DownloadOptions(download_workers=1, extract_workers=0)
    with pytest.raises(KeyboardInterrupt):
        read_actd_dump(tmp_path / "actd", compute_noise_spike_features=True, download=one_at_a_time)
    assert not (tmp_path / "actd" / "noise_spike_features.csv").exists()
    progress = pd.read_csv(tmp_path / "actd" / "noise_spike_features.progress.csv")
    assert progress.dropna(subset=["peak_v"])["specimen_id"].tolist() == ids[:2]

    made = fake_allen(ids)  # restarted: only the third cell is fetched
    tables = read_actd_dump(tmp_path / "actd", compute_noise_spike_features=True)
    assert made[-1].fetched == ids[2:3]
    assert tables["noise_spike_features"]["specimen_id"].tolist() == ids[:3]
    assert not (tmp_path / "actd" / "noise_spike_features.progress.csv").exists()


def test_a_write_failing_midway_leaves_no_partial_file(tmp_path, fake_allen, monkeypatch):
    ids = dump_without_noise_table(tmp_path / "actd")
    fake_allen(ids)
    to_csv = pd.DataFrame.to_csv

    def half_then_fail(self, file, **kwargs):
        to_csv(self.head(1), file, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        read_actd_dump(tmp_path / "actd", compute_noise_spike_features=True)
    assert not (tmp_path / "actd" / "noise_spike_features.csv").exists()
    assert not list((tmp_path / "actd").glob(".*tmp"))


def test_no_cell_computed_is_an_error_and_writes_nothing(tmp_path, fake_allen):
    ids = dump_without_noise_table(tmp_path / "actd")
    fake_allen([])
    with pytest.raises(ActdDumpError, match=f"for none of {len(ids)} cells.*{re.escape(NO_NOISE_SWEEP)}"):
        read_actd_dump(tmp_path / "actd", compute_noise_spike_features=True)
    assert not (tmp_path / "actd" / "noise_spike_features.csv").exists()


def test_a_read_only_dump_is_never_written(tmp_path, fake_allen, caplog):
    folder = tmp_path / "actd"
    made = fake_allen(dump_without_noise_table(folder))
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        with caplog.at_level(logging.WARNING):
            tables = read_actd_dump(folder, compute_noise_spike_features=True)
    finally:
        folder.chmod(0o755)
    assert tables["noise_spike_features"].empty
    assert made[0].fetched == []
    assert "is read-only" in caplog.text and "NEURON_TYPES_ACTD_DIR" in caplog.text
    assert sorted(os.listdir(folder)) == ["cells.json", "ephys_features.csv", "manifest.json"]
