"""Reading the Allen Cell Types Database, and the Kedro datasets that wrap it."""

from neuron_types.io.actd import ActdDumpError, read_actd_dump
from neuron_types.io.datasets import ActdDumpDataset

__all__ = ["ActdDumpDataset", "ActdDumpError", "read_actd_dump"]
