"""Protocol v2 on the real ACTD dump (../shared/actd or NEURON_TYPES_ACTD_DIR): donors and
recording rates in the cohort, how alike one donor's cells are, and the folds of the
default donor-grouped protocol. Kedro-free (the nodes called directly)."""

import pandas as pd
import pytest

from neuron_types.donors import fold_sizes, nearest_neighbour_same_donor
from neuron_types.io import read_actd_dump
from neuron_types.pipelines.feature_engineering.nodes import (
    assemble_features,
    build_cohort,
    build_ei_model_input,
    build_subclass_model_input,
    split_ei_cells,
    split_subclass_cells,
)
from neuron_types.pipelines.ingestion.nodes import validate_actd_dump
from neuron_types.splits import make_splits
from tests.conftest import real_actd_dir, skip_unless_ci
from tests.params import typed_params
from tests.pipelines.test_feature_engineering import assert_no_leak

pytestmark = pytest.mark.real_data

PARAMS = typed_params("feature_engineering")
INGESTION = typed_params("ingestion")
STRATA = PARAMS.splits.ei_strata


@pytest.fixture(scope="module")
def real_actd():  # conftest's lookup, at module scope so that the tables are built once
    folder = real_actd_dir()
    if folder is None:
        skip_unless_ci("no real ACTD dump: set NEURON_TYPES_ACTD_DIR or place it at ../shared/actd")
    return folder


@pytest.fixture(scope="module")
def real(real_actd):
    dump = read_actd_dump(real_actd, allow_download=False)
    cells, ephys, noise = validate_actd_dump(dump, INGESTION)
    cohort = build_cohort(cells, noise, PARAMS)
    ei = build_ei_model_input(assemble_features(cohort, ephys, noise, PARAMS), PARAMS)
    # the reference's cohort: the labelled cells with noise-sweep features
    return cohort[cohort["specimen_id"].isin(noise["specimen_id"])].reset_index(drop=True), ei


def test_cohort_donors_and_recording_rates(real):
    cohort, ei = real
    donors = cohort.groupby("species")["donor_id"].agg(["size", "nunique"])
    assert donors.loc["human"].tolist() == [299, 41] and donors.loc["mouse"].tolist() == [1424, 809]
    assert cohort.groupby("donor_id")["species"].nunique().max() == 1
    rates = cohort.groupby("species")["sampling_rate_khz"].value_counts(dropna=False).to_dict()
    # 11 of 299 human cells (3.7%) and 696 of 1424 mouse cells (48.9%) at 200 kHz; one mouse
    # cell has no short-square spike in short_square_spikes.npz
    assert rates == {("human", 50): 288, ("human", 200): 11, ("mouse", 50): 727, ("mouse", 200): 696, ("mouse", pd.NA): 1}
    assert set(cohort["reporter_status"].dropna()) == {"positive", "negative"}
    assert ei["donor_id"].dtype == "int64" and ei.groupby("species")["donor_id"].nunique().to_dict() == {"human": 41, "mouse": 794}


def test_a_human_cells_nearest_same_class_neighbour_is_from_its_donor_far_above_chance(real):
    _, ei = real
    human = nearest_neighbour_same_donor(ei[ei["species"] == "human"], PARAMS.features.names, "cell_class")
    # measured: 42 of 299 (14.0%), against 3.8% for a same-class neighbour drawn at random
    assert human["cells"] == 299
    assert human["same_donor"] == pytest.approx(42 / 299)
    assert human["chance"] == pytest.approx(0.0381, abs=5e-4)


def test_default_protocol_folds_on_the_real_cells(real):
    _, ei = real
    splits = make_splits(ei, "donor_grouped_cv", STRATA, (11, 23, 37), PARAMS.splits.validation_fraction)
    donor = ei.set_index("specimen_id")["donor_id"]
    for _, one in splits.groupby("split"):
        test = set(donor[one.loc[one["role"] == "test", "specimen_id"]])
        rest = set(donor[one.loc[one["role"] != "test", "specimen_id"]])
        assert not test & rest
    sizes = fold_sizes(splits, ei)
    # measured over the 15 folds: human test 59-62, validation 46-52, train 187-194 cells
    assert sizes[("test", "human")].between(59, 62).all()
    assert sizes[("validation", "human")].between(46, 52).all()
    assert sizes[("test", "mouse")].between(275, 277).all()


def test_the_split_nodes_leak_no_donor_on_the_real_cells(real):
    cohort, ei = real
    subclass = build_subclass_model_input(
        ei.merge(cohort[["specimen_id", "transgenic_line", "subclass"]], on="specimen_id"), PARAMS)
    for node, model_input in ((split_ei_cells, ei), (split_subclass_cells, subclass)):
        splits = node(model_input, PARAMS)
        assert splits["split"].nunique() == 15 and (splits["protocol"] == "donor_grouped_cv").all()
        assert_no_leak(splits, model_input)


def test_the_every_labelled_cell_pool_leaks_no_donor_on_the_real_cells(real_actd):
    from neuron_types.pipelines.feature_engineering.every_cell import build_ei_every_cell_model_input, split_ei_every_cell

    dump = read_actd_dump(real_actd, allow_download=False)
    cells, ephys, noise = validate_actd_dump(dump, INGESTION)
    every = build_ei_every_cell_model_input(assemble_features(build_cohort(cells, noise, PARAMS), ephys, noise,
                                                              PARAMS), PARAMS)
    counts = every.groupby(["species", "complete_features"]).size().to_dict()
    # 101 human and 193 + 42 mouse labelled cells lack a feature group (issue 12's counts)
    assert counts == {("human", False): 101, ("human", True): 299, ("mouse", False): 235, ("mouse", True): 1382}
    ei = every[every["complete_features"]].drop(columns="complete_features")
    splits = split_ei_every_cell(split_ei_cells(ei, PARAMS), every, PARAMS)
    assert splits["split"].nunique() == 15
    assert_no_leak(splits, every)
