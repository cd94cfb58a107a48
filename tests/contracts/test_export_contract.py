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


def test_saved_lspin_ensembles_score_what_their_trained_members_predict(monkeypatch, tmp_path):
    """The subclass pipeline scores each split's saved ensemble; loaded back, it gives the
    mean of the trained stack's members of that split, on raw test features."""
    from neuron_types.models import lspin_ensemble, stacked_lspin
    from neuron_types.pipelines.lspin import nodes
    from tests.contracts.cells import (SUBCLASS_FEATURES, SUBCLASSES, Recorder, subclass_cells, subclass_splits,
                                       tiny_lspin)

    cells = subclass_cells()
    splits = subclass_splits(cells)
    fit = Recorder(stacked_lspin.fit_stacked_lspin)
    monkeypatch.setattr(lspin_ensemble, "fit_stacked_lspin", fit)
    lspin = tiny_lspin()
    ensembles, _ = nodes.train_network(cells, splits, SUBCLASS_FEATURES, SUBCLASSES, lspin, "lspin")
    (stack, _, _), _ = fit.calls[0]
    loaded = {}
    for key, ensemble in ensembles.items():
        ensemble.save(tmp_path / f"{key}.keras")
        loaded[key] = keras.models.load_model(tmp_path / f"{key}.keras")
    scored, _ = nodes.network_test_outputs(loaded, cells, splits, SUBCLASS_FEATURES, SUBCLASSES, "lspin")
    members = lspin.lspin.ensemble_members
    for s, split in enumerate(sorted(splits["split"].unique())):
        test = cells[cells["specimen_id"].isin(ids_in(splits, split, "test"))]
        proba = np.asarray(stack(test[SUBCLASS_FEATURES].to_numpy(dtype="float32")))[s * members:(s + 1) * members]
        rows = scored[scored["split"] == split]
        np.testing.assert_array_equal(rows["specimen_id"].to_numpy(), test["specimen_id"].to_numpy())
        np.testing.assert_allclose(rows[[f"proba_{c}" for c in SUBCLASSES]].to_numpy(), proba.mean(axis=0),
                                   rtol=1e-5, atol=1e-6)
