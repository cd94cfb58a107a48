"""Contract 4: the label-shift corrections against hand-solved asymmetric cases (unequal
priors, an asymmetric confusion matrix, the singular and degenerate branches), the source
prior from source training labels only, the observed prior from the cells its column names,
and the pipeline's prior-adjusted predictions against Bayes' rule in odds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from neuron_types.models import cross_species as cs
from neuron_types.models import label_shift
from neuron_types.pipelines.dann import nodes
from tests.contracts.cells import NAMES, Recorder, ei_cells, ei_splits, ids_in, tiny_dann


def _odds_corrected(p, source_prior, target_prior):
    """Bayes' rule in odds: posterior odds x (target prior odds / source prior odds)."""
    odds = p / (1 - p) * (target_prior / (1 - target_prior)) / (source_prior / (1 - source_prior))
    return odds / (1 + odds)


def test_bayes_adjustment_with_unequal_priors_is_the_hand_solved_value():
    # p = 0.6 under a 0.3 source prior, corrected to a 0.7 target prior: odds 1.5 * (7/3) / (3/7) = 49/6
    np.testing.assert_allclose(label_shift.adjust_posteriors(np.array([0.6]), 0.3, 0.7), [49 / 55], rtol=1e-12)
    p = np.array([0.05, 0.2, 0.5, 0.9])
    np.testing.assert_allclose(label_shift.adjust_posteriors(p, 0.25, 0.8), _odds_corrected(p, 0.25, 0.8), rtol=1e-9)


def test_em_prior_is_the_maximum_likelihood_target_prior():
    rng = np.random.default_rng(0)
    p = rng.beta(2, 1.2, size=200)  # posteriors under a source prior of 0.35
    source = 0.35

    def negative_log_likelihood(prior):  # the target likelihood of the prior, solved independently
        return -np.log(p * prior / source + (1 - p) * (1 - prior) / (1 - source)).sum()

    best = minimize_scalar(negative_log_likelihood, bounds=(1e-6, 1 - 1e-6), method="bounded",
                           options={"xatol": 1e-10}).x
    assert abs(best - source) > 0.1  # a real shift
    assert label_shift.em_target_prior(p, source) == pytest.approx(best, abs=1e-5)


def _cells(pairs):
    """(true, predicted) counts -> two arrays."""
    true = np.concatenate([[t] * n for (t, _), n in pairs.items()])
    predicted = np.concatenate([[q] * n for (_, q), n in pairs.items()])
    return true, predicted


def test_bbse_with_an_asymmetric_confusion_matrix_is_the_hand_solved_value():
    # source: P(pred=i, true=j) = [[0.3, 0.2], [0.1, 0.4]]; target predicted rates q = [0.4, 0.6]
    true, predicted = _cells({(0, 0): 3, (0, 1): 1, (1, 0): 2, (1, 1): 4})
    target = np.array([0] * 4 + [1] * 6)
    # C w = q: w = [0.4, 1.4]; prior = 1.4 * 0.6 / (0.4 * 0.4 + 1.4 * 0.6) = 0.84 (transposed C gives 0.6)
    assert label_shift.bbse_target_prior(true, predicted, target) == pytest.approx(0.84, abs=1e-9)


def test_bbse_singular_and_degenerate_branches():
    # a classifier that always answers 1: C = [[0, 0], [0.4, 0.6]] is singular; the least-norm
    # solution of 0.4 w0 + 0.6 w1 = 1 is w = [0.4, 0.6] / 0.52, so the prior is 0.36 / 0.52
    true = np.array([0] * 4 + [1] * 6)
    assert label_shift.bbse_target_prior(true, np.ones(10), np.ones(7)) == pytest.approx(0.36 / 0.52, abs=1e-9)
    # source cells all of class 0 and predicted 0, target all predicted 1: every weight is 0
    with pytest.raises(ValueError, match="degenerate"):
        label_shift.bbse_target_prior(np.zeros(5), np.zeros(5), np.ones(5))


def test_source_prior_is_the_source_training_cells_label_mean():
    cells = ei_cells()
    splits = ei_splits(cells)
    split_ids = sorted(splits["split"].unique())
    spec = tiny_dann().models["dann_unsupervised"]  # trains on both species
    masks = cs.member_masks("dann_unsupervised", spec, cells, cs.member_roles(cells, splits, split_ids), split_ids)
    for k, split in enumerate(split_ids):
        mouse_train = cells[cells["specimen_id"].isin(ids_in(splits, split, "train")) & (cells["species"] == "mouse")]
        assert masks.source_priors[k] == pytest.approx(mouse_train["excitatory"].mean(), abs=1e-12)


