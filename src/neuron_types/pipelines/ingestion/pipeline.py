"""Ingestion: ACTD dump (via allensdk's CellTypesCache) -> validated raw tables."""

from kedro.pipeline import Node, Pipeline, pipeline

from neuron_types.pipelines.ingestion.nodes import validate_actd_dump


def create_pipeline(**kwargs) -> Pipeline:
    nodes = Pipeline([
        Node(validate_actd_dump, ["actd_dump", "params:ingestion"],
             ["raw_cells", "raw_ephys_features", "raw_noise_spike_features"], name="validate_actd_dump"),
    ])
    return pipeline(nodes, namespace="ingestion", inputs={"actd_dump"},
                    outputs={"raw_cells", "raw_ephys_features", "raw_noise_spike_features"},
                    parameters={"ingestion"}, tags="ingestion")
