"""What each split's member of a stacked DANN sees: the masks built from the splits table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuron_types.models import cross_species as cs
from neuron_types.splits import repeated_stratified_splits
from tests.params import typed_params
from tests.pipelines.test_dann import synthetic_cells

MODELS = typed_params("dann").models


@pytest.fixture(scope="module")
def cells_and_roles():
    cells = synthetic_cells().sort_values("specimen_id", ignore_index=True)
    splits = repeated_stratified_splits(cells, ["cell_class", "species"], [3, 4, 5], 0.25, 0.25)
    split_ids = sorted(splits["split"].unique())
    return cells, cs.member_roles(cells, splits, split_ids), split_ids


@pytest.mark.parametrize("name", sorted(MODELS))
def test_no_member_sees_its_own_test_cells_or_unlabelled_species(cells_and_roles, name):
    cells, roles, split_ids = cells_and_roles
    spec = MODELS[name]
    priors = {split: 0.7 for split in split_ids}
    masks = cs.member_masks(name, spec, cells, roles, split_ids, priors)
    species = cells["species"].astype(str).to_numpy()
    for weights in (masks.label_weight, masks.domain_weight, masks.validation_weight,
                    masks.validation_domain_weight, masks.train_rows, masks.validation_rows):
        assert not weights[roles == "test"].any()  # a member's test cells weigh nothing
        outside = ~np.isin(species, spec.train_species)
        assert not weights[outside].any()  # nor do the species it does not train on
    unlabelled = ~np.isin(species, spec.labelled_species)
    assert not masks.label_weight[unlabelled].any() and not masks.validation_weight[unlabelled].any()
    # every member learns from its training cells and stops on its validation cells, and only there
    assert ((masks.label_weight > 0) <= (roles == "train")).all()
    assert ((masks.validation_weight > 0) <= (roles == "validation")).all()
    assert (masks.label_weight.sum(axis=0) > 0).all() and (masks.validation_weight.sum(axis=0) > 0).all()
    if spec.domain_head:
        # a model blind to human labels also aligns its unlabelled human validation cells
        aligned = masks.train_rows
        if spec.never_sees_target_labels:
            aligned = aligned | (masks.validation_rows & (species == "human")[:, None])
        assert ((masks.domain_weight > 0) == aligned).all()
        for k in range(len(split_ids)):  # each species half the domain loss of its member
            human = species == "human"
            np.testing.assert_allclose(masks.domain_weight[human, k].sum(), masks.domain_weight[~human, k].sum())
    else:
        assert not masks.domain_weight.any()


def test_a_split_without_a_role_is_named(cells_and_roles):
    cells, _, _ = cells_and_roles
    splits = repeated_stratified_splits(cells, ["cell_class", "species"], [3], 0.25, 0.25)
    splits = splits[splits["role"] != "validation"]
    with pytest.raises(Exception, match="split 0 has no cells in role 'validation'"):
        cs.member_roles(cells, splits, [0])


def test_a_cross_fitted_model_predicts_its_members_mean_and_each_validation_cell_out_of_fold(monkeypatch):
    """``ensemble_members`` 3: a split's test P(excitatory) is the mean of its 3 members'; the
    validation table holds each non-test cell once per split, by the member that stopped on it."""
    from tests.contracts.cells import ei_cells, ei_splits, tiny_dann

    cells = ei_cells()
    splits = ei_splits(cells)
    dann = tiny_dann()
    spec = dann.models["fcnn_joint"].model_copy(update={"ensemble_members": 3})
    recorded = []

    def member_probabilities(model, x):
        recorded.append(real(model, x))
        return recorded[-1]

    real = cs.member_probabilities
    monkeypatch.setattr(cs, "member_probabilities", member_probabilities)
    result = cs.train_stack("joint_3", spec, cells, splits, list(cells.columns[5:]), dann.network, dann.training, 0)
    (members,) = recorded
    assert members.shape == (3 * splits["split"].nunique(), len(cells))
    ordered = cells.sort_values("specimen_id", ignore_index=True)
    for s, (split, rows) in enumerate(result.predictions.groupby("split")):
        test = splits[(splits["split"] == split) & (splits["role"] == "test")]["specimen_id"]
        assert sorted(rows["specimen_id"]) == sorted(test)
        position = ordered.index[ordered["specimen_id"].isin(rows["specimen_id"])]
        np.testing.assert_allclose(rows.sort_values("specimen_id")["probability"],
                                   members[3 * s:3 * s + 3, position].mean(axis=0), rtol=1e-6)
        validation = result.validation[result.validation["split"] == split]
        non_test = splits[(splits["split"] == split) & (splits["role"] != "test")]["specimen_id"]
        assert sorted(validation["specimen_id"]) == sorted(non_test)
    assert set(result.history["ensemble_member"]) == {0, 1, 2}


def test_a_cross_fitted_model_cannot_be_exported():
    from tests.contracts.cells import ei_cells, ei_splits, tiny_dann

    cells = ei_cells()
    dann = tiny_dann()
    spec = dann.models["dann"].model_copy(update={"ensemble_members": 2})
    with pytest.raises(Exception, match="dann.export: dann is a cross-fitted ensemble"):
        cs.train_stack("dann", spec, cells, ei_splits(cells), list(cells.columns[5:]), dann.network, dann.training,
                       0, export_split=0)


def test_a_label_free_model_folds_its_human_cells_by_species_alone(cells_and_roles):
    """Cross-fitting a model that never reads a human label reads none in its folds either:
    flipping every human label leaves every member's roles as they were (a supervised
    model's folds are stratified by label in both species, so its folds change)."""
    from tests.contracts.cells import flip_human_labels

    cells, roles, split_ids = cells_and_roles
    flipped = flip_human_labels(cells)
    blind = [cs.cross_fitted_plan(c, roles, split_ids, 3, 0, ["mouse"]).roles for c in (cells, flipped)]
    np.testing.assert_array_equal(*blind)
    seeing = [cs.cross_fitted_plan(c, roles, split_ids, 3, 0, ["mouse", "human"]).roles for c in (cells, flipped)]
    assert (seeing[0] != seeing[1]).any()


