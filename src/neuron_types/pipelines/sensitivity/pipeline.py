"""Sensitivity analyses: the model inputs, the primary splits and every variant's splits ->
per-split metrics of the same fast models on each -> sensitivity_metrics (reporting
tabulates it beside the primary numbers).

Namespaced ``sensitivity``; it reads only datasets that feature engineering writes.
"""

from kedro.pipeline import Node, Pipeline, pipeline

from neuron_types.pipelines.sensitivity import nodes

INPUTS = {"ei_model_input", "subclass_model_input", "ei_splits", "subclass_splits", "sensitivity_splits",
          "sensitivity_variants", "feature_names", "subclass_names"}
OUTPUTS = {"sensitivity_metrics"}


def create_pipeline(**kwargs) -> Pipeline:
    nodes_ = Pipeline([
        Node(nodes.score_ei_variants,
             ["ei_model_input", "ei_splits", "sensitivity_splits", "feature_names", "params:sensitivity"],
             "ei_split_metrics", name="score_ei_variants"),
        Node(nodes.score_subclass_variants,
             ["subclass_model_input", "subclass_splits", "sensitivity_splits", "feature_names", "subclass_names",
              "params:sensitivity"],
             "subclass_split_metrics", name="score_subclass_variants"),
        Node(nodes.summarise_sensitivity,
             ["ei_split_metrics", "subclass_split_metrics", "ei_splits", "subclass_splits", "sensitivity_splits",
              "sensitivity_variants"],
             "sensitivity_metrics", name="summarise_sensitivity"),
    ])
    return pipeline(nodes_, namespace="sensitivity", inputs=INPUTS, outputs=OUTPUTS, parameters={"sensitivity"},
                    tags="sensitivity")
