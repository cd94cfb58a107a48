"""ei_model_input + ei_splits -> every model trained per split -> test-cell predictions ->
per-split metrics, dann_metrics, confusion matrices, training curves, SHAP."""

from kedro.pipeline import Pipeline, node, pipeline

from neuron_types.pipelines.dann import nodes
from neuron_types.plotting import summarise_split_metrics

DATA = ["ei_model_input", "ei_splits", "params:features", "params:dann"]


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(nodes.train_baseline_networks, DATA,
                 ["dann_baseline_predictions", "dann_baseline_histories", "dann_source_only_priors"],
                 name="train_baseline_networks"),
            node(nodes.train_supervised_dann, DATA,
                 ["dann_supervised_predictions", "dann_supervised_histories", "dann_model"],
                 name="train_supervised_dann"),
            node(nodes.train_unsupervised_danns, [*DATA, "dann_source_only_priors"],
                 ["dann_unsupervised_predictions", "dann_unsupervised_histories", "dann_unsupervised_priors",
                  "dann_unsupervised_model"],
                 name="train_unsupervised_danns"),
            node(nodes.fit_logistic_regression, DATA, "dann_logistic_regression_predictions",
                 name="fit_logistic_regression"),
            node(nodes.collect_test_predictions,
                 ["dann_baseline_predictions", "dann_supervised_predictions", "dann_unsupervised_predictions",
                  "dann_logistic_regression_predictions"],
                 "dann_test_predictions", name="collect_test_predictions"),
            node(nodes.collect_training_histories,
                 ["dann_baseline_histories", "dann_supervised_histories", "dann_unsupervised_histories"],
                 "dann_training_history", name="collect_training_histories"),
            node(nodes.tabulate_target_priors,
                 ["dann_source_only_priors", "dann_unsupervised_priors", "ei_model_input", "ei_splits"],
                 "dann_target_prior_estimates", name="tabulate_target_priors"),
            node(nodes.score_test_cells_per_split, "dann_test_predictions", "dann_split_metrics",
                 name="score_test_cells_per_split"),
            node(summarise_split_metrics, "dann_split_metrics", "dann_metrics", name="summarise_dann_metrics"),
            node(nodes.plot_confusion_matrices, ["dann_test_predictions", "params:dann"], "dann_confusion_matrix_plots",
                 name="plot_confusion_matrices"),
            node(nodes.plot_training_curves, "dann_training_history", "dann_training_curve_plots",
                 name="plot_training_curves"),
            node(nodes.explain_dann_with_shap,
                 ["dann_model", "ei_model_input", "ei_splits", "params:features", "params:dann"],
                 ["dann_shap_values", "dann_shap_plots"], name="explain_dann_with_shap"),
        ],
        tags="dann",
    )
