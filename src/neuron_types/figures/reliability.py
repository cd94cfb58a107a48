"""Reliability diagrams: accuracy against confidence per equal-width bin, one panel per
group of cells (a species, a calibration)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def reliability_figure(panels: dict[str, pd.DataFrame], title: str) -> Figure:
    """``panels``: panel title -> the bins of ``calibration.reliability_bins`` (bin_lower,
    bin_upper, cells, mean_confidence, accuracy). Bars: accuracy per bin; dots: mean
    confidence against accuracy; on the diagonal, perfect calibration."""
    if not panels:
        raise ValueError("reliability_figure: no panels to draw")
    figure = Figure(figsize=(3.8 * len(panels), 3.8), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, bins) in zip(axes, panels.items()):
        used = bins[bins["cells"] > 0]
        width = float((bins["bin_upper"] - bins["bin_lower"]).iloc[0])
        ax.bar(used["bin_lower"], used["accuracy"], width=width, align="edge", color="C0", alpha=0.7,
               edgecolor="white", label="accuracy of the bin")
        ax.plot(used["mean_confidence"], used["accuracy"], "o", color="C1", markersize=4,
                label="(mean confidence, accuracy)")
        ax.plot([0, 1], [0, 1], ":", color="grey", linewidth=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (probability of the predicted class)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"{name}\n(n = {int(np.sum(bins['cells']))} predictions)", fontsize=9)
    axes[0].legend(loc="upper left", fontsize=8)
    figure.suptitle(title, fontsize=10)
    return figure
