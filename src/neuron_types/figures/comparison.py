"""The model-comparison figure: every model of a task, mean with its interval and each fold."""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

OURS_COLOUR = "#1f5fa8"
REFERENCE_COLOUR = "#c0392b"
SPLIT_COLOUR = "0.45"
# a model's split dots sit just above its mean and CI, so neither hides the other
SPLIT_OFFSET = 0.13
ROW_HEIGHT_IN = 0.34
PANEL_WIDTH_IN = 3.0


def _rows(task: Mapping, species: str, reference_note: str,
          split_values: Mapping | None = None) -> list[dict]:
    """The models shown in one species' panels, top to bottom: ours, then the reference's."""
    rows = []
    for model, per_species in task["models"].items():
        if species in per_species:
            splits = ((split_values or {}).get(model) or {}).get(species) or {}
            rows.append({"label": task["model_labels"][model], "kind": "ours",
                         "metrics": per_species[species], "splits": splits})
    for model, per_species in task["reference"].items():
        if species in (per_species or {}):
            rows.append({"label": f"{model}\n({reference_note})", "kind": "reference",
                         "metrics": per_species[species]})
    return rows


def _x_limits(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = max(0.02, 0.08 * (high - low))
    return low - pad, high + pad


def model_comparison_figure(
    task: Mapping,
    metric_labels: Mapping[str, str],
    reference_note: str,
    reference_citation: str,
    folds_note: str,
    split_values: Mapping | None = None,
) -> Figure:
    """Panels species x metric; in each, one row per model with its mean and 95% CI as an
    error bar, and the reference study's single-split numbers as open diamonds.

    ``task`` is one task of the reporting summary: ``title``, ``species``,
    ``figure_metrics``, ``model_labels``, ``models`` ({model: {species: {metric: stats}}})
    and ``reference`` ({model: {species: {metric: value}}}). ``split_values``
    ({model: {species: {metric: [value of each split]}}}), when given, adds each split's
    score as a small grey dot, so that 15 folds show as 15 points, not only a bar.
    ``folds_note`` says what the interval is over ("15 folds (3 × 5-fold CV)").
    """
    per_species_rows = {s: rows for s in task["species"]
                        if (rows := _rows(task, s, reference_note, split_values))}
    species_list = list(per_species_rows)
    metrics = task["figure_metrics"]
    if not species_list or not metrics:
        raise ValueError(f"{task['title']}: nothing to plot (species {task['species']}, "
                         f"figure_metrics {metrics})")
    height_rows = [max(len(rows), 1) * ROW_HEIGHT_IN + 0.9 for rows in per_species_rows.values()]
    figure = Figure(
        figsize=(2.6 + PANEL_WIDTH_IN * len(metrics), 1.3 + sum(height_rows)),
        layout="constrained",
    )
    axes = figure.subplots(len(species_list), len(metrics), squeeze=False, sharey="row",
                           gridspec_kw={"height_ratios": height_rows})
    for i, species in enumerate(species_list):
        rows = per_species_rows[species]
        positions = list(range(len(rows)))
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            values = []
            for y, row in zip(positions, rows):
                stats = row["metrics"].get(metric)
                if stats is None:
                    continue
                if row["kind"] == "ours":
                    points = list(row["splits"].get(metric, []))
                    if points:
                        ax.plot(points, [y - SPLIT_OFFSET] * len(points), marker="o", markersize=3.5,
                                linestyle="none", color=SPLIT_COLOUR, alpha=0.7, zorder=1)
                        values += points
                    mean, (low, high) = stats["mean"], stats["ci95"]
                    ax.errorbar(mean, y + SPLIT_OFFSET * bool(points), xerr=[[mean - low], [high - mean]],
                                fmt="o", color=OURS_COLOUR, ecolor=OURS_COLOUR, capsize=4,
                                markersize=6, zorder=2)
                    values += [low, high]
                else:
                    ax.plot(stats, y, marker="D", markersize=8, linestyle="none",
                            markerfacecolor="white", markeredgecolor=REFERENCE_COLOUR,
                            markeredgewidth=2)
                    values.append(stats)
            label = metric_labels.get(metric, metric)
            if values:
                ax.set_xlim(*_x_limits(values))
            else:
                ax.text(0.5, 0.5, "not reported", transform=ax.transAxes, ha="center",
                        va="center", color="grey")
                ax.set_xticks([])
            ax.set_title(f"{species} test cells: {label}", fontsize=10)
            ax.set_xlabel(f"{label} (0–1, higher is better)", fontsize=9)
            ax.grid(axis="x", color="0.88", linewidth=0.8)
            ax.set_axisbelow(True)
            ax.tick_params(axis="x", labelsize=8)
        axes[i][0].set_yticks(positions, [row["label"] for row in rows], fontsize=9)
        axes[i][0].set_ylim(len(rows) - 0.5, -0.5)  # first model on top
        for tick, row in zip(axes[i][0].get_yticklabels(), rows):
            if row["kind"] == "reference":
                tick.set_color(REFERENCE_COLOUR)
                tick.set_fontstyle("italic")
    figure.suptitle(f"{task['title']}: test-set scores per model", fontsize=12, fontweight="bold")
    handles = [Line2D([], [], marker="o", color=OURS_COLOUR, linestyle="-",
                      label=f"ours: mean with corrected 95% CI over {folds_note}")]
    if split_values:
        handles.append(Line2D([], [], marker="o", markersize=3.5, linestyle="none",
                              color=SPLIT_COLOUR, alpha=0.7, label="ours: each fold"))
    figure.legend(
        handles=[
            *handles,
            Line2D([], [], marker="D", linestyle="none", markerfacecolor="white",
                   markeredgecolor=REFERENCE_COLOUR, markeredgewidth=2,
                   label=f"reference, {reference_citation}: one split, model chosen on the test set"),
        ],
        loc="outside lower center", ncols=len(handles) + 1, fontsize=9, frameon=False,
    )
    return figure
