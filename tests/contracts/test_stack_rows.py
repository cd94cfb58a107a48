"""Contracts 1 and 2 for every stacked network of the dann pipeline: the cells each split's
member is fitted, stopped and scaled on are exactly those its split and its model allow
(never a test cell; a model blind to human labels also aligns its human validation cells,
whose labels it never reads), and its input scaler holds their mean and variance.

A recording stub stops ``fit_stacked`` where the minibatches are cut, so nothing trains:
what is checked is what the fit was given, not what it produced."""

from __future__ import annotations

import numpy as np
import pytest

from neuron_types.models import cross_species as cs
from neuron_types.models import stacked_training
from tests.contracts.cells import NAMES, Recorder, RowIds, Stop, ei_cells, ei_splits, ids_in, ids_of_species, tiny_dann

PARAMS = tiny_dann()
MODELS = PARAMS.models
CROSS_FITTED = sorted(name for name, spec in MODELS.items() if spec.ensemble_members > 1)


def _ids(row_ids: RowIds, x, mask) -> set[int]:
    return set(row_ids(np.asarray(x)[np.asarray(mask, dtype=bool)]))


@pytest.fixture(scope="module")
def cells_and_splits():
    cells = ei_cells()
    return cells, ei_splits(cells), RowIds(cells, NAMES)


def _given_to_fit(monkeypatch, name, cells, splits):
    """The StackedData, the stack and each member's minibatch rows that ``train_stack`` hands
    its fit, stopped before the first step."""
    fit = Recorder(stacked_training.fit_stacked)
    batches = Recorder(stop=True)
    monkeypatch.setattr(cs, "fit_stacked", fit)
    monkeypatch.setattr(stacked_training, "member_batches", batches)
    priors = {split: 0.7 for split in splits["split"].unique()}
    with pytest.raises(Stop):
        cs.train_stack(name, MODELS[name], cells, splits, NAMES, PARAMS.network, PARAMS.training, PARAMS.seed,
                       target_priors=priors)
    (model, data, _), _ = fit.calls[0]
    (_, _, rows, *_), _ = batches.calls[0]
    return model, data, rows


@pytest.mark.parametrize("name", sorted(set(MODELS) - set(CROSS_FITTED)))
def test_each_member_fits_stops_and_scales_on_its_allowed_cells_only(monkeypatch, cells_and_splits, name):
    cells, splits, row_ids = cells_and_splits
    spec = MODELS[name]
    model, data, batch_rows = _given_to_fit(monkeypatch, name, cells, splits)
    species = ids_of_species(cells, spec.train_species)
    labelled = ids_of_species(cells, spec.labelled_species)
    human = ids_of_species(cells, ["human"])
    for k, split in enumerate(sorted(splits["split"].unique())):
        train = ids_in(splits, split, "train") & species
        validation = ids_in(splits, split, "validation") & species
        test = ids_in(splits, split, "test")
        # a model blind to human labels also aligns its unlabelled human validation cells
        aligned = train | (validation & human) if spec.never_sees_target_labels else train
        assert _ids(row_ids, data.x, data.label_weight[:, k] > 0) == train & labelled
        assert _ids(row_ids, data.x, data.domain_weight[:, k] > 0) == (aligned if spec.domain_head else set())
        assert _ids(row_ids, data.x, data.validation_weight[:, k] > 0) == validation & labelled
        assert _ids(row_ids, data.x, data.validation_domain_weight[:, k] > 0) <= validation
        assert _ids(row_ids, data.x, data.scaler_rows[:, k]) == train
        # its minibatches
        assert set(row_ids(data.x[batch_rows[k]])) == (aligned if spec.domain_head else train)
        for weights in (data.label_weight, data.domain_weight, data.validation_weight,
                        data.validation_domain_weight, data.scaler_rows):
            assert not test & _ids(row_ids, data.x, weights[:, k] > 0)

        # contract 2: its scaler holds the mean and population variance of its training cells
        rows = cells[cells["specimen_id"].isin(train)]
        design = rows[NAMES].to_numpy(dtype=float)
        if spec.species_feature:
            design = np.column_stack([design, rows["domain"].to_numpy(dtype=float)])
        np.testing.assert_allclose(model.scaler.mean.numpy()[k], design.mean(axis=0), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(model.scaler.variance.numpy()[k], design.var(axis=0), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", CROSS_FITTED)
def test_each_cross_fitted_member_fits_on_its_splits_other_folds_and_stops_on_its_own(monkeypatch, cells_and_splits,
                                                                                     name):
    """Member j of split s: trained on the split's non-test cells but its fold, stopped on its
    fold; the folds partition the non-test cells, no donor on both sides, no test cell anywhere."""
    cells, splits, row_ids = cells_and_splits
    cells = cells.assign(donor_id=(cells["specimen_id"] // 3).astype(str))
    donor_of = dict(zip(cells["specimen_id"].astype(int), cells["donor_id"]))
    spec = MODELS[name]
    model, data, batch_rows = _given_to_fit(monkeypatch, name, cells, splits)
    species, labelled = ids_of_species(cells, spec.train_species), ids_of_species(cells, spec.labelled_species)
    human = ids_of_species(cells, ["human"])
    split_ids = sorted(splits["split"].unique())
    assert data.n_members == spec.ensemble_members * len(split_ids)
    for s, split in enumerate(split_ids):
        non_test = ids_in(splits, split, "train", "validation") & species
        test = ids_in(splits, split, "test")
        folds = []
        for j in range(spec.ensemble_members):
            k = s * spec.ensemble_members + j
            assert model.seeds[k] == (PARAMS.seed + split) * 100 + j
            train = _ids(row_ids, data.x, data.scaler_rows[:, k])
            stop = _ids(row_ids, data.x, (data.validation_weight[:, k] > 0) | (data.validation_domain_weight[:, k] > 0))
            assert train | stop == non_test and not train & stop
            assert _ids(row_ids, data.x, data.label_weight[:, k] > 0) == train & labelled
            assert _ids(row_ids, data.x, data.validation_weight[:, k] > 0) == stop & labelled
            # a model blind to human labels also aligns its fold's unlabelled human cells
            aligned = train | (stop & human) if spec.never_sees_target_labels and spec.domain_head else train
            assert set(row_ids(data.x[batch_rows[k]])) == aligned
            assert not {donor_of[i] for i in train} & {donor_of[i] for i in stop}
            for weights in (data.label_weight, data.domain_weight, data.validation_weight, data.scaler_rows):
                assert not test & _ids(row_ids, data.x, weights[:, k] > 0)
            folds.append(stop)
        assert set().union(*folds) == non_test and sum(map(len, folds)) == len(non_test)
