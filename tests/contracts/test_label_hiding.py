"""Contract 3, label hiding, as a differential test: the models that never see a human label
(the source-only network whose EM prior drives the reweighting, the reweighted,
prior-adjusted unsupervised DANN trained on that prior, the gated unsupervised DANN, and the
cross-fitted one, whose folds hold human cells) give bit-for-bit the same outputs when every human label in their input is flipped:
predictions, prior-adjusted predictions (with and without temperature scaling), training
curves and stopping epochs, prior estimates and temperatures, gate profiles, and the
exported model.

That each loss term weighs human labels 0 is checked on what the fit is handed, in
``test_stack_rows.py`` (label and validation weights of the labelled species only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.contracts.cells import flip_human_labels, unsupervised_outputs


@pytest.fixture(scope="module")
def flipped_run(unsupervised_run):
    cells, splits = unsupervised_run["cells"], unsupervised_run["splits"]
    flipped = flip_human_labels(cells)  # the same splits: only the labels change
    assert (flipped["excitatory"] != cells["excitatory"]).sum() == (cells["species"] == "human").sum()
    return unsupervised_outputs(flipped, splits)


def test_flipping_every_human_label_changes_no_prediction(unsupervised_run, flipped_run):
    a, b = unsupervised_run["predictions"], flipped_run["predictions"]
    assert set(a["model"]) == {f"{model}{suffix}" for model in ("fcnn_source_only", "dann_unsupervised_reweighted",
                                                                  "dann_unsupervised_cross_fitted")
                               for suffix in ("", "_prior_adjusted", "_prior_adjusted_calibrated")} | {
                                   "dann_unsupervised_gated"}
    pd.testing.assert_frame_equal(a.drop(columns="excitatory"), b.drop(columns="excitatory"))
    np.testing.assert_array_equal(unsupervised_run["exported_probability"], flipped_run["exported_probability"])


def test_flipping_every_human_label_changes_no_curve_stopping_epoch_or_prior(unsupervised_run, flipped_run):
    pd.testing.assert_frame_equal(unsupervised_run["histories"], flipped_run["histories"])
    pd.testing.assert_frame_equal(unsupervised_run["priors"], flipped_run["priors"])
    assert set(unsupervised_run["gate_profiles"]["model"]) == {"dann_unsupervised_gated"}
    pd.testing.assert_frame_equal(unsupervised_run["gate_profiles"], flipped_run["gate_profiles"])
