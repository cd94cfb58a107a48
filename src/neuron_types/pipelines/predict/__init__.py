"""predict: new cells -> calibrated answers from the exported models, no retraining."""

from neuron_types.pipelines.predict.pipeline import create_pipeline

__all__ = ["create_pipeline"]
