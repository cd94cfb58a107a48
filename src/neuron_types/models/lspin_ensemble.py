"""A cross-fitted ensemble of LSPIN networks, saved as one ``.keras`` file.

Each member trains on all but one fold of the rows it is given and stops early on that
fold, so the ensemble learns from every non-test cell while every member still has
held-out cells to stop on. Its prediction is the members' mean probability and its gate
matrix the members' mean gates: still the trained networks' own gates, averaged.
Kedro-free.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from neuron_types.models.lspin import LSPIN, inference_gates
from neuron_types.config import LspinTrainingConfig
from neuron_types.models.lspin_training import fit_lspin


@keras.saving.register_keras_serializable(package="neuron_types")
class LSPINEnsemble(keras.Model):
    """Members' mean class probabilities (``call``) and mean inference gates (``gates``)."""

    def __init__(self, members: list[LSPIN], **kwargs):
        super().__init__(**kwargs)
        if not members:
            raise ValueError("LSPINEnsemble: members: expected at least one LSPIN network")
        shapes = {(m.n_features, m.n_classes) for m in members}
        if len(shapes) != 1:
            raise ValueError(
                f"LSPINEnsemble: members must share (n_features, n_classes), got {sorted(shapes)}"
            )
        self.members = list(members)
        self.n_features, self.n_classes = shapes.pop()

    def build(self, input_shape=None):
        for member in self.members:
            member.build((None, self.n_features))
        self.built = True

    def call(self, x, training: bool = False):
        return keras.ops.mean(
            keras.ops.stack([member(x, training=training) for member in self.members]), axis=0
        )

    def gates(self, x, training: bool = False):
        return keras.ops.mean(
            keras.ops.stack([member.gates(x, training=training) for member in self.members]),
            axis=0,
        )

    @property
    def use_gates(self) -> bool:
        return self.members[0].use_gates

    def get_config(self):
        config = super().get_config()
        config["members"] = [keras.saving.serialize_keras_object(m) for m in self.members]
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        members = [keras.saving.deserialize_keras_object(m) for m in config.pop("members")]
        return cls(members=members, **config)


def fit_cross_fitted_ensemble(
    x: np.ndarray,
    y: np.ndarray,
    n_members: int,
    model_settings: dict,
    config: LspinTrainingConfig,
    seed: int,
) -> tuple[LSPINEnsemble, pd.DataFrame]:
    """Trains ``n_members`` LSPIN networks, member ``j`` on all stratified folds but the
    ``j``-th and stopping early on it. With one member, 15% of the rows (stratified) are
    held out for early stopping.

    ``model_settings`` are :class:`LSPIN` keyword arguments other than ``n_features``,
    ``n_classes`` and ``seed``. Returns the ensemble and the members' training histories
    (a ``member`` column tells them apart).
    """
    x = np.asarray(x, dtype="float32")
    y = np.asarray(y, dtype="int32")
    if n_members < 1:
        raise ValueError(f"ensemble members: expected >= 1, got {n_members}")
    model_settings = dict(model_settings)
    n_classes = int(model_settings.pop("n_classes", 0)) or int(y.max()) + 1
    if n_members == 1:
        folds = [
            train_test_split(np.arange(len(y)), test_size=0.15, stratify=y, random_state=seed)
        ]
    else:
        smallest = int(np.bincount(y).min()) if len(y) else 0
        if smallest < n_members:
            raise ValueError(
                f"ensemble members: {n_members} folds need at least {n_members} cells of every "
                f"class; the smallest class has {smallest}"
            )
        folds = list(StratifiedKFold(n_members, shuffle=True, random_state=seed).split(x, y))
    members, histories = [], []
    for j, (fit_rows, stop_rows) in enumerate(folds):
        member_seed = seed * 100 + j
        member = LSPIN(x.shape[1], n_classes, seed=member_seed, **model_settings)
        history = fit_lspin(member, x[fit_rows], y[fit_rows], x[stop_rows], y[stop_rows], config, member_seed)
        members.append(member)
        histories.append(history.assign(member=j))
    ensemble = LSPINEnsemble(members)
    ensemble.build((None, x.shape[1]))
    return ensemble, pd.concat(histories, ignore_index=True)


def ensemble_gates(model: LSPINEnsemble, x: np.ndarray) -> np.ndarray:
    """Mean inference gates of the members (cells x features), as NumPy."""
    return np.mean([inference_gates(member, x) for member in model.members], axis=0)
