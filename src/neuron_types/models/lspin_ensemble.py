"""A cross-fitted ensemble of LSPIN networks, saved as one ``.keras`` file.

Each member trains on all but one fold of the rows it is given and stops early on that
fold, so the ensemble learns from every non-test cell while every member still has
held-out cells to stop on. Every split's members are trained together, in one stacked
network (:func:`fit_cross_fitted_ensembles`). Its prediction is the members' mean probability and its gate
matrix the members' mean gates: still the trained networks' own gates, averaged.
Kedro-free.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import keras
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from neuron_types.config import LspinNetwork, MlpNetwork
from neuron_types.models.lspin import LSPIN, inference_gates
from neuron_types.models.stacked_lspin import (MemberHyperparameters, StackedLSPIN, StackedLSPINData,
                                               export_lspin_member, fit_stacked_lspin)


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


@dataclass(frozen=True)
class EnsembleMember:
    """One network to train: member ``fold`` of ``split``, seeded ``seed``, fitting on
    ``fit_rows`` and stopping on ``stop_rows`` (row indices of the cells); ``settings``: its
    own hyperparameters (a :class:`~neuron_types.models.stacked_lspin.MemberHyperparameters`
    row and ``batch_size``), or None for the network section's."""

    split: int
    fold: int
    seed: int
    fit_rows: np.ndarray
    stop_rows: np.ndarray
    settings: dict | None = None


@dataclass(frozen=True)
class TrainedMember:
    """A trained member: slice ``index`` of ``stack``, and its rows of the stack's history."""

    member: EnsembleMember
    stack: StackedLSPIN
    index: int
    history: pd.DataFrame


def cross_fitted_members(y: np.ndarray, rows: dict[int, np.ndarray], n_members: int, seed: int) -> list[EnsembleMember]:
    """Every split's cross-fitting members: split ``s``'s folds of its rows ``rows[s]``
    drawn with seed ``seed + s`` (:func:`cross_fitting_folds`), member ``j`` seeded
    ``(seed + s) * 100 + j``."""
    members = []
    for split in sorted(rows):
        split_rows = np.asarray(rows[split])
        for j, (fit, stop) in enumerate(cross_fitting_folds(y[split_rows], n_members, seed + split)):
            members.append(EnsembleMember(split, j, (seed + split) * 100 + j, split_rows[fit], split_rows[stop]))
    return members


def fit_members(x: np.ndarray, y: np.ndarray, members: list[EnsembleMember], n_classes: int,
                network: LspinNetwork | MlpNetwork, seed: int) -> list[TrainedMember]:
    """Trains ``members`` in stacks: those without settings in one stack with
    ``network.training``, those with settings in one stack per batch size. Returned in the
    order given."""
    groups: dict = {}
    for i, member in enumerate(members):
        key = None if member.settings is None else int(member.settings["batch_size"])
        groups.setdefault(key, []).append(i)
    trained: dict[int, TrainedMember] = {}
    for key in sorted(groups, key=lambda k: -1 if k is None else k):
        group = [members[i] for i in groups[key]]
        train = np.zeros((len(x), len(group)), dtype=bool)
        validation = train.copy()
        for k, member in enumerate(group):
            train[member.fit_rows, k], validation[member.stop_rows, k] = True, True
        hyperparameters = None if key is None else MemberHyperparameters.build(
            [{name: value for name, value in m.settings.items() if name != "batch_size"} for m in group])
        config = network.training if key is None else network.training.model_copy(update={"batch_size": key})
        stack = StackedLSPIN(x.shape[1], n_classes, [m.seed for m in group], network.model, members=hyperparameters)
        history = fit_stacked_lspin(stack, StackedLSPINData.build(x, y, train, validation), config, shuffle_seed=seed)
        for k, i in enumerate(groups[key]):
            trained[i] = TrainedMember(members[i], stack, k, history[history["member"] == k])
    return [trained[i] for i in range(len(members))]


def fit_cross_fitted_ensembles(
    x: np.ndarray,
    y: np.ndarray,
    rows: dict[int, np.ndarray],
    n_classes: int,
    network: LspinNetwork | MlpNetwork,
    seed: int,
    settings: dict[int, dict] | None = None,
) -> tuple[dict[int, LSPINEnsemble], pd.DataFrame]:
    """One cross-fitted ensemble per split, all trained in one stack (a member per split and
    fold, :mod:`~neuron_types.models.stacked_lspin`), or, with ``settings`` (split -> its
    members' hyperparameters, as :class:`EnsembleMember`), one stack per batch size.

    ``rows``: split -> the row indices of ``x`` it may train on (its non-test cells); the
    members are :func:`cross_fitted_members`. ``network``: an LSPIN section (gated) or an
    MLP section. Returns the ensembles and the members' histories: ``split``, ``member``
    (j), ``epoch`` (epochs done at the check), ``train_loss``, ``val_cross_entropy``,
    ``val_accuracy``, ``best_epoch`` (the epoch whose weights the member kept).
    """
    x, y = np.asarray(x, dtype="float32"), np.asarray(y, dtype="int32")
    members = cross_fitted_members(y, rows, network.ensemble_members, seed)
    if settings is not None:
        members = [replace(m, settings=settings[m.split]) for m in members]
    trained = fit_members(x, y, members, n_classes, network, seed)
    ensembles = {}
    for split in sorted(rows):
        ensemble = LSPINEnsemble([export_lspin_member(t.stack, t.index) for t in trained if t.member.split == split])
        ensemble.build((None, x.shape[1]))
        ensembles[split] = ensemble
    history = pd.concat([member_history(t.history.assign(member=0), [(t.member.split, t.member.fold)])
                         for t in trained], ignore_index=True)
    return ensembles, history


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
