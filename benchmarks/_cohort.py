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
    """``(ei_model_input, ei_splits, subclass_model_input, subclass_splits, feature_names, params)``;
    ``params`` maps each section to its typed model (``neuron_types.config.SECTIONS``)."""
    from neuron_types.config import SECTIONS
    from neuron_types.io import ActdDumpDataset
    from neuron_types.pipelines.feature_engineering import nodes as fe
    from neuron_types.pipelines.ingestion.nodes import validate_actd_dump

    raw = parameters()
    params = {key: section.model_validate(raw[key]) for key, section in SECTIONS.items() if key in raw}
    dump = ActdDumpDataset(path=str(actd_dir()), allow_download=False).load()
    cells, ephys, noise = validate_actd_dump(dump, params["ingestion"])
    settings = params["feature_engineering"]
    cohort = fe.build_cohort(cells, noise, settings)
    features = fe.assemble_features(cohort, ephys, noise, settings)
    ei = fe.build_ei_model_input(features, settings)
    subclass = fe.build_subclass_model_input(features, settings)
    feature_names, _, _ = fe.describe_model_inputs(settings)
    return ei, fe.split_ei_cells(ei, settings), subclass, fe.split_subclass_cells(subclass, settings), feature_names, params
