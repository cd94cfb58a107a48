"""Cross-species excitatory/inhibitory experiments: what each model sees of each split, and
its training on all splits at once (one stacked network, a member per split). Kedro-free;
the ``dann`` pipeline's nodes are thin wrappers around this.

Mouse (domain 0) is the source and human (domain 1) the target. A model is a name and a
:class:`~neuron_types.config.DannModel`: which species' cells it trains on, whose labels it
may use, whether it has a domain head, and how its domain loss is weighted. Scalers are fitted on the rows whose
features the model trains on (training rows only); early stopping watches the validation
rows whose labels the model may use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from neuron_types.cells import DOMAIN_OF, EI_COLUMNS, GATE_PROFILE_COLUMNS, SOURCE, TARGET
from neuron_types.cells import EI_LABEL as LABEL
from neuron_types.config import DannModel, DannNetwork, DannTrainingConfig
from neuron_types.errors import InputError
from neuron_types.models import calibration, label_shift
from neuron_types.models.stacked import StackedNetwork, export_member, member_gates, member_probabilities
from neuron_types.models.stacked_training import StackedData, fit_stacked
from neuron_types.splits import cells_in_role

# "<model>_prior_adjusted_calibrated": the human posteriors temperature-scaled on the source
# validation cells, then Bayes-corrected to the EM prior of those scaled posteriors
CALIBRATED_SUFFIX = "_prior_adjusted_calibrated"


@dataclass(frozen=True)
class SplitCells:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def check_model_input(model_input: pd.DataFrame, features: Sequence[str], dataset: str = "ei_model_input",
                      complete: bool = True) -> None:
    """``complete``: no feature may be missing (NaN); otherwise some may, not all of a row's."""
    missing = [c for c in (*EI_COLUMNS, *features) if c not in model_input.columns]
    if missing:
        raise InputError(f"{dataset}: missing columns {missing}")
    unknown = sorted(set(model_input["species"].astype(str)) - set(DOMAIN_OF))
    if unknown:
        raise InputError(f"{dataset}.species: expected only {list(DOMAIN_OF)}, got {unknown}")
    absent = model_input[list(features)].isna()
    if complete and absent.any().any():
        raise InputError(f"{dataset}: feature columns hold NaN (expected complete rows)")
    if absent.all(axis=1).any():
        raise InputError(f"{dataset}: specimen {int(model_input.loc[absent.all(axis=1), 'specimen_id'].iloc[0])} "
                         "has no feature (expected at least one per cell)")


def split_cells(model_input: pd.DataFrame, splits: pd.DataFrame, split: int) -> SplitCells:
    return SplitCells(*(cells_in_role(model_input, splits, split, role) for role in ("train", "validation", "test")))


def _of(cells: pd.DataFrame, species: Sequence[str]) -> pd.DataFrame:
    return cells[cells["species"].astype(str).isin(species).to_numpy()].reset_index(drop=True)


def design_matrix(cells: pd.DataFrame, features: Sequence[str], species_feature: bool) -> np.ndarray:
    x = cells[list(features)].to_numpy(dtype=float)
    if species_feature:
        x = np.column_stack([x, cells["domain"].to_numpy(dtype=float)])
    return x


# the column of a missingness indicator (sklearn's MissingIndicator names, as the simple models')
INDICATOR_PREFIX = "missingindicator_"


def with_missingness_indicators(x: np.ndarray, names: Sequence[str], training: np.ndarray
                                ) -> tuple[np.ndarray, list[str]]:
    """``x`` with a 0/1 column per feature missing (NaN) in some ``training`` row, as
    sklearn's ``MissingIndicator(features="missing-only")`` fitted on those rows."""
    columns = np.flatnonzero(np.isnan(x[np.asarray(training, dtype=bool)]).any(axis=0))
    indicators = np.isnan(x[:, columns]).astype(float)
    return np.column_stack([x, indicators]), [*names, *(f"{INDICATOR_PREFIX}{names[j]}" for j in columns)]


def _is_target(cells: pd.DataFrame) -> np.ndarray:
    return (cells["species"].astype(str) == TARGET).to_numpy()


@dataclass
class StackResult:
    predictions: pd.DataFrame  # model, split, specimen_id, species, excitatory, probability
    history: pd.DataFrame  # model, split, epoch, the curves of HISTORY_COLUMNS, best_epoch
    priors: list[dict]  # per split: split, source_prior, em, bbse (models that never see human labels)
    exported: keras.Model | None = None
    # the validation cells' probabilities (columns of predictions), for label-free model selection
    validation: pd.DataFrame | None = None
    # a gated network's mean test-cell gates: model, split, species, feature, mean_gate, cells
    gate_profiles: pd.DataFrame | None = None


