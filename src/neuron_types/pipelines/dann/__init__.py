"""dann pipeline: excitatory vs inhibitory cells across species with a domain-adversarial
network, its baselines, metrics, figures and SHAP attributions."""

from neuron_types.pipelines.dann.pipeline import create_pipeline

__all__ = ["create_pipeline"]
