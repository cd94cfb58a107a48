"""lspin: mouse subclass classification with LSPIN, a plain MLP and tuned baselines."""

from neuron_types.pipelines.lspin.pipeline import create_pipeline

__all__ = ["create_pipeline"]