def _odds_corrected(p, source_prior, target_prior):
    odds = p / (1 - p) * (target_prior / (1 - target_prior)) / (source_prior / (1 - source_prior))
    return odds / (1 + odds)


def test_a_cross_fitted_label_free_model_estimates_its_prior_out_of_fold_and_calibrates_each_member(monkeypatch):
    """``fcnn_source_only`` with 3 members per split: the temperature and BBSE read each
    mouse non-test cell once, by the member that stopped on it; EM reads the members' mean
    posterior of the split's non-test human cells; the calibrated prior-adjusted human
    posteriors are the mean of the members' temperature-scaled ones, Bayes-corrected from
    the prior of the mouse cells the members train on to ``em_calibrated``."""
    from scipy.special import expit, logit

    from tests.contracts.cells import Recorder, ei_cells, ei_splits, tiny_dann

    cells = ei_cells()
    splits = ei_splits(cells)
    dann = tiny_dann()
    spec = dann.models["fcnn_source_only"].model_copy(update={"ensemble_members": 3})
    recorded, estimates = [], Recorder(cs.estimate_target_prior)

    def member_probabilities(model, x):
        recorded.append(real(model, x))
        return recorded[-1]

    real = cs.member_probabilities
    monkeypatch.setattr(cs, "member_probabilities", member_probabilities)
    monkeypatch.setattr(cs, "estimate_target_prior", estimates)
    result = cs.train_stack("source_3", spec, cells, splits, list(cells.columns[5:]), dann.network, dann.training, 0)
    (members,) = recorded
    ordered = cells.sort_values("specimen_id", ignore_index=True)
    human, mouse = (ordered["species"] == "human").to_numpy(), (ordered["species"] == "mouse").to_numpy()
    priors = pd.DataFrame(result.priors).set_index("split")
    for s, split in enumerate(sorted(splits["split"].unique())):
        in_split = splits[splits["split"] == split].set_index("specimen_id")["role"]
        role = ordered["specimen_id"].map(in_split).to_numpy()
        (target_proba, labels, validation_proba, source_prior), _ = estimates.calls[s]
        np.testing.assert_array_equal(target_proba, members[3 * s:3 * s + 3][:, (role != "test") & human])
        out_of_fold = result.validation[(result.validation["split"] == split) & (result.validation["species"] == "mouse")]
        assert len(labels) == len(out_of_fold) == ((role != "test") & mouse).sum()
        np.testing.assert_allclose(np.sort(validation_proba), np.sort(out_of_fold["probability"]), rtol=1e-6)
        assert source_prior == pytest.approx(ordered.loc[(role != "test") & mouse, "excitatory"].mean())
        prior = priors.loc[split]
        test_human = (role == "test") & human
        p = np.clip(members[3 * s:3 * s + 3][:, test_human].astype(float), 1e-7, 1 - 1e-7)
        scaled = expit(logit(p) / prior["temperature"]).mean(axis=0)
        calibrated = result.predictions[(result.predictions["model"] == "source_3_prior_adjusted_calibrated")
                                        & (result.predictions["split"] == split)]
        calibrated = calibrated.set_index("specimen_id").loc[ordered.loc[test_human, "specimen_id"], "probability"]
        np.testing.assert_allclose(calibrated, _odds_corrected(np.clip(scaled, 1e-6, 1 - 1e-6), source_prior,
                                                               prior["em_calibrated"]), rtol=1e-6)


