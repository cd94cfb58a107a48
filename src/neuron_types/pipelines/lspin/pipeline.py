"""lspin: mouse subclass classification (Pvalb+, Sst+, Vip+, Htr3a+|Vip-, Glutamatergic).

Per split, LSPIN and a plain MLP (the same prediction network, no gates) are trained on the
non-test cells (each network kind's splits and ensemble members in one stack, one node) and
scored on the test cells, beside classical baselines tuned by CV on the same non-test cells.
The full study (``create_pipeline(study=True)``) adds the same two networks tuned by Optuna
(``lspin_tuned``, ``mlp_tuned``), LSPIN trained in the reference's regime
(``lspin_reference_regime``), the soft vote, the random forest and the baselines on the
extended features and on every labelled cell. Outputs: test predictions, per-split metrics
and their summary (``lspin_metrics``), LSPIN's gates of the test cells with class profiles,
top features per class, SHAP values of LSPIN and XGBoost with their agreement with the
gates, and figures."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline, pipeline

from neuron_types.cells import EVERY_CELL_SUFFIX
from neuron_types.config import EXTENDED_BASELINES, IMPUTED_BASELINES, SKLEARN_BASELINES
from neuron_types.evaluation import summarise_split_metrics
from neuron_types.pipelines import bound
from neuron_types.pipelines.lspin import explanation, interpretation, tuning, voting
from neuron_types.pipelines.lspin.nodes import (
    NETWORKS,
    REFERENCE_REGIME,
    collect_hyperparameters,
    collect_tables,
    network_test_outputs,
    split_metrics,
    train_network,
    tune_and_test_baseline,
    tune_and_test_extended_baseline,
    tune_and_test_imputed_baseline,
    tune_and_test_xgboost,
)

MODEL_ORDER = ("lspin", "mlp", "lspin_tuned", "mlp_tuned", REFERENCE_REGIME, "soft_vote", "svc",
               "logistic_regression", "xgboost", "random_forest",
               *(f"{name}_extended" for name in EXTENDED_BASELINES),
               *(f"{name}_imputed{suffix}" for name in IMPUTED_BASELINES for suffix in ("", EVERY_CELL_SUFFIX)))
# what reporting reads; every other dataset is the pipeline's own (``lspin.<name>``)
OUTPUTS = {"lspin_metrics", "lspin_split_metrics"}
INPUTS = ["subclass_model_input", "subclass_splits", "feature_names", "subclass_names"]


def _test_outputs_node(model: str) -> Node:
    """Scores every split's saved ensemble of ``model`` on its test cells."""
    return Node(
        bound(network_test_outputs, kind=model),
        inputs=[f"{model}_models", *INPUTS],
        outputs=[f"{model}_test_predictions", f"{model}_test_gates"],
        name=f"{model}_test_outputs",
    )


def _network_nodes(kind: str) -> list[Node]:
    """One node trains every split's ensemble of ``kind`` (saved as a partitioned dataset,
    one .keras per split); one scores them all."""
    return [
        Node(
            bound(train_network, kind=kind),
            inputs=[*INPUTS, "params:lspin"],
            outputs=[f"{kind}_models", f"{kind}_training_history"],
            name=f"train_{kind}",
        ),
        _test_outputs_node(kind),
    ]


def _tuned_network_nodes(kind: str) -> list[Node]:
    """Optuna tunes and trains every split's ensemble of ``kind`` (``<kind>_tuned``); its
    test cells are scored as the untuned twin's."""
    name = f"{kind}_tuned"
    return [
        Node(
            bound(tuning.tune_network, kind=kind),
            inputs=[*INPUTS, "params:lspin"],
            outputs=[f"{name}_models", f"{name}_training_history", f"{kind}_trials", f"{kind}_studies"],
            name=f"tune_{kind}",
        ),
        _test_outputs_node(name),
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
        bound(tune_and_test_baseline, name=name),
        inputs=[*INPUTS, "params:lspin"],
        outputs=[f"{name}_test_predictions", f"{name}_hyperparameters"],
        name=f"tune_and_test_{name}",
    )


def _extended_baseline_node(name: str) -> Node:
    return Node(
        bound(tune_and_test_extended_baseline, name=name),
        inputs=["subclass_model_input", "subclass_splits", "extended_feature_names", "feature_names",
                "subclass_names", "params:lspin"],
        outputs=[f"{name}_extended_test_predictions", f"{name}_extended_hyperparameters"],
        name=f"tune_and_test_{name}_extended",
    )


def _imputed_baseline_node(name: str) -> Node:
    return Node(
        bound(tune_and_test_imputed_baseline, name=name),
        inputs=["subclass_every_cell_model_input", "subclass_every_cell_splits", "feature_names", "subclass_names",
                "params:lspin"],
        outputs=[f"{name}_imputed_test_predictions", f"{name}_imputed_hyperparameters"],
        name=f"tune_and_test_{name}_imputed",
    )


