"""The hyperparameters each member of a stacked LSPIN trains with, when members differ (the
Optuna trials of :mod:`~neuron_types.models.lspin_tuning`); read by
:class:`~neuron_types.models.stacked_lspin.StackedLSPIN` and ``fit_stacked_lspin``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MemberHyperparameters:
    """Each member's own training settings, ``(K,)`` each: SGD ``learning_rate`` and
    ``weight_decay``, whether its classes are weighted to balance (``balance_classes``) and,
    for gated members, gate noise ``sigma`` and L0 weight ``lambda1`` (None: the model's)."""

    learning_rate: np.ndarray
    weight_decay: np.ndarray
    balance_classes: np.ndarray
    sigma: np.ndarray | None = None
    lambda1: np.ndarray | None = None

    @classmethod
    def build(cls, rows: Sequence[dict]) -> MemberHyperparameters:
        """From one mapping per member: ``learning_rate``, ``weight_decay``,
        ``balance_classes`` and, in every row or in none, both ``sigma`` and ``lambda1``."""
        required, gated = ("learning_rate", "weight_decay", "balance_classes"), ("sigma", "lambda1")
        fields = required + (gated if any(f in row for row in rows for f in gated) else ())
        for k, row in enumerate(rows):
            missing = [f for f in fields if f not in row]
            if missing:
                raise ValueError(f"member {k} hyperparameters: missing {missing}")
        values = {f: np.asarray([row[f] for row in rows], bool if f == "balance_classes" else "float64")
                  for f in fields}
        for f, positive in (("learning_rate", True), ("weight_decay", False), ("sigma", True), ("lambda1", False)):
            if f in values and not ((values[f] > 0) if positive else (values[f] >= 0)).all():
                raise ValueError(f"member hyperparameters: {f} must be {'>' if positive else '>='} 0, "
                                 f"got {values[f].tolist()}")
        return cls(**values)

    def __len__(self) -> int:
        return len(self.learning_rate)

    @property
    def base_learning_rate(self) -> float:
        """The stack's SGD rate: the largest member's (each member's loss is scaled by its
        own rate over it)."""
        return float(self.learning_rate.max())
