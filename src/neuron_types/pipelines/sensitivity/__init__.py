"""Sensitivity analyses of the evaluation protocol (docs/evaluation.md)."""

from neuron_types.pipelines.sensitivity.pipeline import create_pipeline

__all__ = ["create_pipeline"]
