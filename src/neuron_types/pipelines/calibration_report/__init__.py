"""calibration_report: how well the probabilities of the models ``predict`` uses match
the observed frequencies on test cells (ECE, Brier, reliability diagrams), and the
coverage of its conformal sets and its OOD flag rate on the exported fold's test cells."""

from neuron_types.pipelines.calibration_report.pipeline import create_pipeline

__all__ = ["create_pipeline"]
