"""Tiny cells, tiny settings and recording spies shared by the contract tests.

The oracles here are computed from the splits table with pandas, not with the helpers the
code under test uses (``cells_in_role``, ``member_roles``), so that a bug in those cannot
hide itself."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neuron_types.config import DannParams, LspinParams
from neuron_types.splits import repeated_stratified_splits
from tests.params import raw_params
from tests.pipelines.test_dann import NAMES, synthetic_cells  # noqa: F401 (NAMES: the features, re-exported)

SUBCLASSES = ["Lamp5", "Pvalb", "Sst"]
SUBCLASS_FEATURES = ["f0", "f1", "f2", "f3", "f4"]


class Stop(Exception):
    """Raised by a recording stub to end a call once what it records is recorded."""


class Recorder:
    """Records every call's arguments; then calls ``real`` (or raises :class:`Stop`)."""

    def __init__(self, real=None, stop: bool = False):
        self.real, self.stop, self.calls = real, stop, []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.stop:
            raise Stop
        return self.real(*args, **kwargs)


def ei_cells() -> pd.DataFrame:
    return synthetic_cells().sort_values("specimen_id", ignore_index=True)


def ei_splits(cells: pd.DataFrame, seeds=(3, 4)) -> pd.DataFrame:
    return repeated_stratified_splits(cells, ["cell_class", "species"], list(seeds), 0.25, 0.25)


def ids_in(splits: pd.DataFrame, split: int, *roles: str) -> set[int]:
    rows = splits[(splits["split"] == split) & splits["role"].isin(roles)]
    return set(rows["specimen_id"].astype(int))


def ids_of_species(cells: pd.DataFrame, species) -> set[int]:
    return set(cells.loc[cells["species"].astype(str).isin(list(species)), "specimen_id"].astype(int))


class RowIds:
    """Maps a feature row back to its cell: every synthetic cell's features are distinct."""

    def __init__(self, cells: pd.DataFrame, features):
        values = cells[list(features)].to_numpy(dtype="float32")
        self.n = len(features)
        self.by_row = {row.tobytes(): int(i) for row, i in zip(values, cells["specimen_id"])}
        if len(self.by_row) != len(cells):
            raise ValueError("RowIds: two cells share their features")

    def __call__(self, x) -> list[int]:
        x = np.asarray(x, dtype="float32")[:, :self.n]
        return [self.by_row[np.ascontiguousarray(row).tobytes()] for row in x]


def tiny_dann(**changes) -> DannParams:
    params = raw_params("dann")
    params["network"].update(hidden_units=[8], domain_hidden_units=[4], dropout=0.0)
    params["training"].update(max_epochs=3, patience=2, batch_size=32)
    params["shap"].update(background_cells=10, samples=4, top_features=3)
    params.update(changes)
    return DannParams.model_validate(params)


def subclass_cells(n: int = 150, seed: int = 0) -> pd.DataFrame:
    """Mouse cells of three subclasses, told apart by f0 and f1, on unequal scales."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(SUBCLASSES)
    x = rng.normal(size=(n, len(SUBCLASS_FEATURES)))
    x[:, 0] += 2.5 * (y == 1)
    x[:, 1] += 2.5 * (y == 2)
    x = x * rng.uniform(0.5, 20, size=len(SUBCLASS_FEATURES)) + rng.uniform(-5, 5, size=len(SUBCLASS_FEATURES))
    cells = pd.DataFrame(x, columns=SUBCLASS_FEATURES)
    cells.insert(0, "specimen_id", np.arange(9000, 9000 + n, dtype="int64"))
    cells.insert(1, "subclass", np.asarray(SUBCLASSES, dtype=object)[y])
    return cells


def subclass_splits(cells: pd.DataFrame, seeds=(5, 6)) -> pd.DataFrame:
    return repeated_stratified_splits(cells, ["subclass"], list(seeds), 0.25, 0.2)


def tiny_lspin(**grids) -> LspinParams:
    params = raw_params("lspin")
    for kind in ("lspin", "mlp", "lspin_reference_regime"):
        params[kind]["model"]["prediction_units"] = [8]
        params[kind]["training"].update(max_epochs=4, check_every=2, patience=4)
        params[kind]["ensemble_members"] = 3
    for kind in ("lspin", "mlp"):
        params[kind]["training"]["batch_size"] = 32
    for kind in ("lspin", "lspin_reference_regime"):
        params[kind]["model"]["gating_units"] = [8]
    params["baselines"]["grids"] = {
        "logistic_regression": {"C": [0.1, 1.0]},
        "svc": {"C": [1.0, 3.0]},
        "random_forest": {"n_estimators": [25], "max_features": ["sqrt", 0.5]},
        "xgboost": {"n_estimators": [5], "max_depth": [2], "learning_rate": [0.3], "max_bin": [16]},
        **grids,
    }
    params["tuning"].update(trials=2, trials_per_wave=2, startup_trials=2)
    # in this process: the contracts spy on every fit (worker processes fit the same, bit
    # for bit: tests/models/test_baselines.py)
    params["baselines"]["n_jobs"] = 1
    return LspinParams.model_validate(params)



# the source-only network (whose EM prior drives the reweighting), the reweighted and
# prior-adjusted unsupervised DANN, the gated and the cross-fitted unsupervised DANNs, and
# the supervised DANN that the parameters' export needs
UNSUPERVISED_RUN_MODELS = ("dann", "fcnn_source_only", "dann_unsupervised_reweighted", "dann_unsupervised_gated",
                           "dann_unsupervised_cross_fitted")
EXPORT_SPLIT = 1


def unsupervised_params() -> DannParams:
    models = raw_params("dann")["models"]
    export = {**raw_params("dann")["export"], "split": EXPORT_SPLIT, "unsupervised": "dann_unsupervised_reweighted"}
    return tiny_dann(models={name: models[name] for name in UNSUPERVISED_RUN_MODELS}, export=export)


def unsupervised_outputs(cells: pd.DataFrame, splits: pd.DataFrame) -> dict:
    """The baseline node (source-only network and its prior estimates) feeding the
    unsupervised node, as in the pipeline; the exported model's P(excitatory) of every cell."""
    from neuron_types.models.reproducibility import seed_everything
    from neuron_types.pipelines.dann import nodes

    dann = unsupervised_params()
    seed_everything(dann.seed)
    # study: UNSUPERVISED_RUN_MODELS holds entries of the full study too (the gated DANN)
    predictions, histories, priors = nodes.train_baseline_networks(cells, splits, NAMES, dann, study=True)
    u_predictions, u_histories, u_priors, exported, gate_profiles = nodes.train_unsupervised_danns(
        cells, splits, NAMES, dann, priors, study=True)
    return {
        "predictions": pd.concat([predictions, u_predictions], ignore_index=True),
        "histories": pd.concat([histories, u_histories], ignore_index=True),
        "priors": pd.concat([priors, u_priors], ignore_index=True),
        "exported": exported,
        "gate_profiles": gate_profiles,
        "exported_probability": np.asarray(exported(cells[NAMES].to_numpy(dtype="float32"))["label"]),
    }


def flip_human_labels(cells: pd.DataFrame) -> pd.DataFrame:
    flipped = cells.copy()
    human = flipped["species"] == "human"
    flipped.loc[human, "excitatory"] = 1 - flipped.loc[human, "excitatory"]
    flipped.loc[human, "cell_class"] = np.where(flipped.loc[human, "excitatory"] == 1, "excitatory", "inhibitory")
    return flipped
