"""Ingestion pipeline: read and validate the ACTD dump."""

from neuron_types.pipelines.ingestion.pipeline import create_pipeline

__all__ = ["create_pipeline"]