# the curves of dann.training_history, in its column order (0 where a network has no domain head)
HISTORY_COLUMNS = ("label_loss", "domain_loss", "domain_accuracy", "val_label_loss", "val_label_accuracy",
                   "val_domain_loss", "val_domain_accuracy", "lambda")


def member_roles(cells: pd.DataFrame, splits: pd.DataFrame, split_ids: Sequence[int]) -> np.ndarray:
    """``(cells, splits)``: each cell's role (train, validation, test) in each split."""
    roles = np.empty((len(cells), len(split_ids)), dtype=object)
    for k, split in enumerate(split_ids):
        in_split = splits[splits["split"] == split].set_index("specimen_id")["role"]
        roles[:, k] = cells["specimen_id"].map(in_split).to_numpy()
        for role in ("train", "validation", "test"):
            if not (roles[:, k] == role).any():
                raise InputError(f"splits: split {split} has no cells in role {role!r}")
    return roles


def _label_weights(spec: DannModel, cells: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Label-loss weight of each of ``cells`` in ``rows`` (0 elsewhere): 1 for a labelled
    species' cell, or each labelled species half the total (``balance_label_species``)."""
    labelled = cells["species"].astype(str).isin(spec.labelled_species).to_numpy()
    weights = np.zeros(len(cells))
    if spec.balance_label_species and len(spec.labelled_species) > 1:
        weights[rows] = np.where(labelled[rows], label_shift.domain_balanced_weights(cells["domain"][rows]), 0.0)
    else:
        weights[rows] = labelled[rows]
    return weights


@dataclass(frozen=True)
class MemberMasks:
    """``(cells, splits)`` weights of each cell for each split's member (0: not its cell)."""

    label_weight: np.ndarray
    domain_weight: np.ndarray
    validation_weight: np.ndarray
    validation_domain_weight: np.ndarray
    train_rows: np.ndarray  # its training cells of the model's species (its scaler's rows)
    validation_rows: np.ndarray
    source_priors: list  # P(excitatory) among its source training cells (None without any)


def member_masks(name: str, spec: DannModel, cells: pd.DataFrame, roles: np.ndarray, split_ids: Sequence[int],
                 target_priors: dict[int, float] | None = None) -> MemberMasks:
    """What each split's member sees: its training cells of ``spec.train_species`` in its
    label loss (labels of ``spec.labelled_species`` only, species balanced if asked) and, with
    a domain head, in its domain-balanced (optionally reweighted) domain loss; its validation
    cells for early stopping. A model that never reads a human label also aligns its unlabelled
    human validation cells in the domain loss (the target pool is every unlabelled human cell
    it may see). A cell outside those roles, its test cells included, weighs 0."""
    label = cells[LABEL].to_numpy(dtype=float)
    domain = cells["domain"].to_numpy(dtype=float)
    target = _is_target(cells)
    in_species = cells["species"].astype(str).isin(spec.train_species).to_numpy()
    shape = (len(cells), len(split_ids))
    label_w, domain_w, val_w, val_domain_w = (np.zeros(shape) for _ in range(4))
    train_rows = (roles == "train") & in_species[:, None]
    validation_rows = (roles == "validation") & in_species[:, None]
    source_priors = []
    for k, split in enumerate(split_ids):
        train, validation = train_rows[:, k], validation_rows[:, k]
        source_labels = label[train & ~target]
        source_prior = float(source_labels.mean()) if len(source_labels) else None
        source_priors.append(source_prior)
        label_w[:, k] = _label_weights(spec, cells, train)
        val_w[:, k] = _label_weights(spec, cells, validation)
        if spec.domain_head:
            # a model that never reads a human label may also align its unlabelled human
            # validation cells: early stopping reads only the labelled species' validation cells
            aligned = train | (validation & target) if spec.never_sees_target_labels else train
            source_weights = None
            if spec.reweighting != "none":
                if target_priors is None or split not in target_priors:
                    raise ValueError(f"{name}: reweighting={spec.reweighting!r} needs a target-prior estimate "
                                     f"of split {split}")
                source_weights = label_shift.class_importance_weights(label[aligned], source_prior,
                                                                      target_priors[split])
            domain_w[aligned, k] = label_shift.domain_balanced_weights(domain[aligned], source_weights)
            val_domain_w[validation, k] = label_shift.domain_balanced_weights(domain[validation])
    return MemberMasks(label_w, domain_w, val_w, val_domain_w, train_rows, validation_rows, source_priors)


@dataclass(frozen=True)
class MemberPlan:
    """The stack's members: each one's ``(cells,)`` roles (column k of ``roles``), split,
    seed and fold of its split's cross-fitting (0 for a single network per split)."""

    roles: np.ndarray
    split: np.ndarray
    seed: list[int]
    fold: np.ndarray


def single_network_plan(roles: np.ndarray, split_ids: Sequence[int], seed: int) -> MemberPlan:
    """One member per split, seeded ``seed + split``, with the split's own roles."""
    return MemberPlan(roles, np.asarray(split_ids, dtype="int64"), [seed + int(s) for s in split_ids],
                      np.zeros(len(split_ids), dtype="int64"))


def cross_fitted_plan(cells: pd.DataFrame, roles: np.ndarray, split_ids: Sequence[int], n_members: int,
                      seed: int, labelled_species: Sequence[str]) -> MemberPlan:
    """``n_members`` members per split: the split's non-test cells in ``n_members`` folds,
    stratified by label and species (by species alone for cells outside
    ``labelled_species``: a model that never reads a human label does not read it in its
    folds either) and grouped by donor (``donor_id``; by cell without one), drawn with seed
    ``seed + split``; member j trains on every fold but the j-th and stops early on it (its
    ``validation`` cells), seeded ``(seed + split) * 100 + j``. The split's test cells stay
    its test cells."""
    from sklearn.model_selection import StratifiedGroupKFold

    domain = cells["domain"].to_numpy(dtype="int64")
    labelled = cells["species"].astype(str).isin(labelled_species).to_numpy()
    strata = np.where(labelled, cells[LABEL].to_numpy(dtype="int64") * 2 + domain, 4 + domain)
    if "donor_id" in cells.columns and cells["donor_id"].notna().all():
        groups = cells["donor_id"].astype(str).to_numpy()
    else:
        groups = cells["specimen_id"].astype(str).to_numpy()
    columns, member_split, seeds, folds = [], [], [], []
    for k, split in enumerate(split_ids):
        non_test = np.flatnonzero(roles[:, k] != "test")
        folding = StratifiedGroupKFold(n_members, shuffle=True, random_state=seed + int(split))
        for j, (_, stop) in enumerate(folding.split(non_test, strata[non_test], groups[non_test])):
            column = roles[:, k].copy()
            column[non_test] = "train"
            column[non_test[stop]] = "validation"
            columns.append(column)
            member_split.append(int(split))
            seeds.append((seed + int(split)) * 100 + j)
            folds.append(j)
    return MemberPlan(np.stack(columns, axis=1), np.asarray(member_split, dtype="int64"), seeds,
                      np.asarray(folds, dtype="int64"))


def train_stack(
    name: str,
    spec: DannModel,
    model_input: pd.DataFrame,
    splits: pd.DataFrame,
    features: Sequence[str],
    network: DannNetwork,
    training: DannTrainingConfig,
    seed: int,
    target_priors: dict[int, float] | None = None,
    export_split: int | None = None,
) -> StackResult:
    """Model ``name`` trained on every split of ``splits`` at once: one stacked network whose
    member k is split k's network (seed ``seed + split``), trained on that split's training
    cells of ``spec.train_species`` (labels of ``spec.labelled_species`` only), stopping
    early on its validation cells; it never sees its split's test cells, whose P(excitatory)
    (both species) it then predicts. With ``spec.imputation``, ``model_input`` may lack
    features (NaN): each member fills them with its training mean, and a missingness
    indicator per feature missing in some training row joins the input. With
    ``spec.ensemble_members`` > 1, each split has that
    many members, cross-fitted over its non-test cells (:func:`cross_fitted_plan`), and its
    test P(excitatory) is their mean. ``target_priors``: split -> human prior estimate, for
    ``spec.reweighting``. ``export_split``: that split's member as an ordinary ``build_dann``
    / ``build_classifier`` network with its training scaler baked in."""
    cells = model_input.sort_values("specimen_id", ignore_index=True)
    split_ids = sorted(int(split) for split in splits["split"].unique())
    split_roles = member_roles(cells, splits, split_ids)
    if spec.ensemble_members > 1:
        if export_split is not None:
            raise InputError(f"dann.export: {name} is a cross-fitted ensemble (ensemble_members "
                             f"{spec.ensemble_members}); expected a model of one network per split")
        plan = cross_fitted_plan(cells, split_roles, split_ids, spec.ensemble_members, seed,
                                 spec.labelled_species)
    else:
        plan = single_network_plan(split_roles, split_ids, seed)
    x = design_matrix(cells, features, spec.species_feature)
    names = [*features, "species"] if spec.species_feature else list(features)
    label = cells[LABEL].to_numpy(dtype=float)
    domain = cells["domain"].to_numpy(dtype=float)
    target = _is_target(cells)
    masks = member_masks(name, spec, cells, plan.roles, plan.split, target_priors)
    train_rows, validation_rows = masks.train_rows, masks.validation_rows
    imputing = spec.imputation != "none"
    if imputing:
        x, names = with_missingness_indicators(x, names, train_rows.any(axis=1))
    # only the cells some member learns or validates on enter the stack's minibatches
    used = (train_rows | validation_rows).any(axis=1)
    data = StackedData.build(x[used], label[used], domain[used], masks.label_weight[used], masks.domain_weight[used],
                             masks.validation_weight[used], validation_domain_weight=masks.validation_domain_weight[used],
                             scaler_rows=train_rows[used], allow_missing=imputing)
    model = StackedNetwork(x.shape[1], plan.seed, network, spec.domain_head, training.domain_loss_weight,
                           spec.conditioning, fills_missing=imputing)
    history = fit_stacked(model, data, training, shuffle_seed=seed)
    member_probability = member_probabilities(model, x)  # (members, cells)
    # each split's probability: the mean of its members' (one member without cross-fitting)
    probability = np.stack([member_probability[plan.split == split].mean(axis=0) for split in split_ids])

    frames, priors, validation = [], [], []
    for k, split in enumerate(split_ids):
        test = split_roles[:, k] == "test"
        frames.append(prediction_frame(name, split, cells[test], probability[k, test]))
        for m in np.flatnonzero(plan.split == split):
            # out of fold: each validation cell by the member that stopped on it
            validation.append(prediction_frame(name, split, cells[validation_rows[:, m]],
                                               member_probability[m, validation_rows[:, m]]))
        if spec.never_sees_target_labels:
            members = np.flatnonzero(plan.split == split)
            # every mouse cell some member of the split trains on (the members' own priors
            # differ only by a fold's share)
            source_prior = float(label[train_rows[:, members].any(axis=1) & ~target].mean())
            # out of fold: each mouse validation cell by the member that stopped on it
            stopped = [validation_rows[:, m] & ~target for m in members]
            target_pool = np.isin(split_roles[:, k], ["train", "validation"]) & target
            estimate = estimate_target_prior(member_probability[members][:, target_pool],
                                             np.concatenate([label[rows] for rows in stopped]),
                                             np.concatenate([member_probability[m, rows]
                                                             for m, rows in zip(members, stopped)]),
                                             source_prior)
            priors.append({"split": split, **estimate})
            if spec.prior_adjusted:
                human_test = test & target
                for suffix, prior, temperature in (("_prior_adjusted", estimate["em"], None),
                                                   (CALIBRATED_SUFFIX, estimate["em_calibrated"],
                                                    estimate["temperature"])):
                    adjusted = probability[k, test].astype(float).copy()
                    human = adjusted[target[test]]
                    if temperature is not None:
                        human = calibrated_mean(member_probability[members][:, human_test], temperature)
                    adjusted[target[test]] = label_shift.adjust_posteriors(human, source_prior, prior)
                    frames.append(prediction_frame(f"{name}{suffix}", split, cells[test], adjusted))
    gate_profiles = None
    if network.gating is not None:
        gates = member_gates(model, x)
        split_gates = np.stack([gates[plan.split == split].mean(axis=0) for split in split_ids])
        gate_profiles = gate_profile_table(name, split_ids, split_roles, cells, split_gates, names)
    exported = None
    if export_split is not None:
        if export_split not in split_ids:
            raise InputError(f"dann.export.split: got {export_split}; expected one of the splits {split_ids}")
        exported = export_member(model, split_ids.index(export_split))
    return StackResult(pd.concat(frames, ignore_index=True), _history_frame(name, plan, history), priors,
                       exported, pd.concat(validation, ignore_index=True), gate_profiles)


def gate_profile_table(name: str, split_ids: Sequence[int], roles: np.ndarray, cells: pd.DataFrame,
                       gates: np.ndarray, feature_names: Sequence[str]) -> pd.DataFrame:
    """Each split member's mean inference gate per feature over its test cells of each
    species (cells it never trained on): what the gating network shuts for human cells."""
    species = cells["species"].astype(str).to_numpy()
    rows = []
    for k, split in enumerate(split_ids):
        for kind in (SOURCE, TARGET):
            test = (roles[:, k] == "test") & (species == kind)
            if test.any():
                mean_gate = gates[k, test].mean(axis=0)
                rows += [{"model": name, "split": int(split), "species": kind, "feature": feature,
                          "mean_gate": float(value), "cells": int(test.sum())}
                         for feature, value in zip(feature_names, mean_gate)]
    return pd.DataFrame(rows, columns=GATE_PROFILE_COLUMNS)


def calibrated_mean(member_proba: np.ndarray, temperature: float) -> np.ndarray:
    """``(members, cells)`` posteriors, each member's temperature-scaled, then averaged:
    the temperature is fitted on members' own out-of-fold cells, so it calibrates a member;
    an average of calibrated members stays calibrated, a rescaled average need not."""
    member_proba = np.asarray(member_proba, dtype=float)
    return np.mean([calibration.scale(calibration.logits_of(p), temperature) for p in member_proba], axis=0)


def estimate_target_prior(
    member_target_proba: np.ndarray, source_validation_labels: np.ndarray, source_validation_proba: np.ndarray,
    source_prior: float,
) -> dict:
    """P(excitatory) among the target pool's cells, estimated without their labels, from
    ``(members, cells)`` posteriors (one member per split, or a split's cross-fitted
    ensemble): EM on the members' mean posterior (Saerens et al.); EM on their posteriors
    temperature-scaled to the source validation cells first (``em_calibrated``, with that
    ``temperature``: EM assumes calibrated posteriors, and an early-stopped network's are
    not; :func:`calibrated_mean`); and BBSE with the confusion matrix of the source
    validation cells (Lipton et al.). A cross-fitted ensemble's source validation cells are
    out of fold: each one's posterior comes from the member that stopped on it."""
    source_validation_labels = np.asarray(source_validation_labels).astype(int)
    target_proba = np.asarray(member_target_proba).mean(axis=0)
    temperature = calibration.fit_temperature(calibration.logits_of(source_validation_proba),
                                              source_validation_labels)
    return {
        "source_prior": source_prior,
        "em": label_shift.em_target_prior(target_proba, source_prior),
        "em_calibrated": label_shift.em_target_prior(calibrated_mean(member_target_proba, temperature),
                                                     source_prior),
        "temperature": temperature,
        "bbse": label_shift.bbse_target_prior(
            source_validation_labels, source_validation_proba > 0.5, target_proba > 0.5
        ),
    }


def prediction_frame(model: str, split: int, test: pd.DataFrame, probability: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "model": model,
        "split": int(split),
        "specimen_id": test["specimen_id"].to_numpy(dtype="int64"),
        "species": test["species"].astype(str).to_numpy(),
        LABEL: test[LABEL].to_numpy(dtype="int64"),
        "probability": np.asarray(probability, dtype=float),
    })


