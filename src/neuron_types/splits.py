"""Repeated stratified train/validation/test splits, stored as data so that every model
is scored on the same test cells. Kedro-free."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from neuron_types.errors import InputError

ROLES = ("train", "validation", "test")


def repeated_stratified_splits(
    cells: pd.DataFrame,
    strata: Sequence[str],
    seeds: Sequence[int],
    test_fraction: float,
    validation_fraction: float,
) -> pd.DataFrame:
    """One train/validation/test assignment of every cell per seed.

    Stratified jointly on the ``strata`` columns (for example label and species), so that
    each role keeps the cohort's class balance within each species. ``validation_fraction``
    is a fraction of all cells, taken from what remains after the test cells.

    Returns a long table: ``split`` (0..R-1), ``seed``, ``specimen_id``, ``role``.
    """
    if not 0 < test_fraction < 1 or not 0 < validation_fraction < 1 - test_fraction:
        raise InputError(
            f"splits: expected 0 < test_fraction < 1 and 0 < validation_fraction < 1 - "
            f"test_fraction, got test_fraction={test_fraction}, "
            f"validation_fraction={validation_fraction}"
        )
    if len(set(seeds)) != len(seeds) or not seeds:
        raise InputError(f"splits.seeds: expected distinct integers, got {list(seeds)}")
    strata_key = cells[list(strata)].astype(str).agg("|".join, axis=1)
    smallest = strata_key.value_counts()
    too_small = smallest[smallest < 3]
    if not too_small.empty:
        raise InputError(
            f"splits: every stratum of {list(strata)} needs at least 3 cells (one per role); "
            f"too small: {too_small.to_dict()}"
        )
    n_strata = strata_key.nunique()
    n_test = int(np.ceil(test_fraction * len(cells)))
    n_validation = int(np.ceil(validation_fraction * len(cells)))
    if min(n_test, n_validation) < n_strata:
        raise InputError(
            f"splits: test_fraction={test_fraction} and validation_fraction="
            f"{validation_fraction} of {len(cells)} cells give {n_test} test and {n_validation} "
            f"validation cells, fewer than the {n_strata} strata of {list(strata)}; expected "
            "fractions large enough for one cell of every stratum in each role."
        )
    ids = cells["specimen_id"].to_numpy()
    tables = []
    for split, seed in enumerate(seeds):
        rest, test = train_test_split(
            ids, test_size=test_fraction, stratify=strata_key, random_state=seed
        )
        in_rest = cells["specimen_id"].isin(rest).to_numpy()
        rest_key = strata_key.to_numpy()[in_rest]
        rest_ids = ids[in_rest]
        train, validation = train_test_split(
            rest_ids,
            test_size=validation_fraction / (1 - test_fraction),
            stratify=rest_key,
            random_state=seed,
        )
        for role, members in zip(ROLES, (train, validation, test)):
            tables.append(
                pd.DataFrame({"split": split, "seed": seed, "specimen_id": members, "role": role})
            )
    out = pd.concat(tables, ignore_index=True)
    out["split"] = out["split"].astype("int64")
    out["seed"] = out["seed"].astype("int64")
    out["specimen_id"] = out["specimen_id"].astype("int64")
    return out.sort_values(["split", "role", "specimen_id"], ignore_index=True)


def cells_in_role(
    model_input: pd.DataFrame, splits: pd.DataFrame, split: int, role: str | Sequence[str]
) -> pd.DataFrame:
    """The rows of ``model_input`` that split ``split`` puts in ``role`` (one role, or any of
    several, e.g. ``("train", "validation")``), sorted by specimen id."""
    roles = [role] if isinstance(role, str) else list(role)
    in_split = splits[splits["split"] == split]
    for one in roles:
        if one not in ROLES:
            raise InputError(f"role: expected one of {ROLES}, got {one!r}")
        if not (in_split["role"] == one).any():
            raise InputError(f"splits: split {split} has no cells in role {one!r}")
    members = in_split.loc[in_split["role"].isin(roles), "specimen_id"]
    chosen = model_input[model_input["specimen_id"].isin(members)]
    return chosen.sort_values("specimen_id", ignore_index=True)
