"""The committed conf/base parameters, raw and typed, for tests that call nodes directly."""

from __future__ import annotations

import copy
from functools import cache

import yaml

from neuron_types.config import SECTIONS
from tests.actd_fixture import PROJECT

FILES = {key: section.conf_file for key, section in SECTIONS.items()}


@cache
def _raw(key: str) -> dict:
    return yaml.safe_load((PROJECT / "conf" / "base" / FILES[key]).read_text())[key]


def raw_params(key: str) -> dict:
    """A fresh copy of conf/base's section ``key`` (``dann``, ``feature_engineering``, ...)."""
    return copy.deepcopy(_raw(key))


def typed_params(key: str, **changes):
    """Section ``key`` of conf/base as its pydantic model, with top-level keys replaced."""
    return SECTIONS[key].model_validate({**raw_params(key), **changes})


def _listed(value):
    return [_listed(v) for v in value] if isinstance(value, tuple | list) else value


def _sub(model, base: dict, changes: dict):
    return model.model_validate({**base, **{k: _listed(v) for k, v in changes.items()}})


def dann_network(**changes):
    """conf/base's ``dann.network`` with ``changes``, as the model code takes it."""
    from neuron_types.config import DannNetwork

    return _sub(DannNetwork, raw_params("dann")["network"], changes)


def dann_training(**changes):
    from neuron_types.config import DannTrainingConfig

    return _sub(DannTrainingConfig, raw_params("dann")["training"], changes)


def lspin_training(**changes):
    from neuron_types.config import LspinTrainingConfig

    return _sub(LspinTrainingConfig, raw_params("lspin")["lspin"]["training"], changes)


def lspin_model(**changes):
    """conf/base's ``lspin.lspin.model`` with ``changes``."""
    from neuron_types.config import LspinModelConfig

    return _sub(LspinModelConfig, raw_params("lspin")["lspin"]["model"], changes)


def mlp_model(**changes):
    from neuron_types.config import MlpModelConfig

    return _sub(MlpModelConfig, raw_params("lspin")["mlp"]["model"], changes)