def _history_frame(model: str, plan: MemberPlan, history: pd.DataFrame) -> pd.DataFrame:
    """The stack's per-member history as dann.training_history rows (member k -> its split
    and, cross-fitted, its fold: ``ensemble_member``)."""
    member = history["member"].to_numpy()
    frame = pd.DataFrame({
        "model": model,
        "split": plan.split[member],
        "ensemble_member": plan.fold[member],
        "epoch": history["epoch"].to_numpy(dtype="int64"),
    })
    for column in HISTORY_COLUMNS:
        frame[column] = history[column].to_numpy(dtype=float) if column in history else 0.0
    frame["best_epoch"] = history["best_epoch"].to_numpy(dtype=bool)
    return frame


def logistic_regression_on_split(
    cells: SplitCells, features: Sequence[str], c_grid: Sequence[float], split: int, name: str = "logistic_regression"
) -> tuple[pd.DataFrame, float]:
    """Logistic regression on both species' training cells (41 features, scaler fitted on
    them); C chosen by the log-loss of the validation cells, each species weighing half."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    train_design = design_matrix(cells.train, features, False)
    scaler = StandardScaler().fit(train_design)
    x_train = scaler.transform(train_design)
    x_val = scaler.transform(design_matrix(cells.validation, features, False))
    val_weights = label_shift.domain_balanced_weights(cells.validation["domain"])
    best = None
    for c in c_grid:
        model = LogisticRegression(C=float(c), max_iter=5000).fit(x_train, cells.train[LABEL])
        loss = log_loss(cells.validation[LABEL], model.predict_proba(x_val)[:, 1], sample_weight=val_weights,
                        labels=[0, 1])
        if best is None or loss < best[0]:
            best = (loss, float(c), model)
    _, chosen_c, model = best
    probability = model.predict_proba(scaler.transform(design_matrix(cells.test, features, False)))[:, 1]
    return prediction_frame(name, split, cells.test, probability), chosen_c
