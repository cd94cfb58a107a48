"""neuron-types: classify neurons from Allen Cell Types Database electrophysiology."""

__version__ = "0.1.0"
