"""Protocol v2 splits: repeated K-fold cross-validation grouped by donor (and by cell, and
the older random splits) through ``make_splits``."""

import numpy as np
import pandas as pd
import pytest

from neuron_types.splits import (
    cells_in_role,
    make_splits,
    repeated_grouped_cv,
    repeated_stratified_splits,
)

STRATA = ["cell_class", "species"]
K, SEEDS = 5, (11, 23, 37)


def _cells(seed: int = 0) -> pd.DataFrame:
    """Human donors of 1-12 cells of both classes (mostly excitatory), mouse donors of 1-3."""
    rng = np.random.default_rng(seed)
    rows, specimen = [], 100
    for species, n_donors, largest, p_excitatory in (("human", 14, 12, 0.75), ("mouse", 50, 3, 0.5)):
        for donor in range(n_donors):
            for _ in range(rng.integers(1, largest + 1)):
                specimen += 1
                cell_class = "excitatory" if rng.random() < p_excitatory else "inhibitory"
                rows.append((specimen, species, (1 if species == "human" else 2) * 1000 + donor, cell_class))
    return pd.DataFrame(rows, columns=["specimen_id", "species", "donor_id", "cell_class"])


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return _cells()


@pytest.fixture(scope="module")
def grouped(cells) -> pd.DataFrame:
    return repeated_grouped_cv(cells, STRATA, SEEDS, n_folds=K, validation_fraction=0.15)


def test_no_donor_or_cell_of_a_test_fold_is_trained_or_validated_on(cells, grouped):
    donor = cells.set_index("specimen_id")["donor_id"]
    assert grouped["split"].nunique() == K * len(SEEDS)
    for split, one in grouped.groupby("split"):
        roles = {role: set(ids) for role, ids in one.groupby("role")["specimen_id"]}
        assert set(roles) == {"train", "validation", "test"}
        assert one["specimen_id"].is_unique and set(one["specimen_id"]) == set(cells["specimen_id"])
        donors = {role: set(donor[list(ids)]) for role, ids in roles.items()}
        assert not donors["test"] & (donors["train"] | donors["validation"]), split
        assert not donors["validation"] & donors["train"], split
        repeat, fold = one["repeat"].iloc[0], one["fold"].iloc[0]
        assert split == repeat * K + fold and one["seed"].iloc[0] == SEEDS[repeat]


def test_every_cell_is_tested_exactly_once_per_repeat(cells, grouped):
    tests = grouped[grouped["role"] == "test"]
    for repeat, one in tests.groupby("repeat"):
        assert sorted(one["specimen_id"]) == sorted(cells["specimen_id"]), repeat
        assert one["fold"].nunique() == K
    # repeats reshuffle: the first repeat's folds are not the second's
    fold_sets = tests.groupby(["repeat", "fold"])["specimen_id"].apply(frozenset)
    assert set(fold_sets[0]) != set(fold_sets[1])


def test_test_folds_keep_strata_within_one_donor_of_the_target(cells, grouped):
    """With groups a donor's cells move together: the guarantee we test is that a test
    fold's count of a stratum is within the largest single-donor count of that stratum of
    its target (stratum size / K). Without groups it is within one cell."""
    key = cells[STRATA].astype(str).agg("|".join, axis=1)
    stratum = pd.Series(key.to_numpy(), index=cells["specimen_id"])
    size = stratum.value_counts()
    largest_donor = cells.assign(stratum=key.to_numpy()).groupby(["stratum", "donor_id"]).size().groupby("stratum").max()
    by_cell = repeated_grouped_cv(cells, STRATA, SEEDS, n_folds=K, group=None)
    for table, tolerance in ((grouped, largest_donor), (by_cell, pd.Series(1, index=size.index))):
        tests = table[table["role"] == "test"]
        counts = tests.assign(stratum=stratum[tests["specimen_id"]].to_numpy()).groupby(["split", "stratum"]).size()
        deviation = (counts.unstack(fill_value=0) - size / K).abs()
        within = deviation.le(tolerance.reindex(deviation.columns), axis="columns")
        assert within.all().all(), deviation.max().to_dict()


def test_validation_is_about_the_asked_fraction_and_cell_level_ignores_donors(cells, grouped):
    # round((1 - 1/5) / 0.15) = 5 inner folds: validation ~ 0.8 / 5 = 16% of all cells
    share = grouped.groupby(["split", "role"]).size().unstack()["validation"] / len(cells)
    assert share.between(0.10, 0.22).all(), share.describe().to_dict()
    by_cell = make_splits(cells, "cell_level_cv", STRATA, SEEDS, validation_fraction=0.15, n_folds=K)
    validation = by_cell[by_cell["role"] == "validation"].groupby("split").size() / len(cells)
    assert validation.between(0.155, 0.165).all()  # 0.8 N / 5 cells, exactly up to rounding
    donor = cells.set_index("specimen_id")["donor_id"]
    shared = [bool(set(donor[g.query("role == 'test'")["specimen_id"]]) & set(donor[g.query("role == 'train'")["specimen_id"]]))
              for _, g in by_cell.groupby("split")]
    assert any(shared)  # what donor grouping prevents does happen by cell


