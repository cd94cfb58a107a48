"""Reporting pipeline: every model's metrics in one comparison, with the reference study's numbers."""

from neuron_types.pipelines.reporting.pipeline import create_pipeline

__all__ = ["create_pipeline"]
