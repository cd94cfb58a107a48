"""Figures and summaries shared by the model pipelines (DANN, LSPIN). Kedro-free.

Figures are built on :class:`matplotlib.figure.Figure` directly, not through pyplot, so a
run that makes many of them keeps no global figure state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from neuron_types.evaluation import summarise_splits

SPLIT_METRIC_COLUMNS = ("model", "split", "species", "metric", "value")


# -- metric summaries ------------------------------------------------------------------------
def summarise_split_metrics(split_metrics: pd.DataFrame) -> dict:
    """Long per-split table -> ``{model: {species: {metric: {mean, std, ci95, n_splits}}}}``.

    ``split_metrics`` has the columns ``model, split, species, metric, value`` (one row per
    model, split, test species and metric), as the pipelines' ``*_split_metrics`` tables.
    """
    missing = [c for c in SPLIT_METRIC_COLUMNS if c not in split_metrics.columns]
    if missing:
        raise ValueError(f"split_metrics: missing columns {missing}; expected {list(SPLIT_METRIC_COLUMNS)}")
    summary: dict = {}
    for (model, species), rows in split_metrics.groupby(["model", "species"], sort=False):
        per_split = [
            dict(zip(group["metric"], group["value"].astype(float)))
            for _, group in rows.groupby("split", sort=True)
        ]
        summary.setdefault(str(model), {})[str(species)] = summarise_splits(per_split)
    return summary


def split_metrics_table(per_split: Mapping[tuple[str, int, str], Mapping[str, float]]) -> pd.DataFrame:
    """``{(model, split, species): {metric: value}}`` -> the long per-split table."""
    rows = [
        {"model": model, "split": int(split), "species": species, "metric": metric, "value": float(value)}
        for (model, split, species), scores in per_split.items()
        for metric, value in scores.items()
    ]
    return pd.DataFrame(rows, columns=list(SPLIT_METRIC_COLUMNS))


# -- confusion matrices ------------------------------------------------------------------------
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
                label += f"\n(n={int(counts.iat[i, j])})"
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


# -- training curves ---------------------------------------------------------------------------
def training_curves_figure(history: pd.DataFrame, title: str) -> Figure:
    """Training curves of one or more runs (``split`` column), one panel per quantity.

    Columns used when present: ``epoch``, ``split``, ``label_loss``, ``val_label_loss``,
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
    runs = history.groupby("split") if "split" in history.columns else [(0, history)]
    for ax, (name, columns) in zip(axes, panels):
        for split, run in runs:
            epochs = run["epoch"] if "epoch" in run.columns else np.arange(len(run))
            for column, style in zip(columns, ("-", "--")):
                ax.plot(epochs, run[column], style, linewidth=1, color=f"C{int(split) % 10}",
                        label=f"split {split}, {'validation' if column.startswith('val_') else 'training'}")
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


# -- SHAP --------------------------------------------------------------------------------------
def shap_bar_figure(shap_values: np.ndarray, feature_names: Sequence[str], title: str, top: int = 20) -> Figure:
    """Mean |SHAP value| per feature, largest first (the ``top`` features)."""
    values = np.asarray(shap_values, dtype=float)
    importance = np.abs(values).mean(axis=0)
    order = np.argsort(importance)[::-1][:top][::-1]
    figure = Figure(figsize=(6.5, 0.28 * len(order) + 1.3), layout="constrained")
    ax = figure.subplots()
    ax.barh(range(len(order)), importance[order], color="#1f5fa8")
    ax.set_yticks(range(len(order)), [feature_names[i] for i in order], fontsize=8)
    ax.set_xlabel("mean |SHAP value| (change in P(excitatory))")
    ax.set_title(title)
    return figure


def shap_beeswarm_figure(
    shap_values: np.ndarray, feature_values: np.ndarray, feature_names: Sequence[str], title: str, top: int = 20
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
    ax.set_xlabel("SHAP value (change in P(excitatory))")
    ax.set_title(title)
    bar = figure.colorbar(scatter, ax=ax, ticks=[0, 1])
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    return figure
