"""The simple models every cross-species network is paired against: logistic regressions on
normalised features, one split at a time. Kedro-free and TensorFlow-free.

An entry (:class:`~neuron_types.config.dann.SimpleModel`) says whose labels train it, how
the features are normalised, and, for an entry that never reads a human label, whether its
human posteriors are Bayes-corrected to the human class prior EM estimates from unlabelled
human cells. Every transform is fitted on the split's training rows only; C is chosen on
its validation cells of the labelled species; test cells are only predicted.

Mouse cells are ~50% excitatory, human cells ~77%. Z-scoring each species with its own
statistics removes the species offsets that several features show in both classes (e.g.
``fast_trough_v_ramp`` about -1.3 SD), but it also removes the class-prior difference,
mapping some human excitatory cells onto the mouse inhibitory side. ``prior_matched`` weights the
mouse cells by ``pi_human(y) / pi_mouse(y)`` before taking their statistics, so that both
species are standardised as populations with the same class prior.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import QuantileTransformer, StandardScaler

from neuron_types.cells import EI_LABEL, SOURCE, SPECIES, TARGET
from neuron_types.config.dann import SimpleModel
from neuron_types.errors import InputError
from neuron_types.models import calibration, label_shift

# the transform the prior estimate of an unsupervised prior_matched entry comes from
_PRIOR_ESTIMATOR = SimpleModel(labelled_species=[SOURCE], normalisation="quantile", prior_correction="em")


@dataclass(frozen=True)
class Normaliser:
    """A fitted scikit-learn transform per species (the same object for each species when
    the normalisation is shared)."""

    transforms: dict[str, Any]

    def transform(self, cells: pd.DataFrame, features: Sequence[str]) -> np.ndarray:
        x = cells[list(features)].to_numpy(dtype=float)
        species = cells["species"].astype(str).to_numpy()
        out = np.empty_like(x)
        for name in np.unique(species):
            if name not in self.transforms:
                raise InputError(f"species: got {name!r}; this normaliser was fitted on {sorted(self.transforms)}")
            rows = species == name
            out[rows] = self.transforms[name].transform(x[rows])
        return out


@dataclass(frozen=True)
class SimpleFit:
    probability: np.ndarray  # P(excitatory) of each test cell, in the order of ``test``
    c: float
    # the human prior the entry used: its EM correction's estimate, else prior_matched's; None if none
    target_prior: float | None
    source_prior: float  # P(excitatory) among its training cells of the labelled species
    # the temperature its posteriors were scaled by before the EM estimate (None: not scaled)
    temperature: float | None = None


def of_species(cells: pd.DataFrame, species: Sequence[str]) -> pd.DataFrame:
    return cells[cells["species"].astype(str).isin(species).to_numpy()].reset_index(drop=True)


def _training_rows(cells: pd.DataFrame, species: str) -> pd.DataFrame:
    rows = of_species(cells, [species])
    if rows.empty:
        raise InputError(f"ei_splits: no {species} training cells in this split; per-species normalisation needs some")
    return rows


def fit_normaliser(
    normalisation: str, train: pd.DataFrame, features: Sequence[str], labelled_species: Sequence[str],
    target_prior: float | None = None, max_quantiles: int = 1000, seed: int = 0,
) -> Normaliser:
    """The entry's transform, fitted on ``train`` (training rows only). ``standard`` and
    ``quantile``: one transform fitted on the labelled species' rows. ``per_species`` and
    ``prior_matched``: a StandardScaler per species on its own rows, the mouse one weighted
    to ``target_prior`` (``prior_matched``); only mouse labels are read for the weights."""
    if normalisation in ("standard", "quantile"):
        x = of_species(train, labelled_species)[list(features)].to_numpy(dtype=float)
        if normalisation == "standard":
            shared = StandardScaler().fit(x)
        else:
            shared = QuantileTransformer(n_quantiles=min(max_quantiles, len(x)), output_distribution="normal",
                                         random_state=seed).fit(x)
        return Normaliser({species: shared for species in SPECIES})
    if normalisation not in ("per_species", "prior_matched"):
        raise ValueError(f"normalisation: got {normalisation!r}; expected standard, quantile, per_species or "
                         "prior_matched")
    mouse, human = _training_rows(train, SOURCE), _training_rows(train, TARGET)
    weights = None
    if normalisation == "prior_matched":
        if target_prior is None:
            raise ValueError("prior_matched normalisation needs a target_prior")
        labels = mouse[EI_LABEL].to_numpy()
        weights = label_shift.class_importance_weights(labels, float(labels.mean()), target_prior)
    return Normaliser({
        SOURCE: StandardScaler().fit(mouse[list(features)].to_numpy(dtype=float), sample_weight=weights),
        TARGET: StandardScaler().fit(human[list(features)].to_numpy(dtype=float)),
    })


def fit_imputer(strategy: str, rows: pd.DataFrame, features: Sequence[str]) -> SimpleImputer:
    """scikit-learn's ``SimpleImputer`` (``strategy``, and a 0/1 indicator column per feature
    missing among ``rows``), fitted on ``rows[features]``, its output a DataFrame. A feature
    missing in every row is refused here: ``SimpleImputer`` would drop its column silently."""
    values = rows[list(features)]
    empty = [f for f in features if values[f].isna().all()]
    if empty:
        raise InputError(f"ei_every_cell_model_input: features {empty} are missing for every training cell of "
                         "this split; expected some value to impute from")
    return SimpleImputer(strategy=strategy, add_indicator=True).set_output(transform="pandas").fit(values)


def imputed(imputer: SimpleImputer, cells: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``cells`` with the imputer's features filled and its indicator columns added, and the
    indicator columns' names."""
    filled = imputer.transform(cells[list(imputer.feature_names_in_)])
    indicators = [c for c in filled.columns if c not in imputer.feature_names_in_]
    return cells.assign(**{c: filled[c].to_numpy(dtype=float) for c in filled.columns}), indicators


