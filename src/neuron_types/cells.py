"""The domain's shared names: species, labels and the columns of the model inputs.

Every pipeline and model module takes these names from here, so that a column is spelt
once. Which features a model reads is data (the ``feature_names`` dataset, written by
feature engineering from ``parameters_feature_engineering.yml``), not a constant. Kedro-free.
"""

from __future__ import annotations

from typing import Literal

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

ID = "specimen_id"
EI_COLUMNS = (ID, "species", "domain", "cell_class", EI_LABEL)
