"""Another ACTD release, or a subset of one, runs: tables that list different specimens,
an unnamed index column and columns the ACTD lacks are no corruption (docs/pipelines.md,
"ingestion")."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
import yaml

from neuron_types.io import ActdDumpError, read_actd_dump
from neuron_types.pipelines.ingestion.nodes import validate_actd_dump
from neuron_types.preflight import check_dump_for_run
from tests.actd_fixture import (
    CELLS_WITHOUT_FEATURES,
    DROPPED_FROM_CELLS,
    OLDER_RELEASE_EXTRA_COLUMNS,
    actd_tables,
    latest_version,
    older_release_tables,
    write_actd_dump,
)
from tests.params import typed_params

INGESTION = typed_params("ingestion")
FEATURE_ENGINEERING = typed_params("feature_engineering")


def _load(kedro_project, name: str) -> pd.DataFrame:
    folder = "05_model_input" if name.endswith("model_input") else "02_intermediate"
    return pd.read_parquet(latest_version(kedro_project.root / f"data/{folder}/{name}.parquet"))


@pytest.fixture
def kedro_logging(kedro_project):
    """Kedro's logging configuration applied before the test's caplog looks: the first
    project bootstrap of a test process applies it, which resets the handlers of the root
    and the project's loggers (caplog's among them)."""
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(kedro_project.root)


def test_an_older_release_runs_to_the_model_inputs_through_catalog_yaml_alone(kedro_project, kedro_logging, tmp_path,
                                                                               caplog, monkeypatch):
    dump = write_actd_dump(tmp_path / "actd_2017", older_release_tables(), index_column=True)
    env = kedro_project.root / "conf" / "older_release"
    env.mkdir()
    (env / "catalog.yml").write_text(yaml.safe_dump({"actd_dump": {
        "type": "neuron_types.io.ActdDumpDataset", "path": str(dump), "allow_download": False}}))
    monkeypatch.delenv("NEURON_TYPES_ACTD_DIR", raising=False)  # the YAML alone points at it
    with caplog.at_level(logging.INFO):
        kedro_project(pipeline_names=["ingestion", "feature_engineering"], env="older_release")

    # the default fixture's 114 cells, 3 gone from cells.json; the 4 cells without feature rows out
    raw_cells = _load(kedro_project, "raw_cells")
    assert len(raw_cells) == 111
    assert not raw_cells["specimen_id"].isin([*DROPPED_FROM_CELLS, *(c[0] for c in CELLS_WITHOUT_FEATURES)]).any()
    for table, extra in OLDER_RELEASE_EXTRA_COLUMNS.items():
        columns = _load(kedro_project, f"raw_{table}").columns
        assert extra not in columns and "Unnamed: 0" not in columns
    # cohort of the default fixture: 72 mouse (12 of them Pvalb) and 36 human cells; 3 Pvalb gone
    ei = _load(kedro_project, "ei_model_input")
    assert ei["species"].value_counts().to_dict() == {"mouse": 69, "human": 36}
    subclass = _load(kedro_project, "subclass_model_input")
    assert len(subclass) == 69 and (subclass["subclass"] == "Pvalb+").sum() == 9

    dropped = f"(e.g. specimen_id {list(DROPPED_FROM_CELLS)}); 111 stay"
    expected = [
        f"ACTD cells.json: 4 cells have no row in ephys_features.csv and leave the run (e.g. specimen_id "
        f"{[c[0] for c in CELLS_WITHOUT_FEATURES]}); 111 stay",
        f"ACTD ephys_features.csv: 3 rows have no cell in cells.json and leave the run {dropped}",
        f"ACTD noise_spike_features.csv: 3 rows have no cell in cells.json with a row in ephys_features.csv "
        f"and leave the run {dropped}",
        "ACTD ephys_features.csv: ignored columns: 1 unnamed (a written-out row index) ['Unnamed: 0']; "
        "1 not in the ACTD's ephys_features.csv ['qc_note']",
        "ACTD noise_spike_features.csv: ignored columns: 1 unnamed (a written-out row index) ['Unnamed: 0']; "
        "1 not in the ACTD's noise_spike_features.csv ['extractor_version']",
    ]
    messages = [record.getMessage() for record in caplog.records]
    assert {line: messages.count(line) for line in expected} == dict.fromkeys(expected, 1)


def test_noise_rows_of_specimens_absent_from_cells_json_leave_the_run(tmp_path, caplog):
    tables = actd_tables()
    tables["noise_spike_features"].loc[0, "specimen_id"] = 999
    with caplog.at_level(logging.WARNING):
        dump = read_actd_dump(write_actd_dump(tmp_path / "actd", tables), allow_download=False)
        cells, ephys, noise = validate_actd_dump(dump, INGESTION)
    assert (len(cells), len(ephys), len(noise)) == (114, 114, 113)
    assert [r.getMessage() for r in caplog.records] == [
        "ACTD noise_spike_features.csv: 1 rows have no cell in cells.json with a row in ephys_features.csv and "
        "leave the run (e.g. specimen_id [999]); 113 stay"]


def test_preflight_counts_cells_as_ingestion_keeps_them(tmp_path):
    """Human inhibitory cells without precomputed features leave the run, so a dann run is
    refused before the first node, as it would be after ingestion."""
    tables = actd_tables()
    human_aspiny = {r["specimen__id"] for r in tables["cells"]
                    if r["donor__species"] == "Homo Sapiens" and r["tag__dendrite_type"] == "aspiny"}
    ephys = tables["ephys_features"]
    tables["ephys_features"] = ephys[~ephys["specimen_id"].isin(human_aspiny)]
    dump = read_actd_dump(write_actd_dump(tmp_path / "actd", tables), allow_download=False)
    check_dump_for_run(dump, INGESTION, FEATURE_ENGINEERING, {"ingestion", "feature_engineering"})
    with pytest.raises(ActdDumpError, match=r"cells\.json: no human inhibitory cells with noise-sweep features"):
        check_dump_for_run(dump, INGESTION, FEATURE_ENGINEERING, {"ingestion", "feature_engineering", "dann"})


def test_a_configured_feature_that_ingestion_ignores_is_refused_before_the_run(tmp_path):
    tables = actd_tables()
    tables["ephys_features"]["spike_count"] = 3.0
    dump = read_actd_dump(write_actd_dump(tmp_path / "actd", tables), allow_download=False)
    features = FEATURE_ENGINEERING.features.model_dump()
    features["precomputed"] = [*features["precomputed"], "spike_count"]
    feature_engineering = typed_params("feature_engineering", features=features)
    with pytest.raises(ActdDumpError, match=r"feature_engineering\.features\.precomputed: \['spike_count'\] are "
                                            r"not columns of the ACTD's ephys_features\.csv, which ingestion ignores"):
        check_dump_for_run(dump, INGESTION, feature_engineering, {"feature_engineering"})
