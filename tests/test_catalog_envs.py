"""Swapping storage through catalog YAML alone: the `csv` Kedro environment (conf/csv/)
stores the raw, primary, feature and model-input tables as CSV, and the pipelines give
the same tables as with the parquet catalog of conf/base."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.actd_fixture import latest_version

# dataset -> file stem under data/, in both environments
TABLES = {
    "raw_cells": "02_intermediate/raw_cells",
    "raw_ephys_features": "02_intermediate/raw_ephys_features",
    "raw_noise_spike_features": "02_intermediate/raw_noise_spike_features",
    "feature_engineering.cohort": "03_primary/cohort",
    "feature_engineering.cell_features": "04_feature/cell_features",
    "ei_model_input": "05_model_input/ei_model_input",
    "subclass_model_input": "05_model_input/subclass_model_input",
    "ei_splits": "05_model_input/ei_splits",
    "subclass_splits": "05_model_input/subclass_splits",
}


def _catalog(root, env):
    from kedro.framework.session import KedroSession

    with KedroSession.create(project_path=root, env=env) as session:
        return session.load_context().catalog


@pytest.fixture
def both_runs(kedro_project, tiny_actd):
    """The data pipelines run once with conf/base (parquet) and once with --env csv."""
    kedro_project(pipeline_names=["ingestion", "feature_engineering"], actd_dir=tiny_actd)
    kedro_project(pipeline_names=["ingestion", "feature_engineering"], actd_dir=tiny_actd, env="csv")
    return kedro_project.root


def test_csv_env_writes_csv_tables_equal_to_the_parquet_run(both_runs):
    data = both_runs / "data"
    csv_catalog = _catalog(both_runs, "csv")
    for dataset, stem in TABLES.items():
        parquet, csv = latest_version(data / f"{stem}.parquet"), latest_version(data / f"{stem}.csv")
        assert type(csv_catalog.get(dataset)).__name__ == "CSVDataset", dataset
        header = csv.read_text().partition("\n")[0].split(",")
        assert header[0] != "" and "specimen_id" in header, f"{csv}: expected no index column: {header[:4]}"
        from_parquet = pd.read_parquet(parquet)
        from_csv = csv_catalog.load(dataset)
        # CSV keeps no dtypes (text comes back as object, <NA> as NaN): compare values in
        # pandas' nullable dtypes on both sides, floats bit for bit
        pd.testing.assert_frame_equal(from_csv.convert_dtypes(), from_parquet.convert_dtypes(),
                                      check_exact=True, obj=dataset)


def test_csv_env_keeps_the_model_input_contract(both_runs):
    """What the model pipelines rely on survives CSV: integer ids and labels, float
    features, the species and role labels."""
    catalog = _catalog(both_runs, "csv")
    features = catalog.load("feature_names")
    ei = catalog.load("ei_model_input")
    assert ei[["specimen_id", "domain", "excitatory"]].dtypes.eq("int64").all()
    assert ei[features].dtypes.eq("float64").all() and not ei[features].isna().any().any()
    assert set(ei["species"]) == {"mouse", "human"}
    splits = catalog.load("ei_splits")
    assert set(splits["role"]) == {"train", "validation", "test"}
    assert splits["specimen_id"].isin(ei["specimen_id"]).all()
    subclass = catalog.load("subclass_model_input")
    assert set(subclass["subclass"]) <= set(catalog.load("subclass_names"))


def test_base_catalog_is_untouched_by_the_csv_env(kedro_project):
    base = _catalog(kedro_project.root, None)
    for dataset in TABLES:
        assert type(base.get(dataset)).__name__ == "ParquetDataset", dataset


def test_dump_folder_and_outputs_move_by_yaml_alone(kedro_project, tiny_actd, tmp_path, monkeypatch):
    """docs/swapping_datasets.md: conf/local/catalog.yml points the dump at another folder
    (no NEURON_TYPES_ACTD_DIR) and stores the model inputs elsewhere."""
    monkeypatch.delenv("NEURON_TYPES_ACTD_DIR", raising=False)
    elsewhere = tmp_path / "elsewhere"
    (kedro_project.root / "conf" / "local" / "catalog.yml").write_text(f"""
actd_dump:
  type: neuron_types.io.ActdDumpDataset
  path: {tiny_actd}
  allow_download: false

"{{task}}_model_input":
  type: pandas.ParquetDataset
  filepath: {elsewhere}/model_input/{{task}}_model_input.parquet
""")
    kedro_project(pipeline_names=["ingestion", "feature_engineering"])
    assert sorted(p.name for p in (elsewhere / "model_input").iterdir()) == [
        "ei_every_cell_model_input.parquet", "ei_model_input.parquet", "subclass_every_cell_model_input.parquet",
        "subclass_model_input.parquet"]
    assert not (kedro_project.root / "data" / "05_model_input" / "ei_model_input.parquet").exists()
    assert latest_version(kedro_project.root / "data" / "05_model_input" / "ei_splits.parquet").is_file()
