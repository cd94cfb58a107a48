"""The project's pipelines, one package each (found by ``find_pipelines``)."""

from functools import partial, update_wrapper


def bound(function, **fixed):
    """``function`` with keyword arguments fixed, keeping its name and docstring (which
    Kedro shows and which its parameter validation reads)."""
    return update_wrapper(partial(function, **fixed), function)
