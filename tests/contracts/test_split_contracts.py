"""Contract 5: stratification on two columns at once and donor grouping. Counted from the
splits table itself, against targets computed from the cells table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuron_types.splits import make_splits

STRATA = ["cell_class", "species"]
K = 4


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    """Human donors of up to 10 cells, mouse donors of up to 3; the species differ in class balance."""
    rng = np.random.default_rng(1)
    rows, specimen = [], 0
    for species, donors, largest, p_excitatory in (("human", 20, 10, 0.75), ("mouse", 90, 3, 0.45)):
        for donor in range(donors):
            for _ in range(rng.integers(1, largest + 1)):
                specimen += 1
                rows.append((specimen, species, f"{species}{donor}",
                             "excitatory" if rng.random() < p_excitatory else "inhibitory"))
    return pd.DataFrame(rows, columns=["specimen_id", "species", "donor_id", "cell_class"])


def _joined(splits: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    return splits.merge(cells, on="specimen_id", how="left", validate="many_to_one")


def test_cell_level_folds_keep_every_two_column_stratum_within_one_cell_of_its_target(cells):
    splits = make_splits(cells, "cell_level_cv", STRATA, [11, 12], validation_fraction=0.15, n_folds=K)
    joined = _joined(splits, cells)
    sizes = cells.groupby(STRATA).size()
    for _, fold in joined[joined["role"] == "test"].groupby("split"):
        counts = fold.groupby(STRATA).size().reindex(sizes.index, fill_value=0)
        assert (np.abs(counts - sizes / K) < 1).all(), counts - sizes / K


def test_random_splits_keep_every_two_column_stratum_within_one_cell_of_its_target(cells):
    splits = make_splits(cells, "random_splits", STRATA, [11, 12], validation_fraction=0.2, test_fraction=0.25)
    joined = _joined(splits, cells)
    sizes = cells.groupby(STRATA).size()
    for _, test in joined[joined["role"] == "test"].groupby("split"):
        counts = test.groupby(STRATA).size().reindex(sizes.index, fill_value=0)
        assert (np.abs(counts - sizes * 0.25) <= 1).all(), counts - sizes * 0.25


def test_no_donor_is_on_two_sides_of_any_grouped_split(cells):
    splits = make_splits(cells, "donor_grouped_cv", STRATA, [11, 12], validation_fraction=0.15, n_folds=K)
    joined = _joined(splits, cells)
    for split, rows in joined.groupby("split"):
        donors = {role: set(rows.loc[rows["role"] == role, "donor_id"]) for role in ("train", "validation", "test")}
        assert not donors["test"] & (donors["train"] | donors["validation"]), split
        assert not donors["validation"] & donors["train"], split
    # and the grouped protocol still stratifies: each stratum within one donor's cells of its target
    sizes = cells.groupby(STRATA).size()
    largest = cells.groupby([*STRATA, "donor_id"]).size().groupby(STRATA).max()
    for _, fold in joined[joined["role"] == "test"].groupby("split"):
        counts = fold.groupby(STRATA).size().reindex(sizes.index, fill_value=0)
        assert (np.abs(counts - sizes / K) <= largest).all()
