"""Feature engineering: raw tables -> cohort, features, model inputs and splits."""

from kedro.pipeline import Node, Pipeline, pipeline

from neuron_types.pipelines.feature_engineering import every_cell, nodes, variants

PARAMS = "params:feature_engineering"
# what the model pipelines read; the cohort and cell features are this pipeline's own
OUTPUTS = {"ei_model_input", "subclass_model_input", "ei_splits", "subclass_splits", "feature_names",
           "subclass_names", "extended_feature_names", "sensitivity_splits", "sensitivity_variants",
           "ei_every_cell_model_input", "ei_every_cell_splits", "subclass_every_cell_model_input",
           "subclass_every_cell_splits"}


def create_pipeline(**kwargs) -> Pipeline:
    nodes_ = Pipeline([
        Node(nodes.build_cohort, ["raw_cells", "raw_noise_spike_features", PARAMS], "cohort",
             name="build_cohort"),
        Node(nodes.assemble_features, ["cohort", "raw_ephys_features", "raw_noise_spike_features", PARAMS],
             "cell_features", name="assemble_features"),
        Node(nodes.describe_model_inputs, PARAMS, ["feature_names", "subclass_names", "extended_feature_names"],
             name="describe_model_inputs"),
        Node(nodes.build_ei_model_input, ["cell_features", PARAMS], "ei_model_input",
             name="build_ei_model_input"),
        Node(nodes.build_subclass_model_input, ["cell_features", PARAMS], "subclass_model_input",
             name="build_subclass_model_input"),
        Node(nodes.split_ei_cells, ["ei_model_input", PARAMS], "ei_splits", name="split_ei_cells"),
        Node(every_cell.build_ei_every_cell_model_input, ["cell_features", PARAMS], "ei_every_cell_model_input",
             name="build_ei_every_cell_model_input"),
        Node(every_cell.split_ei_every_cell, ["ei_splits", "ei_every_cell_model_input", PARAMS], "ei_every_cell_splits",
             name="split_ei_every_cell"),
        Node(nodes.split_subclass_cells, ["subclass_model_input", PARAMS], "subclass_splits",
             name="split_subclass_cells"),
        Node(every_cell.build_subclass_every_cell_model_input, ["cell_features", PARAMS],
             "subclass_every_cell_model_input", name="build_subclass_every_cell_model_input"),
        Node(every_cell.split_subclass_every_cell, ["subclass_splits", "subclass_every_cell_model_input", PARAMS],
             "subclass_every_cell_splits", name="split_subclass_every_cell"),
        Node(variants.split_sensitivity_variants, ["ei_model_input", "subclass_model_input", PARAMS],
             ["sensitivity_splits", "sensitivity_variants"], name="split_sensitivity_variants"),
    ])
    return pipeline(nodes_, namespace="feature_engineering",
                    inputs={"raw_cells", "raw_ephys_features", "raw_noise_spike_features"},
                    outputs=OUTPUTS, parameters={"feature_engineering"}, tags="feature_engineering")