def _design(normaliser: Normaliser, cells: pd.DataFrame, features: Sequence[str], species_feature: bool,
            extra: Sequence[str] = ()) -> np.ndarray:
    """Normalised features, then ``extra`` columns as they are (missingness indicators), then
    the species indicator."""
    x = normaliser.transform(cells, features)
    if extra:
        x = np.column_stack([x, cells[list(extra)].to_numpy(dtype=float)])
    if species_feature:
        x = np.column_stack([x, (cells["species"].astype(str) == TARGET).to_numpy(dtype=float)])
    return x


def select_c(
    x_train: np.ndarray, y_train: np.ndarray, x_validation: np.ndarray, validation: pd.DataFrame,
    c_grid: Sequence[float],
) -> tuple[LogisticRegression, float]:
    """The regression whose C gives the lowest log-loss on the validation cells, each
    species among them weighing half."""
    weights = label_shift.domain_balanced_weights(validation["domain"].to_numpy())
    best = None
    for c in c_grid:
        model = LogisticRegression(C=float(c), max_iter=5000).fit(x_train, y_train)
        loss = log_loss(validation[EI_LABEL], model.predict_proba(x_validation)[:, 1], sample_weight=weights,
                        labels=[0, 1])
        if best is None or loss < best[0]:
            best = (loss, float(c), model)
    return best[2], best[1]


