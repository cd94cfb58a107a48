"""dann.test_predictions + lspin.test_predictions (every split's test cells) and the
exported network with its calibration (predict.calibration) -> calibration_report.table
and calibration_report.reliability_plots.

Run after the model pipelines and ``predict`` (whose ``fit_calibration`` node alone is
enough: ``kedro run --pipeline=predict --nodes=predict.fit_calibration``).
"""

import warnings

from kedro.pipeline import Node, Pipeline, pipeline

from neuron_types.pipelines.calibration_report import nodes

# the other pipelines' datasets it reads, by the names its nodes use
INPUTS = {"dann_test_predictions": "dann.test_predictions", "lspin_test_predictions": "lspin.test_predictions",
          "ei_model": "predict.ei_model", "calibration": "predict.calibration",
          **{name: name for name in ("subclass_names", "ei_model_input", "ei_splits", "feature_names", "ei_model_card")}}


def create_pipeline(**kwargs) -> Pipeline:
    nodes_ = Pipeline([
        Node(nodes.score_test_folds,
             ["dann_test_predictions", "lspin_test_predictions", "subclass_names", "params:predict"],
             ["test_fold_scores", "test_fold_plots"], name="score_test_folds"),
        Node(nodes.score_exported_model,
             ["ei_model", "calibration", "ei_model_input", "ei_splits", "feature_names",
              "ei_model_card", "params:predict"],
             ["exported_model_scores", "exported_model_plots"], name="score_exported_model"),
        Node(nodes.collect_report,
             ["test_fold_scores", "test_fold_plots", "exported_model_scores", "exported_model_plots"],
             ["table", "reliability_plots"], name="collect_calibration_report"),
    ])
    with warnings.catch_warnings():
        # reading other pipelines' own datasets (dann.test_predictions, ...) means dotted
        # names in this namespace, which Kedro warns of: those names are the catalog's
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        return pipeline(nodes_, namespace="calibration_report", inputs=INPUTS, parameters={"predict"},
                        tags="calibration_report")
