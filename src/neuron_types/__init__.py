"""neuron-types: classify neurons from Allen Cell Types Database electrophysiology."""

# Before anything imports TensorFlow: its C++ log level is read once, when it loads.
from neuron_types import quiet as _quiet  # noqa: F401

__version__ = "0.1.0"
