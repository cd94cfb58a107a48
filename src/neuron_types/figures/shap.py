"""SHAP summaries: mean |SHAP| bars and beeswarms."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

EXCITATORY_UNITS = "change in P(excitatory)"


def shap_bar_figure(
    shap_values: np.ndarray, feature_names: Sequence[str], title: str, top: int = 20,
    units: str = EXCITATORY_UNITS,
) -> Figure:
    """Mean |SHAP value| per feature, largest first (the ``top`` features)."""
    values = np.asarray(shap_values, dtype=float)
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(importance)[::-1][:top][::-1]
    figure = Figure(figsize=(6.5, 0.28 * len(order) + 1.3), layout="constrained")
    ax = figure.subplots()
    ax.barh(range(len(order)), importance[order], color="#1f5fa8")
    ax.set_yticks(range(len(order)), [feature_names[i] for i in order], fontsize=8)
    ax.set_xlabel(f"mean |SHAP value| ({units})")
    ax.set_title(title)
    return figure


def shap_beeswarm_figure(
    shap_values: np.ndarray, feature_values: np.ndarray, feature_names: Sequence[str], title: str, top: int = 20,
    units: str = EXCITATORY_UNITS,
) -> Figure:
    """One dot per cell and feature: SHAP value on x, coloured by the feature's value
    (rank within the explained cells, low = blue, high = red)."""
    values = np.asarray(shap_values, dtype=float)
    features = np.asarray(feature_values, dtype=float)
    order = np.argsort(np.abs(values).mean(axis=0))[::-1][:top][::-1]
    rng = np.random.default_rng(0)
    figure = Figure(figsize=(7.0, 0.3 * len(order) + 1.4), layout="constrained")
    ax = figure.subplots()
    scatter = None
    for row, feature in enumerate(order):
        colour = pd.Series(features[:, feature]).rank(pct=True).to_numpy()
        jitter = rng.uniform(-0.3, 0.3, size=len(values))
        scatter = ax.scatter(values[:, feature], row + jitter, c=colour, cmap="coolwarm", s=8,
                             vmin=0, vmax=1, linewidths=0)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(range(len(order)), [feature_names[i] for i in order], fontsize=8)
    ax.set_xlabel(f"SHAP value ({units})")
    ax.set_title(title)
    bar = figure.colorbar(scatter, ax=ax, ticks=[0, 1])
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    return figure
