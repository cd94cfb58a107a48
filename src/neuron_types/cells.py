"""The domain's shared names: species, labels and the columns of the model inputs.

Every pipeline and model module takes these names from here, so that a column is spelt
once. Which features a model reads is data (the ``feature_names`` dataset, written by
feature engineering from ``parameters_feature_engineering.yml``), not a constant. Kedro-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from neuron_types.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

MOUSE, HUMAN = "mouse", "human"
# Mouse is the source domain (labels always known), human the target (domain 1).
SOURCE, TARGET = MOUSE, HUMAN
SPECIES = (MOUSE, HUMAN)
DOMAIN_OF = {MOUSE: 0, HUMAN: 1}
Species = Literal["mouse", "human"]

EXCITATORY, INHIBITORY = "excitatory", "inhibitory"
CELL_CLASSES = (EXCITATORY, INHIBITORY)
# ei_model_input: 1 for excitatory cells, 0 for inhibitory
EI_LABEL = "excitatory"
# subclass_model_input: one of the subclass names
SUBCLASS_LABEL = "subclass"
# "<entry>_every_labelled_cell": an imputing entry scored on every labelled test cell, those
# lacking features included (its plain name: on the test cells with every feature, as every
# other model)
EVERY_CELL_SUFFIX = "_every_labelled_cell"

ID = "specimen_id"
EI_COLUMNS = (ID, "species", "domain", "cell_class", EI_LABEL)
# a gated DANN's mean test-cell gate per split, species and feature (dann.gate_profiles)
GATE_PROFILE_COLUMNS = ["model", "split", "species", "feature", "mean_gate", "cells"]


def on_both_test_pools(predictions: pd.DataFrame, every_cell_input: pd.DataFrame) -> pd.DataFrame:
    """An imputing entry's test predictions (a ``model`` and a ``specimen_id`` column) on the
    two pools: as they are named, the test cells with every feature (``complete_features``
    of ``every_cell_input``; paired with every other model), then as
    ``<model>_every_labelled_cell``, every labelled test cell."""
    import pandas as pd

    complete = predictions[ID].map(every_cell_input.set_index(ID)["complete_features"]).to_numpy(dtype=bool)
    every = predictions.assign(model=predictions["model"] + EVERY_CELL_SUFFIX)
    return pd.concat([predictions[complete], every], ignore_index=True)


def features_without(features: list[str], without: list[str], parameter: str) -> list[str]:
    """``features`` less an entry's ``without_features`` (its ``parameter``), in input order;
    a name that is not a feature is refused rather than silently ignored."""
    unknown = [name for name in without if name not in features]
    if unknown:
        raise InputError(f"{parameter}: got {unknown}; expected names of feature_names ({len(features)} "
                         f"features: {', '.join(features[:6])}, ...)")
    kept = [name for name in features if name not in without]
    if not kept:
        raise InputError(f"{parameter}: leaves no feature; expected at least one of feature_names kept")
    return kept
