"""The sensitivity analyses in ``summary.md``: per task, the primary row and every variant
of the sensitivity pipeline, scored by the same models, with each variant's difference
from the primary (docs/evaluation.md, "Sensitivity analyses")."""

from __future__ import annotations

from collections.abc import Mapping

MISSING = "–"


def sensitivity_markdown(model_comparison: Mapping) -> list[str]:
    """One Markdown table per task of ``summary.json``'s ``sensitivity`` (lines), or
    nothing when it has none."""
    sensitivity = model_comparison.get("sensitivity") or {}
    labels = model_comparison["metric_labels"]
    lines: list[str] = []
    for task, variants in sensitivity.items():
        content = model_comparison["tasks"].get(task)
        if content is None or not variants:
            continue
        metrics = list(content["sensitivity_metrics"])
        columns = [(s, m) for s in content["species"] for m in metrics]
        header = ["Variant", "Cells", "Model"]
        for species, metric in columns:
            header += [f"{species} {labels.get(metric, metric)}", "Δ vs primary"]
        lines += [f"### Sensitivity analyses: {content['title']}", "",
                  "| " + " | ".join(header) + " |", "|:--|--:|:--|" + "--:|" * (2 * len(columns))]
        for variant, result in variants.items():
            name = f"{variant}: {result['description']}"
            if "skipped" in result:
                lines.append(_row([name, MISSING, f"skipped: {result['skipped']}", *[MISSING] * (2 * len(columns))]))
                continue
            for model, per_species in result["models"].items():
                cells = [name, str(result["n_cells"]), content["model_labels"].get(model, model)]
                for species, metric in columns:
                    cells.append(_interval(per_species.get(species, {}).get(metric), "{:.3f}"))
                    difference = result.get("difference", {}).get(model, {}).get(species, {}).get(metric)
                    cells.append(_interval(difference, "{:+.3f}"))
                lines.append(_row(cells))
        lines.append("")
    if lines:
        lines.append("Each variant is scored by the same models as the primary row, with choices made on "
                     "training folds only; Δ: variant − primary, with an unpaired 95% interval (the two "
                     "corrected standard errors combined: the variant's folds are not the primary folds).")
    return lines


def _interval(stats: Mapping | None, form: str) -> str:
    if stats is None:
        return MISSING
    low, high = stats["ci95"]
    return f"{form.format(stats['mean'])} [{form.format(low)}, {form.format(high)}]"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
