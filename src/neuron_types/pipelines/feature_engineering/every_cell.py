"""The every-labelled-cell pools of both tasks: every labelled cell, those lacking features
too, and the primary folds extended to them (docs/evaluation.md, "Every labelled cell").
Read only by the entries that impute (the excitatory/inhibitory simple models and networks
with ``imputation``, the subclass baselines ``<name>_imputed``)."""

from __future__ import annotations

import logging

import pandas as pd

from neuron_types.config import FeatureEngineeringParams
from neuron_types.pipelines.feature_engineering.nodes import ei_cells_table, subclass_cells_table
from neuron_types.splits import extend_folds

logger = logging.getLogger(__name__)


def build_ei_every_cell_model_input(cell_features: pd.DataFrame, feature_engineering: FeatureEngineeringParams
                                    ) -> pd.DataFrame:
    """Every labelled cell of the excitatory/inhibitory task, those lacking features too
    (NaN; ``complete_features`` says which have all): the pool of the entries that impute
    inside each fold (``imputation`` in ``dann.simple_models`` and ``dann.models``)."""
    return _flagged(ei_cells_table(cell_features, feature_engineering), feature_engineering, "species")


def build_subclass_every_cell_model_input(cell_features: pd.DataFrame, feature_engineering: FeatureEngineeringParams
                                          ) -> pd.DataFrame:
    """Every mouse cell of the subclass task, those lacking some of the features too (NaN;
    ``complete_features``): the pool of the subclass baselines that impute (``<name>_imputed``)."""
    return _flagged(subclass_cells_table(cell_features, feature_engineering), feature_engineering, "subclass")


def _flagged(table: pd.DataFrame, feature_engineering: FeatureEngineeringParams, by: str) -> pd.DataFrame:
    complete = ~table[feature_engineering.features.names].isna().any(axis=1)
    logger.info("every labelled cell: %d cells, %d of them lacking features %s", len(table), int((~complete).sum()),
                table.loc[~complete, by].value_counts().to_dict())
    return table.assign(complete_features=complete.to_numpy())


def split_ei_every_cell(ei_splits: pd.DataFrame, ei_every_cell_model_input: pd.DataFrame,
                        feature_engineering: FeatureEngineeringParams) -> pd.DataFrame:
    """The primary splits, unchanged, with every cell lacking features dealt to them
    (:func:`neuron_types.splits.extend_folds`: a known donor's cell takes its donor's role)."""
    splits = feature_engineering.splits
    return extend_folds(ei_splits, ei_every_cell_model_input, splits.ei_strata, _group(feature_engineering))


def split_subclass_every_cell(subclass_splits: pd.DataFrame, subclass_every_cell_model_input: pd.DataFrame,
                              feature_engineering: FeatureEngineeringParams) -> pd.DataFrame:
    """The subclass task's primary splits, unchanged, with every cell lacking features dealt
    to them, as :func:`split_ei_every_cell`."""
    return extend_folds(subclass_splits, subclass_every_cell_model_input, feature_engineering.splits.subclass_strata,
                        _group(feature_engineering))


def _group(feature_engineering: FeatureEngineeringParams) -> str | None:
    return "donor_id" if feature_engineering.splits.protocol == "donor_grouped_cv" else None
