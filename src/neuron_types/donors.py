"""How much cells of one donor resemble each other, and what a protocol's folds hold:
the measurements behind grouping the splits by donor (docs/evaluation.md, Protocol v2).
Kedro-free."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import pairwise_distances
from sklearn.preprocessing import StandardScaler


def nearest_neighbour_same_donor(
    cells: pd.DataFrame,
    features: Sequence[str],
    label: str,
    group: str = "donor_id",
) -> dict[str, float]:
    """How often a cell's nearest neighbour of its own ``label`` shares its ``group``.

    Features are standardised over ``cells``; distances are Euclidean. ``chance`` is what a
    neighbour drawn at random among the other cells of the same label would give: the mean
    over cells of (cells of its label and group − 1) / (cells of its label − 1). A cell
    alone in its label has no neighbour and is left out of both.
    """
    x = StandardScaler().fit_transform(cells[list(features)].to_numpy(dtype=float))
    same, chance = [], []
    for _, rows in cells.groupby(label).indices.items():
        if len(rows) < 2:
            continue
        distances = pairwise_distances(x[rows])
        np.fill_diagonal(distances, np.inf)
        groups = cells[group].to_numpy()[rows]
        same.append(groups[distances.argmin(axis=1)] == groups)
        in_group = pd.Series(groups).map(pd.Series(groups).value_counts()).to_numpy()
        chance.append((in_group - 1) / (len(rows) - 1))
    same, chance = np.concatenate(same), np.concatenate(chance)
    return {"cells": int(len(same)), "same_donor": float(same.mean()), "chance": float(chance.mean())}


def fold_sizes(splits: pd.DataFrame, cells: pd.DataFrame, by: str = "species") -> pd.DataFrame:
    """Cells per split, role and ``by`` value: one row per split, columns (role, value)."""
    joined = splits.merge(cells[["specimen_id", by]], on="specimen_id", how="left")
    return joined.groupby(["split", "role", by]).size().unstack(["role", by], fill_value=0)
