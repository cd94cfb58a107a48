"""Ingestion: ACTD dump (via allensdk's CellTypesCache) -> validated raw tables."""

from kedro.pipeline import Node, Pipeline

from neuron_types.pipelines.ingestion.nodes import validate_actd_dump


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                validate_actd_dump,
                inputs=[
                    "actd_dump",
                    "params:ingestion.species_names",
                    "params:ingestion.ephys_boolean_columns",
                ],
                outputs=["raw_cells", "raw_ephys_features", "raw_noise_spike_features"],
                name="validate_actd_dump",
            ),
        ],
        tags="ingestion",
    )