def test_same_seeds_same_splits_and_cells_in_role_reads_them(cells, grouped):
    again = make_splits(cells, "donor_grouped_cv", STRATA, SEEDS, validation_fraction=0.15, n_folds=K)
    assert (again["protocol"] == "donor_grouped_cv").all()
    pd.testing.assert_frame_equal(grouped, again.drop(columns="protocol"))
    train = cells_in_role(cells, grouped, 7, ("train", "validation"))
    test = cells_in_role(cells, grouped, 7, "test")
    assert len(train) + len(test) == len(cells) and not set(train["specimen_id"]) & set(test["specimen_id"])


def test_random_splits_protocol_is_the_old_function(cells):
    old = repeated_stratified_splits(cells, STRATA, [1, 2], 0.2, 0.15)
    random = make_splits(cells, "random_splits", STRATA, [1, 2], 0.15, test_fraction=0.2)
    assert (random["protocol"] == "random_splits").all()
    pd.testing.assert_frame_equal(random.drop(columns="protocol"), old)
    with pytest.raises(ValueError, match="splits.test_fraction: the random_splits protocol needs a test fraction"):
        make_splits(cells, "random_splits", STRATA, [1], 0.15)
    with pytest.raises(ValueError, match=r"splits.protocol: expected one of \['donor_grouped_cv', 'cell_level_cv', 'random_splits'\], got 'loo'"):
        make_splits(cells, "loo", STRATA, [1], 0.15)


def test_strata_too_small_for_the_folds_are_named_with_their_count():
    cells = _cells()
    human_inhibitory = (cells["species"] == "human") & (cells["cell_class"] == "inhibitory")
    three_donors = cells.loc[human_inhibitory, "donor_id"].drop_duplicates().head(3)
    few = cells[~human_inhibitory | cells["donor_id"].isin(three_donors)]
    with pytest.raises(ValueError, match=r"splits.n_folds=5: stratum 'inhibitory\|human' of \['cell_class', 'species'\] has 3 distinct donor_id values, fewer than the 5 needed"):
        repeated_grouped_cv(few, STRATA)
    tiny = pd.DataFrame({"specimen_id": range(12), "subclass": list("aaaaaaaaabbb")})
    with pytest.raises(ValueError, match=r"stratum 'b' of \['subclass'\] has 3 cells, fewer than the 5 needed"):
        repeated_grouped_cv(tiny, ["subclass"], group=None)


def test_bad_parameters_are_named():
    cells = _cells()
    with pytest.raises(ValueError, match=r"splits.validation_fraction: expected 0 < validation_fraction < 1 - 1/n_folds = 0.8"):
        repeated_grouped_cv(cells, STRATA, validation_fraction=0.85)
    with pytest.raises(ValueError, match="splits.n_folds: expected an integer of at least 2, got 1"):
        repeated_grouped_cv(cells, STRATA, n_folds=1)
    with pytest.raises(ValueError, match=r"splits.seeds: expected distinct integers, one per repeat, got \[3, 3\]"):
        repeated_grouped_cv(cells, STRATA, seeds=[3, 3])
    with pytest.raises(ValueError, match=r"column 'donor_id' \(the groups of donor_grouped_cv\) is missing"):
        repeated_grouped_cv(cells.drop(columns="donor_id"), STRATA)
    with pytest.raises(ValueError, match=r"column 'donor_id' has 1 missing values; expected a donor_id for every cell"):
        repeated_grouped_cv(cells.assign(donor_id=cells["donor_id"].where(cells.index != 3)), STRATA)


def test_extended_folds_keep_a_new_donor_whose_cells_span_strata_in_one_test_fold():
    from neuron_types.splits import extend_folds

    rng = np.random.default_rng(0)
    old = pd.DataFrame({"specimen_id": np.arange(60), "donor_id": np.arange(60) // 3,
                        "cell_class": np.where(np.arange(60) % 2 == 0, "excitatory", "inhibitory")})
    folds = repeated_grouped_cv(old, ["cell_class"], seeds=[1, 2], n_folds=3, validation_fraction=0.2)
    # new donors 100-111, each with an excitatory and an inhibitory cell; donor 0 is known
    new = pd.DataFrame({"specimen_id": np.arange(100, 126), "donor_id": [*np.repeat(np.arange(100, 112), 2), 0, 0],
                        "cell_class": ["excitatory", "inhibitory"] * 13})
    cells = pd.concat([old, new], ignore_index=True).sample(frac=1, random_state=int(rng.integers(100)))
    extended = extend_folds(folds, cells, ["cell_class"])
    joined = extended.merge(cells, on="specimen_id")
    for (split, repeat), rows in joined.groupby(["split", "repeat"]):
        assert rows.groupby("donor_id")["role"].nunique().max() == 1, split  # one role per donor and split
    new_rows = joined[joined["specimen_id"] >= 100]
    # each new cell is a test cell once per repeat, known donor 0's cells follow donor 0
    assert (new_rows[new_rows["role"] == "test"].groupby(["repeat", "specimen_id"]).size() == 1).all()
    known = joined[joined["donor_id"] == 0].groupby("split")["role"].nunique()
    assert (known == 1).all()
    pd.testing.assert_frame_equal(extended[extended["specimen_id"] < 60].reset_index(drop=True), folds)
