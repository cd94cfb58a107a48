"""Train/validation/test assignments of cells, stored as data so that every model is
scored on the same test cells. Kedro-free.

Three protocols (:func:`make_splits`): ``donor_grouped_cv`` (repeated K-fold
cross-validation, no donor on both sides of a fold), ``cell_level_cv`` (the same by cell,
to measure what grouping changes) and ``random_splits`` (independent random splits, the
protocol before v2; see docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from neuron_types.errors import InputError

ROLES = ("train", "validation", "test")
PROTOCOLS = ("donor_grouped_cv", "cell_level_cv", "random_splits")
DEFAULT_REPEAT_SEEDS = (11, 23, 37)


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


def make_splits(
    cells: pd.DataFrame,
    protocol: str,
    strata: Sequence[str],
    seeds: Sequence[int],
    validation_fraction: float,
    n_folds: int = 5,
    test_fraction: float | None = None,
    group: str = "donor_id",
) -> pd.DataFrame:
    """The splits of one named ``protocol`` (one of :data:`PROTOCOLS`).

    ``donor_grouped_cv``: :func:`repeated_grouped_cv` grouped by ``group``, one repeat per
    seed. ``cell_level_cv``: the same without groups. ``random_splits``:
    :func:`repeated_stratified_splits` (needs ``test_fraction``; ``n_folds`` unused). The
    table of either gets a ``protocol`` column holding ``protocol``.
    """
    if protocol == "random_splits":
        if test_fraction is None:
            raise InputError("splits.test_fraction: the random_splits protocol needs a test fraction, got none")
        table = repeated_stratified_splits(cells, strata, seeds, test_fraction, validation_fraction)
    elif protocol in ("donor_grouped_cv", "cell_level_cv"):
        table = repeated_grouped_cv(
            cells, strata, seeds, n_folds=n_folds, validation_fraction=validation_fraction,
            group=group if protocol == "donor_grouped_cv" else None,
        )
    else:
        raise InputError(f"splits.protocol: expected one of {list(PROTOCOLS)}, got {protocol!r}")
    # the table names its protocol, so that a report read from it alone can say how it was split
    return table.assign(protocol=protocol)


def repeated_grouped_cv(
    cells: pd.DataFrame,
    strata: Sequence[str],
    seeds: Sequence[int] = DEFAULT_REPEAT_SEEDS,
    n_folds: int = 5,
    validation_fraction: float = 0.15,
    group: str | None = "donor_id",
) -> pd.DataFrame:
    """R-times repeated K-fold cross-validation (R = ``len(seeds)``, K = ``n_folds``).

    Repeat r is a ``StratifiedGroupKFold(n_folds)`` over the cells, shuffled by
    ``seeds[r]`` (see ``_split`` for why not through its own ``shuffle``), stratified on
    the joint key of the ``strata`` columns (e.g. label and species) and grouped by
    ``group``: each cell is a test cell exactly once per repeat,
    and no ``group`` value (donor) has cells both in a fold's test cells and in its
    training or validation cells. The validation cells (early stopping, model selection)
    are one fold of a second ``StratifiedGroupKFold`` over the fold's training part, with
    ``round((1 - 1/K) / validation_fraction)`` folds, so that they are about
    ``validation_fraction`` of all cells, and are again donor-disjoint from its training
    cells. ``group=None`` gives the same protocol by cell (``StratifiedKFold``).

    Grouping makes stratification approximate: a donor's cells move together, and the
    greedy assignment guarantees no bound. What ``tests/test_splits.py`` checks is that a
    test fold's count of a stratum misses its target (stratum size / K) by at most the
    cells one donor has in that stratum (on the real dump: at most 2.8 cells, human
    excitatory); without groups ``StratifiedKFold`` keeps it within one cell.

    Returns the long table of :func:`repeated_stratified_splits` with ``repeat`` and
    ``fold`` added: ``split`` (= repeat * K + fold), ``seed``, ``repeat``, ``fold``,
    ``specimen_id``, ``role``.
    """
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise InputError(f"splits.n_folds: expected an integer of at least 2, got {n_folds!r}")
    if not 0 < validation_fraction < 1 - 1 / n_folds:
        raise InputError(
            f"splits.validation_fraction: expected 0 < validation_fraction < 1 - 1/n_folds = "
            f"{1 - 1 / n_folds:.3g} (a fraction of all cells, taken from each fold's training "
            f"part), got {validation_fraction}"
        )
    if len(set(seeds)) != len(seeds) or not seeds:
        raise InputError(f"splits.seeds: expected distinct integers, one per repeat, got {list(seeds)}")
    if group is not None and group not in cells.columns:
        raise InputError(
            f"splits: column {group!r} (the groups of donor_grouped_cv) is missing from the "
            f"cells table; expected one {group} per cell (columns: {list(cells.columns)[:8]}...)"
        )
    if group is not None and cells[group].isna().any():
        raise InputError(
            f"splits: column {group!r} has {int(cells[group].isna().sum())} missing values; "
            f"expected a {group} for every cell of donor_grouped_cv"
        )
    key = _strata_key(cells, strata).to_numpy()
    groups = None if group is None else cells[group].to_numpy()
    _require_folds_per_stratum(key, groups, n_folds, strata, group)
    n_inner = max(2, round((1 - 1 / n_folds) / validation_fraction))
    ids = cells["specimen_id"].to_numpy()
    tables = []
    for repeat, seed in enumerate(seeds):
        for fold, (rest, test) in enumerate(_split(n_folds, seed, ids, key, groups)):
            rest_groups = None if groups is None else groups[rest]
            fit, validation = next(_split(n_inner, _inner_seed(seed, fold), rest, key[rest], rest_groups))
            members = {"train": rest[fit], "validation": rest[validation], "test": test}
            for role, rows in members.items():
                tables.append(pd.DataFrame({
                    "split": repeat * n_folds + fold, "seed": seed, "repeat": repeat,
                    "fold": fold, "specimen_id": ids[rows], "role": role,
                }))
    out = pd.concat(tables, ignore_index=True)
    out = out.astype({c: "int64" for c in ("split", "seed", "repeat", "fold", "specimen_id")})
    return out.sort_values(["split", "role", "specimen_id"], ignore_index=True)


def extend_folds(
    folds: pd.DataFrame, cells: pd.DataFrame, strata: Sequence[str], group: str | None = "donor_id",
) -> pd.DataFrame:
    """``folds`` (a repeated cross-validation of :func:`repeated_grouped_cv`) extended to the
    ``cells`` it does not hold, every fold of it unchanged: the every-labelled-cell pool.

    A new cell whose ``group`` (donor) has cells in ``folds`` takes that donor's role in
    every split, so that no donor is on two sides of a fold. The other new cells (every new
    cell when ``group`` is None) are dealt, per repeat and per stratum of ``strata`` (a donor
    in the stratum most of its cells are in), in a random order of their donors (of the
    cells, without groups) seeded by the repeat's seed, round-robin to the K test folds; in
    the other folds of the repeat they are training cells (never validation: early stopping
    and selection keep the cells they had).
    """
    if "fold" not in folds.columns:
        raise InputError("splits: the every-labelled-cell pool extends a cross-validation (donor_grouped_cv or "
                         "cell_level_cv); random_splits has no folds to deal new cells to")
    if group is not None and group not in cells.columns:
        raise InputError(f"splits: column {group!r} (the groups of donor_grouped_cv) is missing from the cells table")
    new = cells[~cells["specimen_id"].isin(folds["specimen_id"])].reset_index(drop=True)
    if new.empty:
        return folds
    n_folds = int(folds["fold"].max()) + 1
    key = _strata_key(new, strata).to_numpy()
    units = new["specimen_id"].to_numpy() if group is None else new[group].to_numpy()
    known_donor = np.zeros(len(new), dtype=bool)
    if group is not None:
        donors = cells.set_index("specimen_id")[group]
        placed = folds.assign(donor=folds["specimen_id"].map(donors))
        known_donor = np.isin(units, placed["donor"].dropna().unique())
    # a new donor is dealt once, in the stratum most of its cells are in (a donor's cells
    # may span strata, and must share one test fold)
    dealt = pd.DataFrame({"unit": units[~known_donor], "stratum": key[~known_donor]})
    unit_stratum = dealt.groupby("unit")["stratum"].agg(lambda s: s.value_counts().sort_index().idxmax())
    tables = [folds]
    for (repeat, seed), in_repeat in folds.groupby(["repeat", "seed"]):
        rng = np.random.default_rng(_inner_seed(int(seed), n_folds))
        fold_of = {}
        for stratum, members in unit_stratum.groupby(unit_stratum, sort=True):
            order = rng.permutation(members.index.to_numpy())
            offset = int(rng.integers(n_folds))
            fold_of.update({unit: (offset + i) % n_folds for i, unit in enumerate(order)})
        test_fold = np.array([fold_of.get(unit, -1) for unit in units])
        for (split, fold), rows in in_repeat.groupby(["split", "fold"]):
            role = np.where(test_fold == fold, "test", "train").astype(object)
            if known_donor.any():
                donor_role = rows.assign(donor=rows["specimen_id"].map(donors)).groupby("donor")["role"].first()
                role[known_donor] = pd.Series(units[known_donor]).map(donor_role).to_numpy()
            tables.append(pd.DataFrame({"split": split, "seed": seed, "repeat": repeat, "fold": fold,
                                        "specimen_id": new["specimen_id"].to_numpy(), "role": role}))
    out = pd.concat(tables, ignore_index=True)
    if "protocol" in folds.columns:
        out["protocol"] = folds["protocol"].iloc[0]
    out = out.astype({c: "int64" for c in ("split", "seed", "repeat", "fold", "specimen_id")})
    return out.sort_values(["split", "role", "specimen_id"], ignore_index=True)


def _strata_key(cells: pd.DataFrame, strata: Sequence[str]) -> pd.Series:
    missing = [column for column in strata if column not in cells.columns]
    if missing:
        raise InputError(f"splits strata: columns {missing} are missing from the cells table")
    return cells[list(strata)].astype(str).agg("|".join, axis=1)


def _split(n_splits: int, seed: int, rows: np.ndarray, key: np.ndarray, groups: np.ndarray | None):
    """(train, test) positions into ``rows``, one pair per fold."""
    if groups is None:
        folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        return folds.split(rows, key)
    # Not StratifiedGroupKFold(shuffle=True): in scikit-learn < 1.8 it shuffles the class
    # counts of the groups without their labels, so its folds belong to random groups and
    # are not stratified (scikit-learn issue #32478, fixed by PR #32540). Relabelling the
    # groups in a random order and splitting without shuffle is the fixed behaviour: the
    # random order breaks ties between groups of equal class spread.
    _, inverse = np.unique(groups, return_inverse=True)
    shuffled = np.random.default_rng(seed).permutation(inverse.max() + 1)[inverse]
    return StratifiedGroupKFold(n_splits=n_splits).split(rows, key, shuffled)


def _inner_seed(seed: int, fold: int) -> int:
    # one independent stream per (repeat seed, fold), reproducible from the two alone
    return int(np.random.SeedSequence([seed, fold]).generate_state(1)[0])


def _require_folds_per_stratum(key, groups, n_folds: int, strata: Sequence[str], group: str | None) -> None:
    """Every stratum must be able to reach every test fold: K cells (K donors when grouped)."""
    frame = pd.DataFrame({"stratum": key, "unit": np.arange(len(key)) if groups is None else groups})
    units = frame.groupby("stratum")["unit"].nunique()
    short = units[units < n_folds]
    if not short.empty:
        stratum, count = short.idxmin(), int(short.min())
        what = "cells" if group is None else f"distinct {group} values"
        raise InputError(
            f"splits.n_folds={n_folds}: stratum {stratum!r} of {list(strata)} has {count} {what}, "
            f"fewer than the {n_folds} needed for one in every test fold (short: {short.to_dict()}); "
            f"lower n_folds or merge the stratum."
        )
