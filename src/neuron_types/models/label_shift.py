"""Label shift between species: estimating the target class prior without target labels,
and the weights that make adversarial alignment respect it.

Human cells are ~77% excitatory, mouse cells ~50%. Aligning the marginal feature
distributions of the two species then forces the network to map some human excitatory
cells onto mouse inhibitory ones (Zhao et al., ICML 2019). Weighting source cells by
``w_y = pi_target(y) / pi_source(y)`` in the domain loss aligns the *reweighted* source with
the target instead (importance-weighted DANN, Combes et al., NeurIPS 2020); the target prior
comes from unlabelled target cells by EM (Saerens et al., Neural Computation 2002) or BBSE
(Lipton et al., ICML 2018). Binary labels throughout: priors are P(label = 1).
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-6


def _check_prior(prior: float, name: str) -> float:
    prior = float(prior)
    if not 0.0 < prior < 1.0:
        raise ValueError(f"{name}: expected a class prior strictly between 0 and 1, got {prior}")
    return prior


def adjust_posteriors(proba: np.ndarray, source_prior: float, target_prior: float) -> np.ndarray:
    """Bayes-corrects P_source(1|x) to P_target(1|x) when only the class prior changed."""
    source_prior = _check_prior(source_prior, "source_prior")
    target_prior = _check_prior(target_prior, "target_prior")
    p = np.clip(np.asarray(proba, dtype=float), _EPS, 1 - _EPS)
    positive = p * target_prior / source_prior
    negative = (1 - p) * (1 - target_prior) / (1 - source_prior)
    return positive / (positive + negative)


def em_target_prior(
    target_proba: np.ndarray, source_prior: float, max_iter: int = 1000, tol: float = 1e-8
) -> float:
    """Saerens-Latinne-Decaestecker EM: the target prior that makes the prior-corrected
    posteriors on the unlabelled target cells average to that prior.

    Needs calibrated source posteriors; a fixed point of the iteration is a maximum of the
    target likelihood in the prior.
    """
    source_prior = _check_prior(source_prior, "source_prior")
    target_proba = np.asarray(target_proba, dtype=float)
    if target_proba.size == 0:
        raise ValueError("target_proba: no unlabelled target cells to estimate the prior from")
    prior = source_prior
    for _ in range(max_iter):
        updated = float(np.clip(adjust_posteriors(target_proba, source_prior, prior).mean(), _EPS, 1 - _EPS))
        if abs(updated - prior) < tol:
            return updated
        prior = updated
    return prior


def bbse_target_prior(
    source_true: np.ndarray, source_pred: np.ndarray, target_pred: np.ndarray
) -> float:
    """Black-box shift estimation: invert the source confusion matrix (held-out source
    cells) against the target's predicted-class rate. Clipped into (0, 1)."""
    source_true = np.asarray(source_true).astype(int)
    source_pred = np.asarray(source_pred).astype(int)
    target_pred = np.asarray(target_pred).astype(int)
    if source_true.size == 0 or target_pred.size == 0:
        raise ValueError("bbse_target_prior: needs held-out source cells and target cells")
    # C[i, j] = P(pred = i, true = j) on source; q = P(pred = i) on target; C w = q.
    confusion = np.array(
        [[np.mean((source_pred == i) & (source_true == j)) for j in (0, 1)] for i in (0, 1)]
    )
    q = np.array([np.mean(target_pred == 0), np.mean(target_pred == 1)])
    try:
        weights = np.linalg.solve(confusion, q)
    except np.linalg.LinAlgError:
        weights = np.linalg.lstsq(confusion, q, rcond=None)[0]
    weights = np.clip(weights, 0.0, None)
    source_prior = np.array([np.mean(source_true == 0), np.mean(source_true == 1)])
    target = weights * source_prior
    if target.sum() <= 0:
        raise ValueError("bbse_target_prior: degenerate estimate (all weights clipped to 0)")
    return float(np.clip(target[1] / target.sum(), _EPS, 1 - _EPS))


def class_importance_weights(labels: np.ndarray, source_prior: float, target_prior: float) -> np.ndarray:
    """``pi_target(y) / pi_source(y)`` per source cell."""
    source_prior = _check_prior(source_prior, "source_prior")
    target_prior = _check_prior(target_prior, "target_prior")
    labels = np.asarray(labels).astype(int)
    return np.where(labels == 1, target_prior / source_prior, (1 - target_prior) / (1 - source_prior))


def domain_balanced_weights(domain: np.ndarray, source_weights: np.ndarray | None = None) -> np.ndarray:
    """Domain-loss weights giving each domain half the total weight.

    ``source_weights`` (for example importance weights) reshape the source cells' weight
    within the source half. Mouse cells outnumber human ones ~5:1; unbalanced, the domain
    head could reach 83% accuracy by always answering "mouse".
    """
    domain = np.asarray(domain).astype(int)
    weights = np.ones(len(domain), dtype=float)
    if source_weights is not None:
        source_weights = np.asarray(source_weights, dtype=float)
        if source_weights.shape != weights.shape:
            raise ValueError(f"source_weights: expected shape {weights.shape}, got {source_weights.shape}")
        weights = np.where(domain == 0, source_weights, 1.0)
    for value in (0, 1):
        members = domain == value
        total = weights[members].sum()
        if members.any() and total > 0:
            weights[members] *= 0.5 * len(domain) / total
    return weights
