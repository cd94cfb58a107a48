import logging

import numpy as np
import pytest

from neuron_types.io.recording_rate import read_sampling_rates, sampling_rates


def _trace(samples: int) -> np.ndarray:
    return np.linspace(-60, 20, samples, dtype="float32")


def test_rate_is_samples_over_the_3_ms_window():
    table = sampling_rates({"12_40": _trace(600), "5_7": _trace(150), "9_3": _trace(300), "9_4": _trace(300)})
    # 600 / 3 ms = 200 kHz, 150 / 3 ms = 50 kHz, 300 / 3 ms = 100 kHz; cell 9's two sweeps agree
    assert table.to_dict("list") == {"specimen_id": [5, 9, 12], "sampling_rate_khz": [50, 100, 200]}
    assert table.dtypes.eq("int64").all()


def test_bad_keys_shapes_and_mixed_rates_are_named():
    with pytest.raises(ValueError, match=r"spikes\.npz: key 'abc' is not <specimen_id>_<sweep_number>"):
        sampling_rates({"abc": _trace(150)}, source="spikes.npz")
    with pytest.raises(ValueError, match=r"key 3_1: expected a 1-D voltage trace, got shape \(2, 150\)"):
        sampling_rates({"3_1": np.zeros((2, 150))})
    with pytest.raises(ValueError, match=r"1 cells have sweeps at different sampling rates \(e\.g\. specimen_id \[3\]\)"):
        sampling_rates({"3_1": _trace(150), "3_2": _trace(600)})


def test_reads_the_npz_and_an_absent_file_gives_an_empty_table(tmp_path, caplog):
    path = tmp_path / "short_square_spikes.npz"
    np.savez(path, **{"100_41": _trace(600), "101_40": _trace(150)})
    assert read_sampling_rates(path)["sampling_rate_khz"].tolist() == [200, 50]
    with caplog.at_level(logging.INFO):
        empty = read_sampling_rates(tmp_path / "absent.npz")
    assert empty.empty and list(empty.columns) == ["specimen_id", "sampling_rate_khz"]
    assert "recording-rate analysis will be skipped" in caplog.text
    path.write_text("not a zip")
    with pytest.raises(ValueError, match=r"short_square_spikes\.npz: not a readable npz"):
        read_sampling_rates(path)
