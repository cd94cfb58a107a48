"""Contract 8: with ``CI`` set, a test that needs the real dump, a browser or the docs
tools fails instead of skipping; no test skips through a bare ``pytest.skip`` or
``importorskip`` that would bypass that, and none hides behind a "does not exist yet" guard."""

from __future__ import annotations

import re

import pytest

from tests.actd_fixture import PROJECT
from tests.conftest import import_or_skip_unless_ci, skip_unless_ci

HELPERS = PROJECT / "tests" / "conftest.py"


def _outcome(call, *args):
    """The exception a helper raises: a skip inside ``pytest.raises`` would skip this test."""
    try:
        call(*args)
    except BaseException as raised:  # noqa: BLE001 - pytest's outcomes are BaseExceptions
        return type(raised)
    return None


def test_a_missing_requirement_fails_in_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert _outcome(skip_unless_ci, "no real ACTD dump") is pytest.fail.Exception
    assert _outcome(import_or_skip_unless_ci, "a_module_that_is_not_installed") is pytest.fail.Exception
    monkeypatch.delenv("CI")
    assert _outcome(skip_unless_ci, "no real ACTD dump") is pytest.skip.Exception
    assert _outcome(import_or_skip_unless_ci, "a_module_that_is_not_installed") is pytest.skip.Exception


def test_no_test_skips_around_the_ci_helpers():
    bare = re.compile(r"pytest\.(skip\(|importorskip\()|mark\.skip|does not exist yet")
    offenders = [f"{path.relative_to(PROJECT)}:{number}"
                 for path in sorted((PROJECT / "tests").rglob("*.py")) if path not in (HELPERS, __file__)
                 and path.name != "test_no_silent_skips.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if bare.search(line)]
    assert not offenders, f"skips that CI would not turn into failures: {offenders}"