def test_missingness_indicators_are_those_of_features_missing_in_training_rows():
    x = np.array([[1.0, np.nan, 3.0], [np.nan, 2.0, 3.0], [1.0, 2.0, np.nan]])
    out, names = cs.with_missingness_indicators(x, ["a", "b", "c"], np.array([True, True, False]))
    # c is missing only outside the training rows: filled there, but no indicator of its own
    assert names == ["a", "b", "c", "missingindicator_a", "missingindicator_b"]
    np.testing.assert_array_equal(out[:, 3:], [[0, 1], [1, 0], [0, 0]])


def test_an_imputing_network_fills_each_members_missing_features_with_its_training_mean(monkeypatch):
    """``imputation: mean``: each member's scaler holds the mean and variance of the values
    present in its training rows, a missing value enters its network as 0 (that mean), a
    missingness indicator joins the input, and every test cell gets a probability."""
    from neuron_types.models import stacked_training
    from tests.contracts.cells import NAMES, Recorder, ei_cells, ei_splits, tiny_dann

    cells = ei_cells()
    cells.loc[cells.index % 5 == 0, NAMES[0]] = np.nan
    splits = ei_splits(cells)
    dann = tiny_dann()
    spec = dann.models["fcnn_joint"].model_copy(update={"imputation": "mean"})
    fit = Recorder(stacked_training.fit_stacked)
    monkeypatch.setattr(cs, "fit_stacked", fit)
    result = cs.train_stack("joint_imputed", spec, cells, splits, NAMES, dann.network, dann.training, 0)
    (model, data, _), _ = fit.calls[0]
    missing = np.isnan(data.x[:, 0])
    assert missing.any() and data.x.shape[1] == len(NAMES) + 1
    np.testing.assert_array_equal(data.x[:, -1], missing)  # the indicator of the one feature with gaps
    mean, variance = (np.asarray(v) for v in (model.scaler.mean, model.scaler.variance))
    for k in range(data.n_members):
        present = data.x[data.scaler_rows[:, k], 0]
        np.testing.assert_allclose(mean[k, 0], np.nanmean(present), rtol=1e-5)
        np.testing.assert_allclose(variance[k, 0], np.nanvar(present), rtol=1e-5)
    scaled = np.asarray(model.scaler(data.x))
    assert np.isfinite(scaled).all() and (scaled[:, missing, 0] == 0).all()
    for split, rows in result.predictions.groupby("split"):
        test = splits[(splits["split"] == split) & (splits["role"] == "test")]["specimen_id"]
        assert sorted(rows["specimen_id"]) == sorted(test) and rows["probability"].between(0, 1).all()


def test_only_an_imputing_network_may_read_missing_features():
    from neuron_types.models.stacked_training import StackedData

    x = np.array([[1.0, np.nan], [2.0, 3.0]])
    zeros = np.zeros((2, 1))
    with pytest.raises(ValueError, match="expected a non-empty, finite 2-D feature matrix"):
        StackedData.build(x, [0, 1], [0, 0], [[1], [0]], zeros, [[0], [1]])
    StackedData.build(x, [0, 1], [0, 0], [[1], [0]], zeros, [[0], [1]], allow_missing=True)
    with pytest.raises(ValueError, match="finite or missing"):
        StackedData.build(np.where(np.isnan(x), np.inf, x), [0, 1], [0, 0], [[1], [0]], zeros, [[0], [1]],
                          allow_missing=True)
