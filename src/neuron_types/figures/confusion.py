"""Confusion matrices: one drawer, used for every task's figures."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from matplotlib.figure import Figure

def draw_confusion_matrix(ax, confusion: pd.DataFrame, title: str, counts: pd.DataFrame | None = None):
    """One row-normalised confusion matrix (rows = true class) on ``ax``, cells annotated;
    returns the image (for a colour bar)."""
    values = confusion.to_numpy(dtype=float)
    image = ax.imshow(values, vmin=0.0, vmax=1.0, cmap="Blues")
    classes_true = [str(c) for c in confusion.index]
    classes_pred = [str(c) for c in confusion.columns]
    ax.set_xticks(range(len(classes_pred)), classes_pred, rotation=30, ha="right")
    ax.set_yticks(range(len(classes_true)), classes_true)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            label = f"{values[i, j]:.2f}"
            if counts is not None:
                # counts averaged over repeats may be fractional (evaluation.confusion_averaged_over_repeats)
                count = float(counts.iat[i, j])
                label += f"\n(n={count:.0f})" if count.is_integer() else f"\n(n={count:.1f})"
            ax.text(j, i, label, ha="center", va="center", fontsize=9,
                    color="white" if values[i, j] > 0.6 else "black")
    return image


def confusion_matrices_figure(
    confusions: Mapping[str, pd.DataFrame],
    title: str,
    counts: Mapping[str, pd.DataFrame] | None = None,
) -> Figure:
    """Side-by-side row-normalised confusion matrices, one panel per key (e.g. species)."""
    if not confusions:
        raise ValueError("confusion_matrices_figure: no confusion matrices to draw")
    n = len(confusions)
    size = max(3.2, 1.1 * max(len(c) for c in confusions.values()) + 1.6)
    figure = Figure(figsize=(size * n + 1.0, size + 0.6), layout="constrained")
    axes = figure.subplots(1, n, squeeze=False)[0]
    image = None
    for ax, (name, confusion) in zip(axes, confusions.items()):
        image = draw_confusion_matrix(ax, confusion, name, None if counts is None else counts.get(name))
    figure.colorbar(image, ax=list(axes), shrink=0.8, label="fraction of the true class")
    figure.suptitle(title)
    return figure


def confusion_figure(confusion: pd.DataFrame, title: str, counts: pd.DataFrame | None = None) -> Figure:
    """One row-normalised confusion matrix (rows = true class) with a colour bar."""
    return confusion_matrices_figure({"": confusion}, title, None if counts is None else {"": counts})