def test_observed_prior_is_read_from_the_human_training_cells_of_its_split():
    cells = ei_cells()
    splits = ei_splits(cells)
    estimates = pd.DataFrame({"model": "m", "split": sorted(splits["split"].unique()), "source_prior": 0.5,
                              "em": 0.5, "bbse": 0.5})
    table = nodes.tabulate_target_priors(estimates, estimates.iloc[:0], cells, splits)
    for split, observed in zip(table["split"], table["observed_human_training_prior"]):
        human_train = cells[cells["specimen_id"].isin(ids_in(splits, split, "train")) & (cells["species"] == "human")]
        assert observed == pytest.approx(human_train["excitatory"].mean(), abs=1e-12)


def test_prior_adjusted_predictions_are_bayes_corrected_to_the_reported_priors(unsupervised_run):
    predictions, priors = unsupervised_run["predictions"], unsupervised_run["priors"]
    for model in ("fcnn_source_only", "dann_unsupervised_reweighted"):
        for split, prior in priors[priors["model"] == model].set_index("split").iterrows():
            raw = predictions[(predictions["model"] == model) & (predictions["split"] == split)]
            adjusted = predictions[(predictions["model"] == f"{model}_prior_adjusted") & (predictions["split"] == split)]
            human = (raw["species"] == "human").to_numpy()
            p, q = raw["probability"].to_numpy(), adjusted["probability"].to_numpy()
            np.testing.assert_array_equal(adjusted["specimen_id"], raw["specimen_id"])
            np.testing.assert_allclose(q[human], _odds_corrected(np.clip(p[human], 1e-6, 1 - 1e-6),
                                                                 prior["source_prior"], prior["em"]), rtol=1e-6)
            np.testing.assert_array_equal(q[~human], p[~human])  # mouse cells keep their posteriors
            assert abs(prior["em"] - prior["source_prior"]) > 1e-3  # the correction does something


def test_calibrated_prior_adjustment_scales_by_the_reported_temperature_then_corrects(unsupervised_run):
    predictions, priors = unsupervised_run["predictions"], unsupervised_run["priors"]
    for model in ("fcnn_source_only", "dann_unsupervised_reweighted"):
        for split, prior in priors[priors["model"] == model].set_index("split").iterrows():
            raw = predictions[(predictions["model"] == model) & (predictions["split"] == split)]
            adjusted = predictions[(predictions["model"] == f"{model}_prior_adjusted_calibrated")
                                   & (predictions["split"] == split)]
            human = (raw["species"] == "human").to_numpy()
            p, q = np.clip(raw["probability"].to_numpy(dtype=float), 1e-7, 1 - 1e-7), adjusted["probability"].to_numpy()
            scaled = 1 / (1 + np.exp(-np.log(p / (1 - p)) / prior["temperature"]))
            np.testing.assert_allclose(q[human], _odds_corrected(np.clip(scaled[human], 1e-6, 1 - 1e-6),
                                                                 prior["source_prior"], prior["em_calibrated"]),
                                       rtol=1e-6)
            np.testing.assert_array_equal(q[~human], raw["probability"].to_numpy()[~human])
            assert prior["temperature"] > 0


def test_the_prior_estimates_read_the_unlabelled_human_training_and_validation_cells(monkeypatch):
    """The EM pool is every human cell the member may see (training and validation cells),
    never a test cell; the temperature comes from the mouse validation cells."""
    cells = ei_cells()
    splits = ei_splits(cells)
    dann = tiny_dann()
    recorder = Recorder(cs.estimate_target_prior)
    monkeypatch.setattr(cs, "estimate_target_prior", recorder)
    cs.train_stack("fcnn_source_only", dann.models["fcnn_source_only"], cells, splits, NAMES, dann.network,
                   dann.training, dann.seed)
    human, mouse = (set(cells.loc[cells["species"] == s, "specimen_id"]) for s in ("human", "mouse"))
    for (args, _), split in zip(recorder.calls, sorted(splits["split"].unique())):
        target_proba, validation_labels = args[0], args[1]
        assert target_proba.shape == (1, len(ids_in(splits, split, "train", "validation") & human))
        assert len(validation_labels) == len(ids_in(splits, split, "validation") & mouse)
    assert len(recorder.calls) == splits["split"].nunique()
