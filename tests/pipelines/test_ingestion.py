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


def test_feature_row_without_a_cell_is_rejected(tmp_path):
    tables = actd_tables()
    tables["cells"] = tables["cells"][1:]
    with pytest.raises(ActdDumpError, match=r"ephys_features\.csv: 1 specimen_id values have no cell"):
        _validate(tmp_path, tables)


def test_cell_without_precomputed_features_is_rejected(tmp_path):
    tables = actd_tables()
    tables["ephys_features"] = tables["ephys_features"].iloc[1:]
    with pytest.raises(ActdDumpError, match=r"1 cells of cells\.json have no row"):
        _validate(tmp_path, tables)


def test_donor_ids_are_integers_and_a_missing_one_is_named(tmp_path):
    cells, _, _ = _validate(tmp_path / "good", actd_tables())
    assert cells["donor_id"].dtype == np.int64
    tables = actd_tables()
    tables["cells"][2]["donor__id"] = None
    with pytest.raises(ActdDumpError, match=r"cells\.json, column donor_id: 1 values are not integer ids"):
        _validate(tmp_path / "bad", tables)


def test_sampling_rates_join_the_cells_and_spikes_without_a_cell_are_rejected(tmp_path):
    tables = actd_tables(with_spikes=True)
    cells, _, _ = _validate(tmp_path / "good", tables)
    assert cells["sampling_rate_khz"].dtype == "Int64"
    assert cells["sampling_rate_khz"].isna().sum() == 1  # the fixture's last cell has no spike
    assert set(cells["sampling_rate_khz"].dropna()) == {50, 200}
    tables["short_square_spikes"]["123_4"] = np.zeros(150, dtype="float32")
    with pytest.raises(ActdDumpError, match=r"short_square_spikes\.npz: 1 specimen ids have no cell in cells\.json \(e\.g\. \[123\]\)"):
        _validate(tmp_path / "bad", tables)
