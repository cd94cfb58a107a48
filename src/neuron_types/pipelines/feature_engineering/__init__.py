"""Feature-engineering pipeline: cohort, labels, the 41 features and the splits."""

from neuron_types.pipelines.feature_engineering.pipeline import create_pipeline

__all__ = ["create_pipeline"]
