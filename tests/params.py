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
