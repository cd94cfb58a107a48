"""ei_model_input + ei_splits -> every model trained per split -> test-cell predictions ->
per-split metrics, dann_metrics, confusion matrices, training curves, SHAP, and the gated
DANNs' per-species gate profiles.

Namespaced ``dann``: its intermediates are ``dann.<name>`` (in memory), and kedro-viz shows
the pipeline as one group; the datasets it shares keep their catalog names.
"""

from kedro.pipeline import Node, Pipeline, pipeline

from neuron_types.evaluation import summarise_split_metrics
from neuron_types.pipelines import bound
from neuron_types.pipelines.dann import nodes

# what reporting reads; every other dataset is the pipeline's own (``dann.<name>``)
OUTPUTS = {"dann_split_metrics", "dann_metrics", "ei_model_card"}
DATA = ["ei_model_input", "ei_splits", "feature_names", "params:dann"]
EVERY_CELL = ["ei_every_cell_model_input", "ei_every_cell_splits"]
INPUTS = {"ei_model_input", "ei_splits", "feature_names", *EVERY_CELL}


def create_pipeline(study: bool = False, **kwargs) -> Pipeline:
    """The default run's models, or with ``study`` every model of ``params:dann`` (the
    entries marked ``study: true`` too)."""
    nodes_ = Pipeline([
        Node(bound(nodes.train_baseline_networks, study=study), [*DATA, *EVERY_CELL],
             ["baseline_predictions", "baseline_histories", "source_only_priors"],
             name="train_baseline_networks"),
        Node(bound(nodes.train_supervised_dann, study=study), [*DATA, *EVERY_CELL],
             ["supervised_predictions", "supervised_histories", "supervised_model", "ei_model_card",
              "supervised_gate_profiles"],
             name="train_supervised_dann"),
        Node(bound(nodes.train_unsupervised_danns, study=study), [*DATA, "source_only_priors", *EVERY_CELL],
             ["unsupervised_predictions", "unsupervised_histories", "unsupervised_priors",
              "unsupervised_model", "unsupervised_gate_profiles"],
             name="train_unsupervised_danns"),
        Node(nodes.fit_logistic_regression, DATA, "logistic_regression_predictions",
             name="fit_logistic_regression"),
        Node(bound(nodes.fit_simple_models, study=study), [*DATA, *EVERY_CELL],
             "simple_model_predictions", name="fit_simple_models"),
        Node(nodes.collect_test_predictions,
             ["baseline_predictions", "supervised_predictions", "unsupervised_predictions",
              "logistic_regression_predictions", "simple_model_predictions"],
             "test_predictions", name="collect_test_predictions"),
        Node(nodes.collect_training_histories,
             ["baseline_histories", "supervised_histories", "unsupervised_histories"],
             "training_history", name="collect_training_histories"),
        Node(nodes.collect_gate_profiles, ["supervised_gate_profiles", "unsupervised_gate_profiles"],
             "gate_profiles", name="collect_gate_profiles"),
        Node(nodes.tabulate_target_priors,
             ["source_only_priors", "unsupervised_priors", "ei_model_input", "ei_splits"],
             "target_prior_estimates", name="tabulate_target_priors"),
        Node(nodes.score_test_cells_per_split, "test_predictions", "dann_split_metrics",
             name="score_test_cells_per_split"),
        Node(summarise_split_metrics, ["dann_split_metrics", "ei_splits"], "dann_metrics", name="summarise_metrics"),
        Node(nodes.plot_confusion_matrices, ["test_predictions", "ei_splits", "params:dann"],
             "confusion_matrix_plots", name="plot_confusion_matrices"),
        Node(nodes.plot_training_curves, "training_history", "training_curve_plots",
             name="plot_training_curves"),
        Node(nodes.explain_dann_with_shap, ["supervised_model", *DATA], ["shap_values", "shap_plots"],
             name="explain_dann_with_shap"),
    ])
    if study:
        # the default run trains no gated DANN: a figure set with no figure cannot be
        # saved as a version (Kedro finds no file of it)
        nodes_ += Pipeline([Node(nodes.plot_gate_profiles, "gate_profiles", "gate_profile_plots",
                                 name="plot_gate_profiles")])
    return pipeline(nodes_, namespace="dann", inputs=INPUTS, outputs=OUTPUTS, parameters={"dann"},
                    tags="dann")