def target_pool(spec: SimpleModel, train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
    """The unlabelled human cells whose features the entry's prior estimate reads: training
    and validation cells, and test cells too for a ``transductive`` entry. Labels dropped."""
    roles = [train, validation, test] if spec.target_pool == "transductive" else [train, validation]
    pool = of_species(pd.concat(roles, ignore_index=True), [TARGET])
    if pool.empty:
        raise InputError("ei_splits: no unlabelled human cells in the target pool of this split")
    return pool.drop(columns=[EI_LABEL, "cell_class"], errors="ignore")


def em_corrected(test_proba: np.ndarray, pool_proba: np.ndarray, source_prior: float,
                 temperature: float | None = None) -> tuple[np.ndarray, float]:
    """``test_proba`` Bayes-corrected to the human prior that EM estimates from the pool's
    posteriors (Saerens et al. 2002); returns the corrected posteriors and the estimate.
    ``temperature``: both sets of posteriors are first temperature-scaled (EM assumes
    calibrated posteriors)."""
    if temperature is not None:
        test_proba = calibration.scale(calibration.logits_of(test_proba), temperature)
        pool_proba = calibration.scale(calibration.logits_of(pool_proba), temperature)
    estimate = label_shift.em_target_prior(pool_proba, source_prior)
    return label_shift.adjust_posteriors(test_proba, source_prior, estimate), estimate


def fit_simple_model(
    spec: SimpleModel, train: pd.DataFrame, validation: pd.DataFrame, test: pd.DataFrame,
    features: Sequence[str], c_grid: Sequence[float], max_quantiles: int = 1000, seed: int = 0,
) -> SimpleFit:
    """One split of entry ``spec``: normaliser and regression fitted on ``train`` (labels of
    ``spec.labelled_species`` only), C chosen on ``validation``, P(excitatory) of ``test``.
    With ``spec.imputation``, missing features are imputed first (:func:`fit_imputer`, fitted
    on the labelled species' training rows) and their missingness indicators join the design."""
    labelled = list(spec.labelled_species)
    indicators: list[str] = []
    if spec.imputation != "none":
        # fitted on the rows the entry's normaliser learns from: its labelled species' training cells
        imputer = fit_imputer(spec.imputation, of_species(train, labelled), features)
        (train, indicators), (validation, _), (test, _) = (imputed(imputer, t) for t in (train, validation, test))
    train_labelled, validation_labelled = of_species(train, labelled), of_species(validation, labelled)
    for role, rows in (("training", train_labelled), ("validation", validation_labelled)):
        if rows.empty:
            raise InputError(f"ei_splits: no {'/'.join(labelled)} {role} cells in this split")
    source_prior = float(train_labelled[EI_LABEL].mean())
    pool = target_pool(spec, train, validation, test) if spec.estimates_target_prior else None
    target_prior = None
    if spec.normalisation == "prior_matched":
        if spec.never_sees_target_labels:
            estimator = _PRIOR_ESTIMATOR.model_copy(update={"target_pool": spec.target_pool,
                                                            "calibration": spec.calibration})
            target_prior = fit_simple_model(estimator, train, validation, test, features, c_grid, max_quantiles,
                                            seed).target_prior
        else:
            target_prior = float(of_species(train, [TARGET])[EI_LABEL].mean())
            if not 0 < target_prior < 1:
                raise InputError(f"ei_splits: this split's human training cells are all of one class (P(excitatory) "
                                 f"= {target_prior}); prior_matched normalisation needs both classes")
    normaliser = fit_normaliser(spec.normalisation, train, features, labelled, target_prior, max_quantiles, seed)

    def design(cells):
        return _design(normaliser, cells, features, spec.species_feature, indicators)

    model, c = select_c(design(train_labelled), train_labelled[EI_LABEL].to_numpy(), design(validation_labelled),
                        validation_labelled, c_grid)
    probability = model.predict_proba(design(test))[:, 1]
    temperature = None
    if spec.prior_correction == "em":
        if spec.calibration == "temperature":
            # on the validation cells of the labelled (source) species: the only labelled held-out cells
            temperature = calibration.fit_temperature(
                calibration.logits_of(model.predict_proba(design(validation_labelled))[:, 1]),
                validation_labelled[EI_LABEL].to_numpy())
        human = (test["species"].astype(str) == TARGET).to_numpy()
        probability[human], target_prior = em_corrected(probability[human], model.predict_proba(design(pool))[:, 1],
                                                        source_prior, temperature)
    return SimpleFit(probability, c, target_prior, source_prior, temperature)
