"""LSPIN gate maps: the gates of every test cell, and the mean gate per class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.cluster.hierarchy import leaves_list, linkage

CLASS_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")
GATE_COLOURMAP = "viridis"


def _order(values: np.ndarray) -> np.ndarray:
    """Leaf order of average-linkage clustering; constant data keeps its order."""
    if len(values) < 3 or np.allclose(values, values[0]):
        return np.arange(len(values))
    return leaves_list(linkage(values, method="average", metric="euclidean"))


def gate_heatmap_figure(
    gates: pd.DataFrame, feature_names: Sequence[str], class_names: Sequence[str], title: str
) -> Figure:
    """Test cells x features gate matrix, rows and columns ordered by hierarchical
    clustering, with each cell's true subclass as a colour strip on the left."""
    values = gates[list(feature_names)].to_numpy(dtype=float)
    rows, columns = _order(values), _order(values.T)
    values = values[rows][:, columns]
    labels = gates["subclass"].to_numpy()[rows]
    colours = {name: CLASS_COLOURS[i % len(CLASS_COLOURS)] for i, name in enumerate(class_names)}
    class_index = np.array([list(class_names).index(label) for label in labels])[:, None]

    figure = Figure(figsize=(12, 9), layout="constrained")
    strip_ax, map_ax = figure.subplots(1, 2, gridspec_kw={"width_ratios": [0.4, 12]}, sharey=True)
    strip_ax.imshow(class_index, aspect="auto", interpolation="nearest",
                    cmap=ListedColormap([colours[name] for name in class_names]),
                    vmin=-0.5, vmax=len(class_names) - 0.5)
    strip_ax.set_xticks([0], ["true\nsubclass"], fontsize=8)
    strip_ax.set_yticks([])
    strip_ax.set_ylabel(f"test cells of every split ({len(values)} rows, clustered by their gates)")
    image = map_ax.imshow(values, aspect="auto", interpolation="nearest",
                          cmap=colormaps[GATE_COLOURMAP], vmin=0.0, vmax=1.0)
    map_ax.set_xticks(range(len(columns)), np.asarray(feature_names)[columns], rotation=90,
                      fontsize=7)
    map_ax.set_xlabel("feature (clustered by gate pattern)")
    map_ax.set_title(title, fontsize=11)
    figure.colorbar(image, ax=map_ax, label="gate value z (0 = feature off, 1 = on)", shrink=0.6)
    figure.legend(handles=[Patch(color=colours[name], label=name) for name in class_names],
                  loc="outside lower center", ncols=len(class_names), fontsize=9,
                  title="true subclass", frameon=False)
    return figure


def class_profile_figure(profiles: pd.DataFrame, title: str) -> Figure:
    """Mean gate per class (columns) and feature (rows), features ordered by clustering."""
    order = _order(profiles.to_numpy(dtype=float).T)
    ordered = profiles.iloc[:, order].T  # features x classes
    figure = Figure(figsize=(7, 0.22 * len(ordered) + 2.0), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(ordered.to_numpy(dtype=float), aspect="auto", cmap=GATE_COLOURMAP,
                      vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks(range(ordered.shape[1]), ordered.columns, rotation=30, ha="right")
    ax.set_yticks(range(len(ordered)), ordered.index, fontsize=8)
    ax.set_xlabel("true subclass of the test cells")
    ax.set_ylabel("feature")
    ax.set_title(title, fontsize=10)
    figure.colorbar(image, ax=ax, label="mean gate value", shrink=0.5)
    return figure


SPECIES_COLOURS = {"mouse": "#1b9e77", "human": "#d95f02"}


def species_gate_profile_figure(profiles: pd.DataFrame, title: str) -> Figure:
    """A gated DANN's mean test-cell gate per feature and species, mean +- SD over the
    splits (left), and human minus mouse (right), features ordered by that difference.

    ``profiles``: the long table of one model (split, species, feature, mean_gate)."""
    by_split = profiles.pivot_table(index=["feature", "split"], columns="species", values="mean_gate")
    by_split["difference"] = by_split["human"] - by_split["mouse"]
    summary = by_split.groupby(level="feature").agg(["mean", "std"]).sort_values(("difference", "mean"))
    y = np.arange(len(summary))
    figure = Figure(figsize=(10, 0.22 * len(summary) + 2.0), layout="constrained")
    gates_ax, difference_ax = figure.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    for offset, species in ((-0.15, "mouse"), (0.15, "human")):
        gates_ax.errorbar(summary[(species, "mean")], y + offset, xerr=summary[(species, "std")].fillna(0.0), fmt="o",
                          markersize=3, color=SPECIES_COLOURS[species], label=f"{species} test cells")
    gates_ax.set_xlim(-0.02, 1.02)
    gates_ax.set_xlabel("mean gate (0 = feature shut, 1 = open)")
    gates_ax.set_yticks(y, summary.index, fontsize=7)
    gates_ax.legend(fontsize=8, loc="lower right")
    difference = summary[("difference", "mean")]
    difference_ax.barh(y, difference, xerr=summary[("difference", "std")].fillna(0.0), height=0.6,
                       color=np.where(difference < 0, SPECIES_COLOURS["mouse"], SPECIES_COLOURS["human"]))
    difference_ax.axvline(0.0, color="black", linewidth=0.8)
    difference_ax.set_xlabel("human minus mouse (negative: shut more for human cells)")
    n_splits = profiles["split"].nunique()
    figure.suptitle(f"{title} (mean +- SD over {n_splits} splits)", fontsize=10)
    return figure
