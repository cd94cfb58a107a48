import pandas as pd
import pytest

from neuron_types.donors import fold_sizes, nearest_neighbour_same_donor


def test_nearest_neighbour_share_and_its_chance_by_hand():
    # class a: donor 1 at x = 0, 0.1 and donor 2 at x = 5, 5.1 -> every neighbour from the
    # own donor; chance per cell (2 - 1) / (4 - 1) = 1/3. Class b: donors 3, 4 at 0 and 0.2,
    # one cell each -> never the own donor; chance 0. Over 6 cells: 4/6 and (4 * 1/3) / 6.
    cells = pd.DataFrame({
        "x": [0.0, 0.1, 5.0, 5.1, 0.0, 0.2],
        "y": [0.0, 0.0, 0.0, 0.0, 1.0, 1.0],
        "label": list("aaaabb"),
        "donor_id": [1, 1, 2, 2, 3, 4],
    })
    result = nearest_neighbour_same_donor(cells, ["x", "y"], "label")
    assert result == {"cells": 6, "same_donor": pytest.approx(4 / 6), "chance": pytest.approx(4 / 3 / 6)}


def test_fold_sizes_counts_each_role_and_species():
    cells = pd.DataFrame({"specimen_id": [1, 2, 3], "species": ["mouse", "mouse", "human"]})
    splits = pd.DataFrame({"split": [0, 0, 0, 1, 1, 1], "specimen_id": [1, 2, 3, 1, 2, 3],
                           "role": ["train", "test", "train", "test", "train", "train"]})
    sizes = fold_sizes(splits, cells)
    assert sizes.loc[0, ("train", "mouse")] == 1 and sizes.loc[0, ("train", "human")] == 1
    assert sizes.loc[1, ("test", "mouse")] == 1 and sizes.loc[1, ("train", "mouse")] == 1
