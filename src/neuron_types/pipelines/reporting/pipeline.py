"""Reporting: dann_metrics + lspin_metrics, their per-split tables and the splits -> paired
comparisons; with sensitivity_metrics -> summary.json / .csv / .md, comparison figures, and
the summary's scores as MLflow metrics."""

from kedro.pipeline import Node, Pipeline, pipeline

from neuron_types.pipelines import bound
from neuron_types.pipelines.reporting import comparisons, nodes
from neuron_types.pipelines.reporting.tracking import tracking_metrics

# one comparison figure per task of params:reporting.tasks
TASK_FIGURES = {"ei": "ei_model_comparison_plot", "subclass": "subclass_model_comparison_plot"}
# every dataset this pipeline writes is its own: reporting.<name>
INPUTS = {"dann_metrics", "lspin_metrics", "dann_split_metrics", "lspin_split_metrics", "ei_splits",
          "subclass_splits", "sensitivity_metrics"}


def create_pipeline(study: bool = False, **kwargs) -> Pipeline:
    """The default run's comparisons, or with ``study`` every one declared."""
    nodes_ = Pipeline([
        Node(bound(comparisons.compare_models_paired, study=study),
             ["dann_split_metrics", "lspin_split_metrics", "ei_splits", "subclass_splits", "params:reporting"],
             "paired_comparisons", name="compare_models_paired"),
        Node(bound(nodes.compile_model_comparison, study=study),
             ["dann_metrics", "lspin_metrics", "ei_splits", "subclass_splits", "paired_comparisons",
              "sensitivity_metrics", "params:reporting"],
             "model_comparison", name="compile_model_comparison"),
        Node(nodes.model_comparison_table, "model_comparison", "model_comparison_table",
             name="tabulate_model_comparison"),
        Node(nodes.model_comparison_markdown, "model_comparison", "model_comparison_markdown",
             name="write_model_comparison_markdown"),
        Node(nodes.plot_model_comparisons, ["model_comparison", "dann_split_metrics", "lspin_split_metrics"],
             TASK_FIGURES, name="plot_model_comparisons"),
        Node(tracking_metrics, "model_comparison", "model_comparison_metrics",
             name="track_model_comparison_metrics"),
    ])
    return pipeline(nodes_, namespace="reporting", inputs=INPUTS, parameters={"reporting"}, tags="reporting")
