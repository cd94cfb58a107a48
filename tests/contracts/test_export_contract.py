"""Contract 6: the exported model is the model that was scored. Saved as ``.keras`` and
loaded back, it gives on the raw features of its split's test cells the probabilities the
pipeline scored, for a split other than the first (so that a wrong member shows)."""

from __future__ import annotations

import keras
import numpy as np

from tests.contracts.cells import EXPORT_SPLIT, NAMES, ids_in


def test_the_saved_exported_dann_predicts_the_scored_probabilities(unsupervised_run, tmp_path):
    cells, splits = unsupervised_run["cells"], unsupervised_run["splits"]
    path = tmp_path / "exported.keras"
    unsupervised_run["exported"].save(path)
    loaded = keras.models.load_model(path)
    scored = unsupervised_run["predictions"]
    scored = scored[(scored["model"] == "dann_unsupervised_reweighted") & (scored["split"] == EXPORT_SPLIT)]
    test = cells[cells["specimen_id"].isin(ids_in(splits, EXPORT_SPLIT, "test"))]
    assert len(scored) == len(test) > 0
    np.testing.assert_array_equal(scored["specimen_id"].to_numpy(), test["specimen_id"].to_numpy())
    probability = np.asarray(loaded(test[NAMES].to_numpy(dtype="float32"))["label"])[:, 0]
    np.testing.assert_allclose(probability, scored["probability"].to_numpy(), rtol=1e-5, atol=1e-6)
