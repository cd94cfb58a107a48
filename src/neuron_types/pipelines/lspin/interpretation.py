"""Nodes that read LSPIN's own gates: class profiles, top features per class, and the
figures (gate heat map, class profiles, confusion matrix)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from neuron_types.cells import SUBCLASS_LABEL as LABEL
from neuron_types.config import LspinParams
from neuron_types.errors import InputError
from neuron_types.evaluation import confusion_averaged_over_repeats
from neuron_types.figures.confusion import confusion_figure
from neuron_types.figures.gates import class_profile_figure, gate_heatmap_figure


def class_gate_profiles(gates: pd.DataFrame, feature_names: list[str], class_names: list[str]) -> pd.DataFrame:
    """Mean test-cell gate per true class (rows, in ``class_names`` order) and feature,
    pooled over splits."""
    columns = list(feature_names)
    profiles = gates.groupby(LABEL)[columns].mean()
    present = [name for name in class_names if name in profiles.index]
    profiles = profiles.loc[present]
    profiles.index.name = LABEL
    return profiles


def top_gated_features(
    gates: pd.DataFrame, feature_names: list[str], class_names: list[str], lspin: LspinParams
) -> pd.DataFrame:
    """The ``top_features`` features with the highest mean gate in each class, with the
    spread of that mean across splits, the fraction of the class's cells whose gate is
    open (> ``open_gate_threshold``) and ``specificity``: the class's mean gate minus the
    mean of the other classes' mean gates (high = kept for this class in particular)."""
    columns = list(feature_names)
    n_top = lspin.interpretation.top_features
    threshold = lspin.interpretation.open_gate_threshold
    per_split = gates.groupby([LABEL, "split"])[columns].mean()
    class_means = gates.groupby(LABEL)[columns].mean()
    rows = []
    for name in class_names:
        cells = gates[gates[LABEL] == name]
        if cells.empty:
            continue
        mean = cells[columns].mean().sort_values(ascending=False, kind="stable")
        spread = per_split.loc[name].std(ddof=1) if per_split.loc[name].shape[0] > 1 else mean * 0
        others = class_means.drop(index=name)
        specificity = mean - (others.mean() if len(others) else 0.0)
        for rank, feature in enumerate(mean.index[:n_top], start=1):
            rows.append({
                LABEL: name,
                "rank": rank,
                "feature": feature,
                "mean_gate": float(mean[feature]),
                "std_across_splits": float(spread[feature]),
                "fraction_open": float((cells[feature] > threshold).mean()),
                "specificity": float(specificity[feature]),
            })
    return pd.DataFrame(rows, columns=[LABEL, "rank", "feature", "mean_gate",
                                       "std_across_splits", "fraction_open", "specificity"])


def gate_heatmap(gates: pd.DataFrame, feature_names: list[str], class_names: list[str]) -> Figure:
    n_splits = gates["split"].nunique()
    return gate_heatmap_figure(
        gates, list(feature_names), class_names,
        f"LSPIN gates of mouse test cells ({n_splits} splits pooled), hierarchically clustered",
    )


def class_profile_heatmap(profiles: pd.DataFrame) -> Figure:
    return class_profile_figure(profiles, "LSPIN: mean gate per subclass (test cells)")


def lspin_confusion(predictions: pd.DataFrame, subclass_splits: pd.DataFrame, class_names: list[str]) -> pd.DataFrame:
    """LSPIN's test-cell confusion matrix, each cell counted once per repeat, rows
    normalised by true class."""
    cells = predictions[predictions["model"] == "lspin"]
    if cells.empty:
        raise InputError("subclass_test_predictions: no rows with model 'lspin'")
    fractions, _ = confusion_averaged_over_repeats(cells, subclass_splits, class_names, true=LABEL)
    return fractions


def lspin_confusion_plot(confusion: pd.DataFrame, predictions: pd.DataFrame) -> Figure:
    cells = predictions[predictions["model"] == "lspin"]
    return confusion_figure(
        confusion,
        f"LSPIN, mouse test cells: confusion normalised by true class\n"
        f"({cells['specimen_id'].nunique()} cells, each counted once per repeat)",
    )
