"""The base of every parameters section and the one-line messages of a failed check."""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from neuron_types.errors import ParameterError


def _distinct(items: list) -> list:
    if len(set(map(repr, items))) != len(items):
        raise ValueError("items must be distinct")
    return items


# Marks a list whose items must be distinct (read by the messages, below).
DISTINCT = AfterValidator(_distinct)
Count = Annotated[int, Field(ge=1)]
Units = Annotated[list[Count], Field(min_length=1)]
Fraction = Annotated[float, Field(gt=0, lt=1)]
Names = Annotated[list[str], Field(min_length=1), DISTINCT]


def of_run(entries: dict, study: bool) -> dict:
    """The entries of ``entries`` a run trains: every one in the full study
    (``kedro run --pipeline=study``), those not marked ``study: true`` in the default run."""
    return {name: entry for name, entry in entries.items() if study or not entry.study}


class Section(BaseModel):
    """Strict (``epochs: ten`` and ``dropout: "0.2"`` are errors), closed (unknown keys are
    errors) and frozen. A top-level section names its key and file for the messages."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    key: ClassVar[str] = ""
    conf_file: ClassVar[str] = ""

    @classmethod
    def model_validate(cls, obj: Any, *args, **kwargs):
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as error:
            raise ParameterError(parameter_problems(cls, error)) from None


# --- messages ----------------------------------------------------------------------------
def did_you_mean(word: str, options) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def parameter_problems(model: type[Section], error: ValidationError) -> str:
    """One line for every problem pydantic found, each naming the parameter's path, the
    value given and what the model expects there."""
    problems = [_problem(model, item) for item in error.errors(include_url=False)]
    prefix = f"{model.conf_file}, " if model.conf_file else ""
    if len(problems) == 1:
        return prefix + problems[0]
    return f"{prefix}{len(problems)} parameter problems: " + "; ".join(problems)


def _path(model: type[Section], loc: tuple) -> str:
    path = model.key
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _problem(model: type[Section], item: dict) -> str:
    loc = tuple(item["loc"])
    kind = item["type"]
    if kind in ("value_error", "assertion_error") and "error" in item.get("ctx", {}):
        message = str(item["ctx"]["error"])
        if message == "items must be distinct":
            return f"{_path(model, loc)}: got {_describe_value(item['input'])}; expected distinct items"
        return f"{_path(model, loc)}.{message}" if _path(model, loc) else message
    parent, annotation = _locate(model, loc)
    if kind == "extra_forbidden":
        known = sorted(parent.model_fields) if _is_model(parent) else []
        return (f"{_path(model, loc)}: unknown key{did_you_mean(loc[-1], known)}; expected one of {known}")
    if kind == "missing":
        return f"{_path(model, loc)}: missing; expected {describe(annotation)}"
    return f"{_path(model, loc)}: got {_describe_value(item['input'])}; expected {describe(annotation)}"


def _is_model(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _strip(annotation):
    """``(bare type, constraints)`` of an ``Annotated`` type; optional unions unwrapped."""
    metadata = []
    while True:
        if get_origin(annotation) is Annotated:
            annotation, *extra = get_args(annotation)
            metadata.extend(extra)
        elif get_origin(annotation) in (Union, types.UnionType):
            options = [a for a in get_args(annotation) if a is not type(None)]
            annotation = options[0] if len(options) == 1 else annotation
            if len(options) != 1:
                return annotation, metadata
        else:
            return annotation, metadata


def _flat_metadata(metadata) -> list:
    flat = []
    for item in metadata:
        inner = getattr(item, "metadata", None)
        flat.extend(inner if isinstance(inner, list) else [item])
    return flat


def _locate(model: type[Section], loc: tuple):
    """The model class holding the last key of ``loc``, and the annotation found at ``loc``."""
    parent, annotation = model, model
    for part in loc:
        bare, _ = _strip(annotation)
        if _is_model(bare):
            parent = bare
            if part not in bare.model_fields:
                return parent, Any
            field = bare.model_fields[part]
            annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        elif get_origin(bare) in (dict, list):
            args = get_args(bare)
            annotation = args[-1] if args else Any
        else:
            return parent, annotation
    return parent, annotation


def describe(annotation) -> str:
    """What a value of ``annotation`` is, in words: ``a number > 0 and < 1``."""
    bare, metadata = _strip(annotation)
    constraints = _flat_metadata(metadata)
    bounds = [f"{symbol} {getattr(c, attr)}" for c in constraints
              for kind, symbol, attr in ((annotated_types.Gt, ">", "gt"), (annotated_types.Ge, ">=", "ge"),
                                         (annotated_types.Lt, "<", "lt"), (annotated_types.Le, "<=", "le"))
              if isinstance(c, kind)]
    if _is_model(bare):
        return f"a mapping with keys {sorted(bare.model_fields)}"
    if get_origin(bare) is Literal:
        return f"one of {list(get_args(bare))}"
    origin = get_origin(bare)
    if origin in (list, dict):
        lengths = [c for c in constraints if isinstance(c, annotated_types.MinLen | annotated_types.MaxLen)]
        size = ""
        low = next((c.min_length for c in lengths if isinstance(c, annotated_types.MinLen)), 0)
        high = next((c.max_length for c in lengths if isinstance(c, annotated_types.MaxLen)), None)
        if high is not None and high == low:
            size = f" of {low} "
        elif low == 1:
            size = " non-empty "
        elif low > 1:
            size = f" of at least {low} "
        noun = "list" if origin is list else "mapping"
        distinct = " of distinct items" if origin is list and any(m is DISTINCT for m in metadata) else ""
        head = f"a{'n' if size.strip().startswith(('o', 'a')) else ''}{size or ' '}{noun}{distinct}".replace("  ", " ")
        item = get_args(bare)[-1] if get_args(bare) else Any
        if item is Any:
            return head
        return f"{head}, each {'value ' if origin is dict else ''}{describe(item)}"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    text = names.get(bare, "a value")
    return f"{text} {' and '.join(bounds)}" if bounds else text


def _describe_value(value) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({type(value).__name__})"

