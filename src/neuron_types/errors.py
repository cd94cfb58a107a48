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
