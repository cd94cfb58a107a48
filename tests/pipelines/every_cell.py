"""The every-labelled-cell pool of a tiny pipeline test, as feature engineering deals it."""

from __future__ import annotations

import numpy as np
import pandas as pd


def every_cell_pool(cells: pd.DataFrame, splits: pd.DataFrame, extra: pd.DataFrame, missing: list[str]):
    """``cells`` (complete) and ``extra`` with the ``missing`` features NaN, flagged by
    ``complete_features``; ``splits`` with each extra cell a test cell of one split and a
    training cell of the other (by the split's parity)."""
    extra = extra.copy()
    extra[missing] = np.nan
    every_cell = pd.concat([cells.assign(complete_features=True), extra.assign(complete_features=False)],
                           ignore_index=True)
    rows = [splits]
    for split, seed in splits.groupby("split")["seed"].first().items():
        role = np.where(np.arange(len(extra)) % 2 == split % 2, "test", "train")
        rows.append(pd.DataFrame({"split": split, "seed": seed, "specimen_id": extra["specimen_id"], "role": role}))
    return every_cell, pd.concat(rows, ignore_index=True)
