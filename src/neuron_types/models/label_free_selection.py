"""Model selection for unsupervised domain adaptation without a target label.

A source validation loss estimates the risk on source cells, not on target ones. Under
covariate shift the target risk is the source risk reweighted by w(x) = p_t(x) / p_s(x)
(importance-weighted validation, Sugiyama et al., JMLR 2007); w comes from a domain
classifier on features alone, p(t | x) / p(s | x) times n_s / n_t. DEV (You et al., ICML
2019, "Towards accurate model selection in deep unsupervised domain adaptation") lowers
that estimate's variance with w as a control variate: with L_i = w_i l_i,
R = mean(L) + eta mean(w) - eta, eta = -Cov(L, w) / Var(w) (E[w] = 1 under the source).
Kedro-free.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegressionCV
from sklearn.preprocessing import StandardScaler

# the domain classifier's regularisation, chosen by its own cross-validated log loss
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


def domain_importance_weights(source_x: np.ndarray, target_x: np.ndarray, evaluated_x: np.ndarray,
                              seed: int = 0) -> np.ndarray:
    """w(x) = p_target(x) / p_source(x) at ``evaluated_x`` (source cells), from a logistic
    regression telling ``target_x`` from ``source_x`` (features only, scaled on both), its
    C chosen from :data:`C_GRID` by 5-fold cross-validated log loss of the domain labels:
    a near-separable, overconfident classifier would put all the weight on a few cells."""
    x = np.vstack([source_x, target_x])
    is_target = np.r_[np.zeros(len(source_x)), np.ones(len(target_x))]
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegressionCV(Cs=list(C_GRID), cv=5, scoring="neg_log_loss", max_iter=5000,
                                      random_state=seed).fit(scaler.transform(x), is_target)
    p_target = classifier.predict_proba(scaler.transform(evaluated_x))[:, 1]
    return p_target / (1 - p_target) * len(source_x) / len(target_x)


def binary_log_loss(labels: np.ndarray, probability: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Each cell's log loss of P(label = 1) = ``probability``."""
    p = np.clip(np.asarray(probability, dtype=float), eps, 1 - eps)
    y = np.asarray(labels, dtype=float)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def importance_weighted_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """IWV: the mean of w_i l_i over the source validation cells."""
    return float(np.mean(np.asarray(weights) * np.asarray(losses)))


def dev_risk(losses: np.ndarray, weights: np.ndarray) -> float:
    """DEV: the importance-weighted risk with w as control variate (module docstring)."""
    weights = np.asarray(weights, dtype=float)
    weighted = weights * np.asarray(losses, dtype=float)
    variance = np.var(weights, ddof=1)
    eta = 0.0 if variance == 0 else -np.cov(weighted, weights, ddof=1)[0, 1] / variance
    return float(weighted.mean() + eta * weights.mean() - eta)
