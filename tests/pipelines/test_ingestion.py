import logging

import numpy as np
import pandas as pd
import pytest

from neuron_types.io import ActdDumpError, read_actd_dump
from neuron_types.pipelines.ingestion.nodes import validate_actd_dump
from tests.actd_fixture import actd_tables, write_actd_dump
from tests.params import typed_params

INGESTION = typed_params("ingestion")
FLAGS = INGESTION.ephys_boolean_columns


def _validate(tmp_path, tables):
    dump = read_actd_dump(write_actd_dump(tmp_path / "actd", tables), allow_download=False)
    return validate_actd_dump(dump, INGESTION)


def test_typed_tables_one_row_per_specimen(tmp_path):
    cells, ephys, noise = _validate(tmp_path, actd_tables())
    assert set(cells["species"]) == {"mouse", "human"}
    assert cells["specimen_id"].is_unique and ephys["specimen_id"].is_unique
    assert cells["specimen_id"].dtype == np.int64
    numeric = ephys.drop(columns=FLAGS)
    assert all(dtype == np.float64 for dtype in numeric.drop(columns="specimen_id").dtypes)
    assert len(noise) == len(cells)


def test_non_numeric_feature_value_names_column_and_row(tmp_path):
    tables = actd_tables()
    ephys = tables["ephys_features"]
    ephys["tau"] = ephys["tau"].astype(object)
    ephys.loc[3, "tau"] = "fast"
    with pytest.raises(ActdDumpError, match=r"ephys_features\.csv, column tau: 1 non-numeric values \(e\.g\. 'fast' at specimen_id \d+\)"):
        _validate(tmp_path, tables)


def test_infinite_value_is_rejected(tmp_path):
    tables = actd_tables()
    tables["noise_spike_features"].loc[0, "width"] = np.inf
    with pytest.raises(ActdDumpError, match=r"noise_spike_features\.csv, column width: 1 infinite"):
        _validate(tmp_path, tables)


@pytest.mark.parametrize("table", ["ephys_features", "noise_spike_features"])
def test_duplicate_specimen_ids_are_rejected(tmp_path, table):
    tables = actd_tables()
    frame = tables[table]
    tables[table] = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    with pytest.raises(ActdDumpError, match=r"column specimen_id: 1 ids occur more than once"):
        _validate(tmp_path, tables)


def test_duplicate_cells_are_rejected(tmp_path):
    tables = actd_tables()
    tables["cells"].append(dict(tables["cells"][0]))
    with pytest.raises(ActdDumpError, match=r"cells\.json, column specimen_id: 1 ids occur more than once"):
        _validate(tmp_path, tables)


def test_unknown_species_is_named_with_its_count(tmp_path):
    tables = actd_tables()
    tables["cells"][0]["donor__species"] = "Rattus norvegicus"
    with pytest.raises(ActdDumpError, match=r"unknown values \{'Rattus norvegicus': 1\}"):
        _validate(tmp_path, tables)


def test_feature_rows_without_a_cell_leave_the_run_named_in_one_line_per_table(tmp_path, caplog):
    tables = actd_tables()
    gone = [r["specimen__id"] for r in tables["cells"][:7]]
    tables["cells"] = tables["cells"][7:]
    with caplog.at_level(logging.WARNING):
        cells, ephys, noise = _validate(tmp_path, tables)
    assert len(cells) == len(ephys) == len(noise) == 114 - 7
    assert not set(gone) & (set(ephys["specimen_id"]) | set(noise["specimen_id"]))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    examples = f"(e.g. specimen_id {gone[:5]}); 107 stay"  # at most five ids
    assert warnings == [
        f"ACTD ephys_features.csv: 7 rows have no cell in cells.json and leave the run {examples}",
        f"ACTD noise_spike_features.csv: 7 rows have no cell in cells.json with a row in "
        f"ephys_features.csv and leave the run {examples}",
    ]


def test_cells_without_precomputed_features_leave_the_run_with_their_noise_rows(tmp_path, caplog):
    tables = actd_tables()
    gone = tables["ephys_features"]["specimen_id"].iloc[:2].tolist()
    tables["ephys_features"] = tables["ephys_features"].iloc[2:]
    with caplog.at_level(logging.WARNING):
        cells, ephys, noise = _validate(tmp_path, tables)
    assert len(cells) == len(ephys) == len(noise) == 112
    assert not set(gone) & set(cells["specimen_id"]) and not set(gone) & set(noise["specimen_id"])
    assert f"ACTD cells.json: 2 cells have no row in ephys_features.csv and leave the run (e.g. specimen_id {gone}); 112 stay" in caplog.text
    assert "ACTD noise_spike_features.csv: 2 rows have no cell in cells.json with a row" in caplog.text


def test_tables_sharing_no_specimen_are_refused(tmp_path):
    tables = actd_tables()
    tables["ephys_features"]["specimen_id"] += 10**6
    with pytest.raises(ActdDumpError, match=r"cells\.json and ephys_features\.csv: no specimen_id in both \(114 cells, e\.g\. \[500000001, "):
        _validate(tmp_path, tables)


def test_unnamed_index_and_unknown_columns_are_ignored_in_one_line_per_table(tmp_path, caplog):
    tables = actd_tables()
    tables["ephys_features"]["comment"] = "rig 3"  # text: not read, so not refused as non-numeric
    with caplog.at_level(logging.INFO):
        dump = read_actd_dump(write_actd_dump(tmp_path / "actd", tables, index_column=True), allow_download=False)
        assert "Unnamed: 0" in dump["ephys_features"].columns  # as pandas reads the header
        cells, ephys, noise = validate_actd_dump(dump, INGESTION)
    assert list(ephys.columns) == list(_validate(tmp_path / "plain", actd_tables())[1].columns)
    assert "Unnamed: 0" not in noise.columns and len(cells) == 114
    ignored = [r.getMessage() for r in caplog.records if "ignored columns" in r.getMessage()]
    assert ignored == [
        "ACTD ephys_features.csv: ignored columns: 1 unnamed (a written-out row index) ['Unnamed: 0']; "
        "1 not in the ACTD's ephys_features.csv ['comment']",
        "ACTD noise_spike_features.csv: ignored columns: 1 unnamed (a written-out row index) ['Unnamed: 0']",
    ]


def test_donor_ids_are_integers_and_a_missing_one_is_named(tmp_path):
    cells, _, _ = _validate(tmp_path / "good", actd_tables())
    assert cells["donor_id"].dtype == np.int64
    tables = actd_tables()
    tables["cells"][2]["donor__id"] = None
    with pytest.raises(ActdDumpError, match=r"cells\.json, column donor_id: 1 values are not integer ids"):
        _validate(tmp_path / "bad", tables)


def test_sampling_rates_join_the_cells_and_spikes_without_a_cell_leave_the_run(tmp_path, caplog):
    tables = actd_tables(with_spikes=True)
    cells, _, _ = _validate(tmp_path / "good", tables)
    assert cells["sampling_rate_khz"].dtype == "Int64"
    assert cells["sampling_rate_khz"].isna().sum() == 1  # the fixture's last cell has no spike
    assert set(cells["sampling_rate_khz"].dropna()) == {50, 200}
    tables["short_square_spikes"]["123_4"] = np.zeros(150, dtype="float32")
    with caplog.at_level(logging.WARNING):
        again, _, _ = _validate(tmp_path / "extra spike", tables)
    assert again.equals(cells)
    assert ("ACTD short_square_spikes.npz: 1 spikes are of specimens not among the cells "
            "and leave the run (e.g. specimen_id [123])") in caplog.text
