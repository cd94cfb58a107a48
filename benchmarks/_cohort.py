"""The real cohort's model inputs, built in-process by the ingestion and feature_engineering
nodes from the ACTD dump (parameters from conf/base): for benchmark scripts."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def parameters() -> dict:
    params: dict = {}
    for file in sorted((ROOT / "conf" / "base").glob("parameters_*.yml")):
        params.update(yaml.safe_load(file.read_text()) or {})
    return params


def actd_dir() -> Path:
    for candidate in (os.environ.get("NEURON_TYPES_ACTD_DIR"), ROOT.parent / "shared" / "actd", "/work/shared/actd"):
        if candidate and (Path(candidate) / "manifest.json").is_file():
            return Path(candidate)
    raise FileNotFoundError("no ACTD dump: set NEURON_TYPES_ACTD_DIR")


def model_inputs():
    """``(ei_model_input, ei_splits, subclass_model_input, subclass_splits, feature_names, params)``."""
    from neuron_types.io import ActdDumpDataset
    from neuron_types.pipelines.feature_engineering import nodes as fe
    from neuron_types.pipelines.ingestion.nodes import validate_actd_dump

    params = parameters()
    dump = ActdDumpDataset(path=str(actd_dir()), allow_download=False).load()
    ingestion = params["ingestion"]
    cells, ephys, noise = validate_actd_dump(dump, ingestion["species_names"], ingestion["ephys_boolean_columns"])
    cohort = fe.build_cohort(cells, noise, params["cohort"])
    features = fe.assemble_features(cohort, ephys, noise, params["features"])
    ei = fe.build_ei_model_input(features, params["features"])
    subclass = fe.build_subclass_model_input(features, params["features"], params["subclass_names"])
    ei_splits = fe.split_cells(ei, params["splits"], params["splits"]["ei_strata"])
    subclass_splits = fe.split_cells(subclass, params["splits"], params["splits"]["subclass_strata"])
    return ei, ei_splits, subclass, subclass_splits, fe.feature_names(params["features"]), params
