"""lspin: mouse subclass classification (Pvalb+, Sst+, Vip+, Htr3a+|Vip-, Glutamatergic).

Per split, LSPIN and a plain MLP (the same prediction network, no gates) are trained on the
non-test cells and scored on the test cells; four classical baselines are tuned by CV on the
same non-test cells. Outputs: test predictions, per-split metrics and their summary
(``lspin_metrics``), LSPIN's gates of the test cells with class profiles, top features per
class, and figures.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline, pipeline

from neuron_types.config import SKLEARN_BASELINES
from neuron_types.evaluation import summarise_split_metrics
from neuron_types.pipelines.lspin import interpretation
from neuron_types.pipelines.lspin.nodes import (
    NETWORKS,
    collect_hyperparameters,
    collect_tables,
    network_test_outputs,
    split_metrics,
    train_network,
    tune_and_test_baseline,
    tune_and_test_xgboost,
)

# One trained network per model and split is one versioned .keras file, so the splits are
# spelled out as nodes; this must equal len(feature_engineering.splits.seeds) (a node says so if not).
N_SPLITS = 5
MODEL_ORDER = ("lspin", "mlp", "svc", "logistic_regression", "xgboost", "random_forest")
# what reporting reads; every other dataset is the pipeline's own (``lspin.<name>``)
OUTPUTS = {"lspin_metrics", "lspin_split_metrics"}
INPUTS = ["subclass_model_input", "subclass_splits", "feature_names", "subclass_names"]


def _bound(function, **fixed):
    """``function`` with keyword arguments fixed, keeping its name and docstring."""
    return update_wrapper(partial(function, **fixed), function)


def _network_nodes(kind: str, split: int) -> list[Node]:
    model = f"{kind}_model_split{split}"
    return [
        Node(
            _bound(train_network, kind=kind, split=split),
            inputs=[*INPUTS, "params:lspin"],
            outputs=[model, f"{kind}_training_history_split{split}"],
            name=f"train_{kind}_split{split}",
        ),
        Node(
            _bound(network_test_outputs, kind=kind, split=split),
            inputs=[model, *INPUTS],
            outputs=[f"{kind}_test_predictions_split{split}", f"{kind}_test_gates_split{split}"],
            name=f"{kind}_test_outputs_split{split}",
        ),
    ]


def _baseline_node(name: str) -> Node:
    if name == "xgboost":
        return Node(
            tune_and_test_xgboost,
            inputs=[*INPUTS, "params:lspin"],
            outputs=["xgboost_test_predictions", "xgboost_hyperparameters", "xgboost_models"],
            name="tune_and_test_xgboost",
        )
    return Node(
        _bound(tune_and_test_baseline, name=name),
        inputs=[*INPUTS, "params:lspin"],
        outputs=[f"{name}_test_predictions", f"{name}_hyperparameters"],
        name=f"tune_and_test_{name}",
    )


def create_pipeline(n_splits: int = N_SPLITS, **kwargs) -> Pipeline:
    splits = range(n_splits)
    nodes = [n for kind in NETWORKS for split in splits for n in _network_nodes(kind, split)]
    nodes += [_baseline_node(name) for name in SKLEARN_BASELINES]
    predictions = [f"{kind}_test_predictions_split{s}" for kind in NETWORKS for s in splits]
    predictions += [f"{name}_test_predictions" for name in SKLEARN_BASELINES]
    nodes += [
        Node(collect_tables, predictions, "test_predictions",
             name="collect_subclass_test_predictions"),
        Node(collect_tables, [f"lspin_test_gates_split{s}" for s in splits], "test_gates",
             name="collect_lspin_test_gates"),
        Node(collect_tables,
             [f"{kind}_training_history_split{s}" for kind in NETWORKS for s in splits],
             "training_history", name="collect_subclass_training_history"),
        Node(collect_hyperparameters,
             {name: f"{name}_hyperparameters" for name in SKLEARN_BASELINES},
             "baseline_hyperparameters", name="collect_baseline_hyperparameters"),
        Node(split_metrics, ["test_predictions", "subclass_names"],
             "lspin_split_metrics", name="score_subclass_test_cells_per_split"),
        Node(_bound(summarise_split_metrics, model_order=MODEL_ORDER), ["lspin_split_metrics", "subclass_splits"],
             "lspin_metrics", name="summarise_subclass_metrics"),
        Node(interpretation.lspin_confusion, ["test_predictions", "subclass_names"],
             "confusion_matrix", name="confusion_matrix"),
        Node(interpretation.lspin_confusion_plot, ["confusion_matrix", "test_predictions"],
             "confusion_matrix_plot", name="plot_lspin_confusion_matrix"),
        Node(interpretation.class_gate_profiles,
             ["test_gates", "feature_names", "subclass_names"],
             "class_gate_profiles", name="class_gate_profiles"),
        Node(interpretation.class_profile_heatmap, "class_gate_profiles",
             "class_gate_profiles_plot", name="plot_lspin_class_gate_profiles"),
        Node(interpretation.top_gated_features,
             ["test_gates", "feature_names", "subclass_names", "params:lspin"],
             "top_features", name="top_features"),
        Node(interpretation.gate_heatmap,
             ["test_gates", "feature_names", "subclass_names"],
             "gate_heatmap", name="plot_lspin_gate_heatmap"),
    ]
    return pipeline(
        Pipeline(nodes), namespace="lspin", tags="lspin", parameters={"lspin"},
        inputs={"subclass_model_input", "subclass_splits", "feature_names", "subclass_names"},
        outputs=OUTPUTS,
    )
