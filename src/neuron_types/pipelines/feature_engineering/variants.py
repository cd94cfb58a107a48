"""The sensitivity analyses' cohorts and splits (``feature_engineering.sensitivity_variants``).

Each variant is the primary model input filtered as its parameters say, split with the
primary settings (folds, seeds, validation fraction, strata) unless it names another
protocol. A variant the data cannot support (no sampling rate, no reporter status, no
donor for a donor-grouped protocol) is skipped with a log line, not an error: the
primary results do not depend on it.
"""

from __future__ import annotations

import logging

import pandas as pd

from neuron_types.cells import MOUSE
from neuron_types.config import FeatureEngineeringParams, SensitivityVariant
from neuron_types.splits import make_splits

logger = logging.getLogger(__name__)

VARIANT_COLUMNS = ["variant", "task"]


def variant_cells(model_input: pd.DataFrame, variant: SensitivityVariant, source: str) -> tuple[pd.DataFrame, str]:
    """``(cells, "")``: the cells of ``model_input`` that ``variant`` keeps; or ``(empty,
    why)`` when the table lacks what the variant filters by."""
    keep = pd.Series(True, index=model_input.index)
    if variant.mouse_sampling_rate_khz is not None:
        is_mouse = model_input["species"].astype(str) == MOUSE
        if "sampling_rate_khz" not in model_input or model_input.loc[is_mouse, "sampling_rate_khz"].isna().all():
            return model_input.iloc[:0], (f"{source} has no sampling_rate_khz for its mouse cells (neither "
                                          "short_square_spikes.npz nor sweep metadata gave one)")
        keep &= ~is_mouse | (model_input["sampling_rate_khz"] == variant.mouse_sampling_rate_khz).fillna(False)
    if variant.exclude_transgenic_lines:
        keep &= ~model_input["transgenic_line"].isin(variant.exclude_transgenic_lines)
    if variant.reporter_status is not None:
        if "reporter_status" not in model_input:
            return model_input.iloc[:0], f"{source} has no reporter_status column"
        keep &= (model_input["reporter_status"] == variant.reporter_status).fillna(False)
    return model_input[keep.to_numpy()].reset_index(drop=True), ""


def split_sensitivity_variants(
    ei_model_input: pd.DataFrame,
    subclass_model_input: pd.DataFrame,
    feature_engineering: FeatureEngineeringParams,
) -> tuple[pd.DataFrame, dict]:
    """Every variant's splits in one table (``variant, task`` and the columns of
    :func:`neuron_types.splits.make_splits`: ``split, seed, repeat, fold, specimen_id,
    role, protocol``), and the record of the variants: ``{name: {description, filters,
    tasks: {task: {protocol, n_cells, skipped}}}}`` (``skipped``: why not, or null)."""
    splits = feature_engineering.splits
    tasks = {"ei": (ei_model_input, splits.ei_strata), "subclass": (subclass_model_input, splits.subclass_strata)}
    tables, record = [], {}
    for name, variant in feature_engineering.sensitivity_variants.items():
        protocol = variant.protocol or splits.protocol
        record[name] = {"description": variant.description,
                        "filters": variant.model_dump(exclude={"description", "tasks"}), "tasks": {}}
        for task in variant.tasks:
            model_input, strata = tasks[task]
            source = f"{task}_model_input"
            cells, why_not = variant_cells(model_input, variant, source)
            if not why_not and protocol == "donor_grouped_cv" and "donor_id" not in cells:
                why_not = f"{source} has no donor_id to group the folds by"
            record[name]["tasks"][task] = {"protocol": protocol, "n_cells": len(cells), "skipped": why_not or None}
            if why_not:
                logger.info("sensitivity variant %s (%s): skipped: %s", name, task, why_not)
                continue
            total = model_input["species"].astype(str).value_counts()
            kept = cells["species"].astype(str).value_counts().reindex(total.index, fill_value=0)
            logger.info("sensitivity variant %s (%s): %s cells kept per species, protocol %s", name, task,
                        {species: f"{kept[species]}/{total[species]}" for species in total.index}, protocol)
            table = make_splits(cells, protocol, strata=strata, seeds=list(splits.seeds),
                                validation_fraction=splits.validation_fraction, n_folds=splits.n_folds,
                                test_fraction=splits.test_fraction)
            tables.append(table.assign(variant=name, task=task))
    if not tables:
        return pd.DataFrame(columns=[*VARIANT_COLUMNS, "split", "seed", "specimen_id", "role", "protocol"]), record
    table = pd.concat(tables, ignore_index=True)
    return table[[*VARIANT_COLUMNS, *(c for c in table.columns if c not in VARIANT_COLUMNS)]], record
