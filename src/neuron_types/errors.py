"""The errors a user can fix: bad input files, bad parameters.

Their messages already name the file or parameter, the column or key, what was found and
what was expected, so the command line shows them as one line without a traceback
(:mod:`neuron_types.runs`). Every other exception is a bug and keeps its traceback. The
distinction is the exception's type, never where it was raised. Kedro-free.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: a file, a table, a parameter. The message says which, and what was expected."""


class ParameterError(InputError):
    """A parameter with a wrong name, type or value."""


TRACEBACK_VARIABLE = "NEURON_TYPES_TRACEBACK"


def root_cause(error: BaseException) -> BaseException:
    """The error a node or dataset raised, unwrapped from Kedro's ``DatasetError``s."""
    from kedro.io import DatasetError

    seen = set()
    while isinstance(error, DatasetError) and error.__cause__ is not None and id(error) not in seen:
        seen.add(id(error))
        error = error.__cause__
    return error


def _kedro_parameter_problems(error: BaseException) -> list[str] | None:
    """The problems of Kedro's ``ParameterValidationError`` (one ``- Parameter 'key': ...``
    line each, wrapping this project's :class:`ParameterError` messages), or None for
    any other error."""
    from kedro.validation.exceptions import ParameterValidationError

    if not isinstance(error, ParameterValidationError):
        return None
    problems = []
    for line in str(error).splitlines():
        if not line.startswith("- "):
            continue
        _, _, message = line.partition(": ")
        wrapper = message.find("for parameter '")
        if message.startswith("Failed to instantiate") and wrapper >= 0:
            message = message[message.index("': ", wrapper) + 3:]
        problems.append(message)
    return problems


def is_input_error(error: BaseException) -> bool:
    """Bad input or parameters, explained by the message alone (decided by type)."""
    cause = root_cause(error)
    return isinstance(cause, InputError) or _kedro_parameter_problems(cause) is not None


def one_line(error: BaseException) -> str:
    """``neuron-types: <message>`` on a single line; a bug's line also names its type."""
    cause = root_cause(error)
    problems = _kedro_parameter_problems(cause)
    message = " | ".join(problems) if problems else str(cause)
    message = " ".join(message.split()) or type(cause).__name__
    if not is_input_error(error):
        message = f"{type(cause).__name__}: {message}"
    return f"neuron-types: {message}"


def clean_exit(exc_type, exc, tb, previous=None) -> None:
    """A ``sys.excepthook``: an input error ends the command line on its one line (the
    traceback only with ``NEURON_TYPES_TRACEBACK=1``); anything else keeps its traceback,
    followed by the same line."""
    import os
    import sys

    previous = previous or sys.__excepthook__
    if exc is None or isinstance(exc, KeyboardInterrupt):
        return previous(exc_type, exc, tb)
    if is_input_error(exc) and not os.environ.get(TRACEBACK_VARIABLE):
        print(one_line(exc), file=sys.stderr)
        print(f"(the run stopped on bad input; {TRACEBACK_VARIABLE}=1 shows the traceback)", file=sys.stderr)
    else:
        previous(exc_type, exc, tb)
        print(one_line(exc), file=sys.stderr)
    sys.stderr.flush()


def install_clean_exit() -> None:
    """Makes :func:`clean_exit` the process's excepthook, once."""
    import functools
    import sys

    if getattr(sys.excepthook, "neuron_types", False):
        return
    hook = functools.partial(clean_exit, previous=sys.excepthook)
    hook.neuron_types = True
    sys.excepthook = hook
