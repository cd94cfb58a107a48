"""predict.cells (the user's table) + the exported models -> one table of predictions.

Namespaced ``predict``: ``predict.cells`` (a CSV by default, catalog_predict.yml),
``predict.ei_model`` and ``predict.subclass_model`` (the saved models, latest version by
default, ``--load-versions`` for another), ``predict.calibration`` (temperature, conformal
quantiles, OOD detector, fitted on the exported fold's validation cells) and
``predict.predictions``. The cells it calibrates on are read from the model inputs of
the training run; it trains no network (docs/classify_your_own_cells.md).
"""

from kedro.pipeline import Node, Pipeline, pipeline

from neuron_types.pipelines.predict import nodes
from neuron_types.pipelines.predict.cells import check_new_cells

INPUTS = {"ei_model_input", "ei_splits", "feature_names", "subclass_names", "ei_model_card"}


def create_pipeline(**kwargs) -> Pipeline:
    nodes_ = Pipeline([
        Node(check_new_cells,
             ["cells", "feature_names", "params:predict", "params:ingestion", "params:feature_engineering"],
             "checked_cells",
             name="check_new_cells"),
        Node(nodes.fit_calibration,
             ["ei_model", "ei_model_card", "ei_model_input", "ei_splits", "feature_names", "params:predict"],
             "calibration", name="fit_calibration"),
        Node(nodes.predict_new_cells,
             ["checked_cells", "ei_model", "subclass_model", "calibration", "feature_names", "subclass_names",
              "ei_model_card"],
             "predictions", name="predict_new_cells"),
    ])
    return pipeline(nodes_, namespace="predict", inputs=INPUTS, parameters={"predict", "ingestion", "feature_engineering"}, tags="predict")
