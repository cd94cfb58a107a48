"""A cross-fitted ensemble of LSPIN networks, saved as one ``.keras`` file.

Each member trains on all but one fold of the rows it is given and stops early on that
fold, so the ensemble learns from every non-test cell while every member still has
held-out cells to stop on. Every split's members are trained together, in one stacked
network (:func:`fit_cross_fitted_ensembles`). Its prediction is the members' mean probability and its gate
matrix the members' mean gates: still the trained networks' own gates, averaged.
Kedro-free.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from neuron_types.config import LspinNetwork, MlpNetwork
from neuron_types.models.lspin import LSPIN, inference_gates
from neuron_types.models.stacked_lspin import StackedLSPIN, StackedLSPINData, export_lspin_member, fit_stacked_lspin


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


def cross_fitting_folds(y: np.ndarray, n_members: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(fit_rows, stop_rows)`` of each member: member ``j`` fits on every stratified fold
    but the ``j``-th and stops early on it; with one member, 15% of the rows (stratified)
    are held out for early stopping."""
    y = np.asarray(y, dtype="int32")
    if n_members < 1:
        raise ValueError(f"ensemble members: expected >= 1, got {n_members}")
    if n_members == 1:
        return [tuple(train_test_split(np.arange(len(y)), test_size=0.15, stratify=y, random_state=seed))]
    smallest = int(np.bincount(y).min()) if len(y) else 0
    if smallest < n_members:
        raise ValueError(
            f"ensemble members: {n_members} folds need at least {n_members} cells of every "
            f"class; the smallest class has {smallest}"
        )
    return list(StratifiedKFold(n_members, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def fit_cross_fitted_ensembles(
    x: np.ndarray,
    y: np.ndarray,
    rows: dict[int, np.ndarray],
    n_classes: int,
    network: LspinNetwork | MlpNetwork,
    seed: int,
) -> tuple[dict[int, LSPINEnsemble], pd.DataFrame]:
    """One cross-fitted ensemble per split, all trained in one stack (a member per split and
    fold, :mod:`~neuron_types.models.stacked_lspin`).

    ``rows``: split -> the row indices of ``x`` it may train on (its non-test cells); split
    ``s``'s folds are drawn with seed ``seed + s`` and its member ``j`` has seed
    ``(seed + s) * 100 + j``. ``network``: an LSPIN section (gated) or an MLP section.
    Returns the ensembles and the members' histories: ``split``, ``member`` (j), ``epoch``
    (epochs done at the check), ``train_loss``, ``val_cross_entropy``, ``val_accuracy``,
    ``best_epoch`` (the epoch whose weights the member kept).
    """
    x, y = np.asarray(x, dtype="float32"), np.asarray(y, dtype="int32")
    members, seeds = [], []
    train = np.zeros((len(x), 0), dtype=bool)
    validation = train.copy()
    for split in sorted(rows):
        split_rows = np.asarray(rows[split])
        for j, (fit_rows, stop_rows) in enumerate(cross_fitting_folds(y[split_rows], network.ensemble_members,
                                                                      seed + split)):
            fit, stop = np.zeros(len(x), dtype=bool), np.zeros(len(x), dtype=bool)
            fit[split_rows[fit_rows]], stop[split_rows[stop_rows]] = True, True
            train, validation = np.column_stack([train, fit]), np.column_stack([validation, stop])
            members.append((split, j))
            seeds.append((seed + split) * 100 + j)
    stack = StackedLSPIN(x.shape[1], n_classes, seeds, network.model)
    history = fit_stacked_lspin(stack, StackedLSPINData.build(x, y, train, validation), network.training,
                                shuffle_seed=seed)
    ensembles = {}
    for split in sorted(rows):
        ensemble = LSPINEnsemble([export_lspin_member(stack, k) for k, (s, _) in enumerate(members) if s == split])
        ensemble.build((None, x.shape[1]))
        ensembles[split] = ensemble
    return ensembles, member_history(history, members)


def member_history(history: pd.DataFrame, members: list[tuple[int, int]]) -> pd.DataFrame:
    """A stack's history (``fit_stacked_lspin``) per ``(split, member)``: ``members[k]`` is
    stack member k's; epochs counted from 1, each row with the member's kept epoch."""
    index = history["member"].to_numpy()
    epochs_done = history["epoch"].to_numpy(dtype="int64") + 1
    best = pd.Series(epochs_done[history["best_epoch"].to_numpy(dtype=bool)],
                     index=index[history["best_epoch"].to_numpy(dtype=bool)])
    return pd.DataFrame({
        "split": [members[k][0] for k in index],
        "epoch": epochs_done,
        "train_loss": history["loss"].to_numpy(dtype=float),
        "val_cross_entropy": history["val_cross_entropy"].to_numpy(dtype=float),
        "val_accuracy": history["val_accuracy"].to_numpy(dtype=float),
        "best_epoch": best.reindex(index).to_numpy(dtype="int64"),
        "member": [members[k][1] for k in index],
    })


def ensemble_gates(model: LSPINEnsemble, x: np.ndarray) -> np.ndarray:
    """Mean inference gates of the members (cells x features), as NumPy."""
    return np.mean([inference_gates(member, x) for member in model.members], axis=0)
