"""Reporting: dann_metrics + lspin_metrics -> summary.json / .csv / .md, comparison figures,
and the summary's scores as MLflow metrics."""

from kedro.pipeline import Node, Pipeline

from neuron_types.pipelines.reporting.nodes import (
    compile_model_comparison,
    model_comparison_markdown,
    model_comparison_table,
    plot_model_comparisons,
)
from neuron_types.pipelines.reporting.tracking import tracking_metrics

# one comparison figure per task of params:reporting.tasks
TASK_FIGURES = {"ei": "ei_model_comparison_plot", "subclass": "subclass_model_comparison_plot"}


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                compile_model_comparison,
                inputs=["dann_metrics", "lspin_metrics", "params:splits", "params:dann",
                        "params:lspin", "params:reporting"],
                outputs="model_comparison",
                name="compile_model_comparison",
            ),
            Node(
                model_comparison_table,
                inputs="model_comparison",
                outputs="model_comparison_table",
                name="tabulate_model_comparison",
            ),
            Node(
                model_comparison_markdown,
                inputs="model_comparison",
                outputs="model_comparison_markdown",
                name="write_model_comparison_markdown",
            ),
            Node(
                plot_model_comparisons,
                inputs=["model_comparison", "dann_split_metrics", "lspin_split_metrics"],
                outputs=TASK_FIGURES,
                name="plot_model_comparisons",
            ),
            Node(
                tracking_metrics,
                inputs="model_comparison",
                outputs="model_comparison_metrics",
                name="track_model_comparison_metrics",
            ),
        ],
        tags="reporting",
    )
