"""LSPIN's mean gate beside a model's mean |SHAP| for every feature, one panel per class."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

GATE_COLOUR, SHAP_COLOUR = "#2a9d8f", "#1f5fa8"


def gate_vs_shap_figure(
    mean_gate: pd.DataFrame, mean_abs_shap: pd.DataFrame, spearman: Mapping[str, float], title: str
) -> Figure:
    """``mean_gate`` and ``mean_abs_shap``: features (rows) x classes (columns). Each class's
    panel lists every feature, largest mean |SHAP| on top, with two bars: the mean gate
    (0-1) and the mean |SHAP| divided by the class's largest (0-1, the largest printed in
    the legend). ``spearman``: class -> rho, printed in the panel title."""
    classes = list(mean_gate.columns)
    n_features = len(mean_gate)
    figure = Figure(figsize=(3.2 * len(classes), 0.17 * n_features + 1.8), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(classes)))
    rows = np.arange(n_features)
    for ax, name in zip(axes, classes):
        shap = mean_abs_shap[name]
        order = shap.sort_values(ascending=True, kind="stable").index
        largest = float(shap.max()) or 1.0
        gate_bars = ax.barh(rows + 0.2, mean_gate.loc[order, name], height=0.4, color=GATE_COLOUR)
        shap_bars = ax.barh(rows - 0.2, shap.loc[order] / largest, height=0.4, color=SHAP_COLOUR)
        ax.set_yticks(rows, order, fontsize=6)
        ax.set_xlim(0, 1.05)
        ax.set_ylim(-0.7, n_features - 0.3)
        ax.set_title(f"{name}\nSpearman rho = {spearman.get(name, float('nan')):.2f}, "
                     f"largest |SHAP| {largest:.3g}", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    figure.legend([gate_bars, shap_bars], ["mean gate", "mean |SHAP| / the class's largest"],
                  loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    figure.suptitle(title, fontsize=10)
    return figure
