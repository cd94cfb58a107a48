"""Feature engineering: raw tables -> cohort, features, model inputs and splits."""

from kedro.pipeline import Node, Pipeline

from neuron_types.pipelines.feature_engineering.nodes import (
    assemble_features,
    build_cohort,
    build_ei_model_input,
    build_subclass_model_input,
    split_cells,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                build_cohort,
                inputs=["raw_cells", "raw_noise_spike_features", "params:cohort"],
                outputs="cohort",
                name="build_cohort",
            ),
            Node(
                assemble_features,
                inputs=["cohort", "raw_ephys_features", "raw_noise_spike_features", "params:features"],
                outputs="cell_features",
                name="assemble_features",
            ),
            Node(
                build_ei_model_input,
                inputs=["cell_features", "params:features"],
                outputs="ei_model_input",
                name="build_ei_model_input",
            ),
            Node(
                build_subclass_model_input,
                inputs=["cell_features", "params:features", "params:subclass_names"],
                outputs="subclass_model_input",
                name="build_subclass_model_input",
            ),
            Node(
                split_cells,
                inputs=["ei_model_input", "params:splits", "params:splits.ei_strata"],
                outputs="ei_splits",
                name="split_ei_cells",
            ),
            Node(
                split_cells,
                inputs=["subclass_model_input", "params:splits", "params:splits.subclass_strata"],
                outputs="subclass_splits",
                name="split_subclass_cells",
            ),
        ],
        tags="feature_engineering",
    )
