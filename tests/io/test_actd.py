import json

import pandas as pd
import pytest

from neuron_types.io import ActdDumpDataset, ActdDumpError, read_actd_dump
from neuron_types.io import actd as actd_module
from tests.actd_fixture import actd_tables, write_actd_dump


def test_reads_a_dump_through_cell_types_cache(tiny_actd):
    tables = read_actd_dump(tiny_actd, allow_download=False)
    cells = tables["cells"]
    # get_cells() renames the API fields: species, dendrite_type, transgenic_line, ...
    assert {"id", "species", "dendrite_type", "transgenic_line", "reporter_status"} <= set(cells.columns)
    assert len(cells) == len(tables["ephys_features"]) == len(tables["noise_spike_features"])
    assert set(cells["species"]) == {"Mus musculus", "Homo Sapiens"}


def test_dataset_loads_and_refuses_to_write(tiny_actd):
    dataset = ActdDumpDataset(path=str(tiny_actd), allow_download=False)
    assert dataset.exists()
    assert set(dataset.load()) == {"cells", "ephys_features", "noise_spike_features", "sampling_rates"}
    with pytest.raises(Exception, match="read-only"):
        dataset.save({"cells": pd.DataFrame()})


@pytest.mark.parametrize("missing", ["cells.json", "ephys_features.csv"])
def test_missing_required_file_is_named(tiny_actd, missing):
    (tiny_actd / missing).unlink()
    with pytest.raises(ActdDumpError, match=f"required file {missing} is missing"):
        read_actd_dump(tiny_actd)


def test_truncated_cells_json_names_the_file(tiny_actd):
    text = (tiny_actd / "cells.json").read_text()
    (tiny_actd / "cells.json").write_text(text[: len(text) // 2])
    with pytest.raises(ActdDumpError, match=r"cells\.json: not valid JSON"):
        read_actd_dump(tiny_actd)


def test_cells_json_missing_a_field_names_it(tmp_path):
    tables = actd_tables()
    for record in tables["cells"]:
        del record["tag__dendrite_type"]
    write_actd_dump(tmp_path, tables)
    with pytest.raises(ActdDumpError, match="tag__dendrite_type"):
        read_actd_dump(tmp_path)


def test_empty_ephys_features_names_the_file(tiny_actd):
    (tiny_actd / "ephys_features.csv").write_text("")
    with pytest.raises(ActdDumpError, match=r"ephys_features\.csv: the file is empty"):
        read_actd_dump(tiny_actd)


def test_missing_noise_table_gives_empty_table(tiny_actd):
    (tiny_actd / "noise_spike_features.csv").unlink()
    tables = read_actd_dump(tiny_actd)
    assert tables["noise_spike_features"].empty
    assert "specimen_id" in tables["noise_spike_features"].columns


def test_no_dump_and_no_download_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ActdDumpError, match="NEURON_TYPES_ACTD_DIR"):
        read_actd_dump(tmp_path / "nowhere", allow_download=False)


def test_failed_download_says_what_was_tried(tmp_path, monkeypatch):
    class Offline:
        def get_cells(self):
            raise ConnectionError("Allen API unreachable")

    monkeypatch.setattr(actd_module, "_cache", lambda manifest: Offline())
    with pytest.raises(ActdDumpError) as error:
        read_actd_dump(tmp_path / "nowhere")
    message = str(error.value)
    assert "downloading it from the Allen API through allensdk failed" in message
    assert "ConnectionError" in message and "NEURON_TYPES_ACTD_DIR" in message


def test_download_goes_through_cell_types_cache(tmp_path, monkeypatch):
    """With no dump, CellTypesCache is asked for cells and features, then read back."""
    source = write_actd_dump(tmp_path / "allen")
    calls = []
    real_cache = actd_module._cache

    def fake_download_cache(manifest):
        calls.append(manifest)
        if not manifest.is_file():  # what allensdk does on a first download
            for name in ("manifest.json", "cells.json", "ephys_features.csv"):
                (manifest.parent / name).write_bytes((source / name).read_bytes())
        return real_cache(manifest)

    monkeypatch.setattr(actd_module, "_cache", fake_download_cache)
    tables = read_actd_dump(tmp_path / "downloaded")
    assert len(tables["cells"]) == len(json.loads((source / "cells.json").read_text()))
    assert isinstance(tables["ephys_features"], pd.DataFrame) and calls


def _tree_hash(folder) -> dict:
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("with_manifest", [True, False])
def test_a_dump_read_offline_is_left_byte_identical(tiny_actd, with_manifest, kedro_project):
    """The input folder is never written, with or without its manifest (allensdk would
    write one into the folder; the reader builds it elsewhere)."""
    if not with_manifest:
        (tiny_actd / "manifest.json").unlink()
    before = _tree_hash(tiny_actd)
    kedro_project(pipeline_names=["ingestion", "feature_engineering"], actd_dir=tiny_actd)
    assert _tree_hash(tiny_actd) == before
    assert (tiny_actd / "manifest.json").exists() is with_manifest
