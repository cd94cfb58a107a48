"""Checks on parameters before a run spends any time: names, types, choices and ranges.

A wrong parameter should stop a run at once with one message that names the file and
key, the value given and what was expected (``parameters_dann.yml, dann.training.epochs:
got 'ten' (str); expected an integer >= 1``), not deep inside a training loop with a
``TypeError`` about ``'>=' not supported``. Kedro-free: the project hook
(:mod:`neuron_types.hooks`) calls :func:`check_parameters` on every run, and a node or a
notebook can call :func:`require` directly.

A schema is a mapping ``key -> spec``; a spec is a :class:`Spec` (see the helpers
:func:`integer`, :func:`number`, :func:`text`, :func:`boolean`, :func:`one_of`,
:func:`list_of`, :func:`mapping_of`, :func:`anything`) or a nested schema mapping. The
project's own constraints live in :mod:`neuron_types.parameter_schemas`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class ParameterError(ValueError):
    """A parameter with a wrong name, type or value; the message says which and why."""


@dataclass(frozen=True)
class Spec:
    """What one parameter value must be. ``check`` returns a problem or None."""

    expected: str
    check: Callable[[Any], str | None]
    optional: bool = False
    items: Spec | Mapping | None = field(default=None)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _bounds(min_value, max_value, min_open: bool, max_open: bool) -> str:
    parts = []
    if min_value is not None:
        parts.append(f"{'>' if min_open else '>='} {min_value}")
    if max_value is not None:
        parts.append(f"{'<' if max_open else '<='} {max_value}")
    return " and ".join(parts)


def _ranged(kind: str, is_kind, min_value, max_value, min_open, max_open, optional) -> Spec:
    bounds = _bounds(min_value, max_value, min_open, max_open)
    expected = f"{kind} {bounds}".strip()

    def check(value):
        if not is_kind(value):
            return expected
        too_low = min_value is not None and (value <= min_value if min_open else value < min_value)
        too_high = max_value is not None and (value >= max_value if max_open else value > max_value)
        return expected if too_low or too_high else None

    return Spec(expected, check, optional)


def integer(min: int | None = None, max: int | None = None, optional: bool = False) -> Spec:
    """An int (not a bool), within ``[min, max]`` when given."""
    return _ranged("an integer", _is_int, min, max, False, False, optional)


def number(
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
    optional: bool = False,
) -> Spec:
    """A finite int or float (not a bool); ``min_open``/``max_open`` exclude the bound."""
    return _ranged("a number", _is_number, min, max, min_open, max_open, optional)


def text(optional: bool = False) -> Spec:
    return Spec("a string", lambda v: None if isinstance(v, str) else "a string", optional)


def boolean(optional: bool = False) -> Spec:
    return Spec("true or false", lambda v: None if isinstance(v, bool) else "true or false", optional)


def anything() -> Spec:
    return Spec("any value", lambda v: None, optional=True)


def one_of(*choices, optional: bool = False) -> Spec:
    """One of ``choices`` (compared with ==, so ``1`` and ``True`` are told apart by type)."""
    expected = f"one of {list(choices)}"

    def check(value):
        same = any(value == c and type(value) is type(c) for c in choices)
        return None if same else expected

    return Spec(expected, check, optional)


def list_of(items: Spec | Mapping, min_length: int = 0, unique: bool = False, optional: bool = False) -> Spec:
    """A list (YAML sequence) whose every item meets ``items``."""
    size = "a non-empty list" if min_length == 1 else "a list"
    at_least = f"at least {min_length} " if min_length > 1 else ""
    each = f", each {items.expected}" if isinstance(items, Spec) and items.expected != "any value" else ""
    expected = f"{size} of {at_least}{'distinct ' if unique else ''}items{each}"

    def check(value):
        if not isinstance(value, list | tuple) or len(value) < min_length:
            return expected
        if unique and len({repr(v) for v in value}) != len(value):
            return expected
        return None

    return Spec(expected, check, optional, items=items)


def mapping_of(values: Spec | Mapping, min_length: int = 0, optional: bool = False) -> Spec:
    """A mapping with keys of the user's choosing (names of models, say), each value
    meeting ``values``."""
    expected = f"a mapping{' of at least ' + str(min_length) + ' entries' if min_length else ''}"

    def check(value):
        return None if isinstance(value, Mapping) and len(value) >= min_length else expected

    return Spec(expected, check, optional, items=values)


def reference(to: str) -> Callable[[Mapping], list[str]]:
    """A cross-check for :func:`check_parameters`: the value at a dotted path must be a key
    of the mapping at ``to`` (a model named elsewhere must be defined)."""

    def check(params: Mapping, path: str) -> list[str]:
        value, names = _at(params, path), _at(params, to)
        if value is _ABSENT or not isinstance(names, Mapping) or value in names:
            return []
        hint = _did_you_mean(str(value), [str(n) for n in names])
        return [f"{path}: got {_describe(value)}{hint}; expected one of the names in {to}: {sorted(names)}"]

    return check


_ABSENT = object()


def _at(tree, path: str):
    for key in path.split("."):
        if not isinstance(tree, Mapping) or key not in tree:
            return _ABSENT
        tree = tree[key]
    return tree


def _describe(value) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({type(value).__name__})"


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_key_problem(path: str, key: str, allowed: Iterable[str], what: str = "key") -> str:
    allowed = sorted(allowed)
    return f"{path}: unknown {what}{_did_you_mean(key, allowed)}; expected one of {allowed}"


def _problems(value, spec, path: str) -> list[str]:
    if isinstance(spec, Mapping):
        if not isinstance(value, Mapping):
            return [f"{path}: got {_describe(value)}; expected a mapping with keys {sorted(spec)}"]
        problems = []
        for key in value:
            if key not in spec:
                problems.append(_unknown_key_problem(f"{path}.{key}", str(key), map(str, spec)))
        for key, sub_spec in spec.items():
            if key not in value:
                if not (isinstance(sub_spec, Spec) and sub_spec.optional):
                    problems.append(f"{path}.{key}: missing; expected {_expected(sub_spec)}")
                continue
            problems.extend(_problems(value[key], sub_spec, f"{path}.{key}"))
        return problems
    if value is None:
        return [] if spec.optional else [f"{path}: got None (empty in YAML); expected {spec.expected}"]
    problem = spec.check(value)
    if problem:
        return [f"{path}: got {_describe(value)}; expected {problem}"]
    if spec.items is not None and isinstance(value, Mapping):
        return [p for key, item in value.items() for p in _problems(item, spec.items, f"{path}.{key}")]
    if spec.items is not None:
        return [p for i, item in enumerate(value) for p in _problems(item, spec.items, f"{path}[{i}]")]
    return []


def _expected(spec) -> str:
    return f"a mapping with keys {sorted(spec)}" if isinstance(spec, Mapping) else spec.expected


def require(params: Any, schema: Spec | Mapping, where: str) -> Any:
    """Returns ``params`` unchanged when it meets ``schema``; otherwise raises one
    :class:`ParameterError` listing every problem.

    ``where`` names the file and key path, for example ``"parameters_dann.yml: dann"``;
    each problem reads ``<where>.<key>: got <value> (<type>); expected <what>``, and an
    unknown key suggests the closest known one.
    """
    file, _, path = where.rpartition(": ")
    problems = _problems(params, schema, path or where)
    if problems:
        prefix = f"{file}, " if file else ""
        if len(problems) == 1:
            raise ParameterError(f"{prefix}{problems[0]}")
        raise ParameterError(
            f"{prefix}{len(problems)} parameter problems: " + "; ".join(problems)
        )
    return params


def schema_from_defaults(defaults: Any) -> Spec | Mapping:
    """A schema that accepts values shaped like ``defaults`` (the conf/base values): the
    same keys, numbers for numbers, strings for strings, lists of the same kind of item.

    ``None`` and empty lists accept anything, since there is nothing to infer from.
    """
    if isinstance(defaults, Mapping):
        return {key: schema_from_defaults(value) for key, value in defaults.items()}
    if isinstance(defaults, bool):
        return boolean()
    if _is_int(defaults) or isinstance(defaults, float):
        return number()
    if isinstance(defaults, str):
        return text()
    if isinstance(defaults, list | tuple):
        if not defaults:
            return list_of(anything())
        first = defaults[0]
        if isinstance(first, Mapping | list | tuple):  # records may differ in their keys
            return list_of(anything())
        same_kind = all(isinstance(item, type(first)) or (_is_number(item) and _is_number(first))
                        for item in defaults)
        return list_of(schema_from_defaults(first) if same_kind else anything())
    return anything()


def refine(inferred: Spec | Mapping, explicit: Spec | Mapping | None) -> Spec | Mapping:
    """``inferred`` (from the defaults) with the ``explicit`` constraints laid over it.

    Keys come from ``inferred`` alone: an explicit constraint on a key the defaults no
    longer have is dropped rather than demanded, so the defaults stay the one list of
    parameter names.
    """
    if explicit is None:
        return inferred
    if isinstance(inferred, Mapping) and isinstance(explicit, Mapping):
        return {key: refine(spec, explicit.get(key)) for key, spec in inferred.items()}
    if isinstance(explicit, Mapping):  # the defaults are not a mapping here: trust them
        return inferred
    return explicit  # an explicit leaf spec wins, even over a mapping default


def check_parameters(
    parameters: Mapping[str, Any],
    defaults: Mapping[str, Any],
    files: Mapping[str, str],
    keys: Iterable[str] | None = None,
    explicit: Mapping[str, Mapping] | None = None,
    runtime_keys: Iterable[str] = (),
    references: Mapping[str, Mapping[str, Callable]] | None = None,
) -> None:
    """Checks the run's ``parameters`` (conf/base merged with the run's environment and
    ``--params``) against ``defaults`` (conf/base alone) refined by ``explicit``.

    ``files`` maps each top-level key to the conf/base file that defines it, for the
    message; ``keys`` limits the check to the top-level keys a pipeline reads (all of
    ``defaults`` when None). Top-level keys that conf/base does not define are not
    checked here (Kedro fails on a missing ``params:`` input by itself), except those
    given on the command line (``runtime_keys``, from ``--params``), which can only be typos.
    ``explicit`` and ``references`` default to :mod:`neuron_types.parameter_schemas`.
    """
    if explicit is None or references is None:
        from neuron_types import parameter_schemas

        explicit = parameter_schemas.EXPLICIT_SCHEMAS if explicit is None else explicit
        references = parameter_schemas.REFERENCES if references is None else references
    problems = [
        _unknown_key_problem(f"--params {key}", str(key), map(str, defaults), "parameter")
        for key in runtime_keys
        if key not in defaults
    ]
    for key in keys if keys is not None else defaults:
        if key not in defaults or key not in parameters:
            continue
        schema = refine(schema_from_defaults(defaults[key]), explicit.get(key))
        file = files.get(key, "parameters")
        try:
            require(parameters[key], schema, f"{file}: {key}")
        except ParameterError as error:
            problems.append(str(error))
            continue
        for path, check in (references.get(key) or {}).items():
            problems.extend(f"{file}, {problem}" for problem in check({key: parameters[key]}, path))
    if problems:
        message = " | ".join(problems)
        if ": missing; expected" in message:
            message += (
                " (keys conf/base defines are missing: a conf/<env> parameters file that defines a"
                " top-level key replaces all of it, and so does a nested --params while conf/<env>"
                " has any parameters file; repeat the other keys there, or set"
                " merge_strategy {'parameters': 'soft'} in CONFIG_LOADER_ARGS)"
            )
        raise ParameterError(message)


def check_section(key: str, params: Mapping[str, Any], file: str) -> Mapping[str, Any]:
    """One top-level parameter key checked where conf/base is not at hand (a node, a
    notebook): the constraints and references of :mod:`neuron_types.parameter_schemas`
    (types, ranges, choices, model names). Unknown or missing keys need conf/base and are
    the project hook's job. Returns ``params``; raises :class:`ParameterError`."""
    check_parameters({key: params}, {key: params}, {key: file}, keys=[key])
    return params
