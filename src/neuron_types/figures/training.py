"""Training curves of the networks, one panel per quantity."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

def training_curves_figure(history: pd.DataFrame, title: str) -> Figure:
    """Training curves of one or more runs (``split`` column), one panel per quantity.

    Columns used when present: ``epoch``, ``split``, ``ensemble_member``, ``label_loss``, ``val_label_loss``,
    ``domain_loss``, ``val_domain_loss``, ``domain_accuracy``, ``val_domain_accuracy``,
    ``lambda``.
    """
    panels = [
        ("label loss (BCE)", ["label_loss", "val_label_loss"]),
        ("domain loss (BCE)", ["domain_loss", "val_domain_loss"]),
        ("domain accuracy", ["domain_accuracy", "val_domain_accuracy"]),
        ("gradient-reversal lambda", ["lambda"]),
    ]
    panels = [(name, [c for c in cols if c in history.columns]) for name, cols in panels]
    panels = [(name, cols) for name, cols in panels if cols and history[cols].abs().to_numpy().sum() > 0]
    if not panels:
        raise ValueError("training_curves_figure: the history holds no curves to plot")
    figure = Figure(figsize=(4.2 * len(panels), 3.6), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    # a cross-fitted ensemble has several members per split: one line each, in the split's colour
    keys = [c for c in ("split", "ensemble_member") if c in history.columns]
    runs = [(key if isinstance(key, tuple) else (key,), run) for key, run in history.groupby(keys)] if keys else [
        ((0,), history)]
    for ax, (name, columns) in zip(axes, panels):
        for key, run in runs:
            split = key[0]
            epochs = run["epoch"] if "epoch" in run.columns else np.arange(len(run))
            for column, style in zip(columns, ("-", "--")):
                kind = "validation" if column.startswith("val_") else "training"
                ax.plot(epochs, run[column], style, linewidth=1, color=f"C{int(split) % 10}",
                        label=f"split {split}, {kind}" if key[1:] in ((), (0,)) else None)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.set_title(name)
        if name == "domain accuracy":
            ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        figure.legend(handles[: 2 * 5], labels[: 2 * 5], loc="outside right center", fontsize=7)
    figure.suptitle(title)
    return figure