def _explanation_nodes() -> list[Node]:
    """SHAP values of LSPIN and the baseline, and how far LSPIN's gates agree with them."""
    return [
        Node(explanation.explain_lspin_with_shap, ["lspin_models", *INPUTS, "params:lspin"],
             "lspin_shap_values", name="explain_lspin_with_shap"),
        Node(explanation.explain_baseline_with_shap, ["xgboost_models", *INPUTS, "params:lspin"],
             "baseline_shap_values", name="explain_baseline_with_shap"),
        Node(collect_tables, ["lspin_shap_values", "baseline_shap_values"], "shap_values",
             name="collect_subclass_shap_values"),
        Node(explanation.gate_shap_agreement,
             ["shap_values", "test_gates", "feature_names", "subclass_names", "params:lspin"],
             ["gate_shap_agreement", "closed_gate_shap_shares"], name="gate_shap_agreement"),
        Node(explanation.shap_plots, ["shap_values", "feature_names", "subclass_names", "params:lspin"],
             "shap_plots", name="plot_subclass_shap"),
        Node(explanation.gate_vs_shap_plot,
             ["shap_values", "test_gates", "gate_shap_agreement", "feature_names", "subclass_names"],
             "gate_vs_shap_plot", name="plot_lspin_gate_vs_shap"),
    ]


# the default run's baselines: the best tuned baseline fixed a priori (svc, parameters_reporting.yml),
# logistic regression, and XGBoost, whose SHAP values the gates are compared with
DEFAULT_BASELINES = ("svc", "logistic_regression", "xgboost")


def create_pipeline(study: bool = False, **kwargs) -> Pipeline:
    """The default run: LSPIN, the MLP and ``DEFAULT_BASELINES``. With ``study``, also the
    Optuna-tuned networks, LSPIN in the reference's regime, the soft vote, the random
    forest and the baselines on the extended features and on every labelled cell."""
    kinds = (*NETWORKS, REFERENCE_REGIME) if study else NETWORKS
    nodes = [n for kind in kinds for n in _network_nodes(kind)]
    baselines = SKLEARN_BASELINES if study else DEFAULT_BASELINES
    nodes += [_baseline_node(name) for name in baselines]
    tuned = list(baselines)
    networks = list(NETWORKS)
    if study:
        nodes += [n for kind in NETWORKS for n in _tuned_network_nodes(kind)]
        nodes += [_extended_baseline_node(name) for name in EXTENDED_BASELINES]
        nodes += [_imputed_baseline_node(name) for name in IMPUTED_BASELINES]
        tuned += [*(f"{name}_extended" for name in EXTENDED_BASELINES), *(f"{name}_imputed" for name in IMPUTED_BASELINES)]
        networks += [f"{kind}_tuned" for kind in NETWORKS] + [REFERENCE_REGIME]
        nodes.append(Node(voting.soft_vote,
                          ["lspin_models", "mlp_models", "lspin_test_predictions", "mlp_test_predictions",
                           "svc_test_predictions", "svc_hyperparameters", *INPUTS, "params:lspin"],
                          ["soft_vote_test_predictions", "soft_vote_weights"], name="soft_vote"))
        nodes.append(Node(collect_tables, [f"{kind}_trials" for kind in NETWORKS], "tuning_trials",
                          name="collect_subclass_tuning_trials"))
    voted = ["soft_vote"] if study else []
    predictions = [f"{model}_test_predictions" for model in (*networks, *tuned, *voted)]
    nodes += [
        Node(collect_tables, predictions, "test_predictions",
             name="collect_subclass_test_predictions"),
        Node(collect_tables, "lspin_test_gates", "test_gates", name="collect_lspin_test_gates"),
        Node(collect_tables, [f"{network}_training_history" for network in networks],
             "training_history", name="collect_subclass_training_history"),
        Node(collect_hyperparameters,
             {name: f"{name}_hyperparameters" for name in tuned},
             "baseline_hyperparameters", name="collect_baseline_hyperparameters"),
        Node(split_metrics, ["test_predictions", "subclass_names"],
             "lspin_split_metrics", name="score_subclass_test_cells_per_split"),
        Node(bound(summarise_split_metrics, model_order=MODEL_ORDER), ["lspin_split_metrics", "subclass_splits"],
             "lspin_metrics", name="summarise_subclass_metrics"),
        Node(interpretation.lspin_confusion, ["test_predictions", "subclass_splits", "subclass_names"],
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
        *_explanation_nodes(),
    ]
    shared = {"subclass_model_input", "subclass_splits", "feature_names", "subclass_names",
              "extended_feature_names", "subclass_every_cell_model_input", "subclass_every_cell_splits"}
    nodes = Pipeline(nodes)
    return pipeline(nodes, namespace="lspin", tags="lspin", parameters={"lspin"},
                    inputs=shared & nodes.inputs(), outputs=OUTPUTS)
