"""Reporting: every model's metrics in one comparison (JSON, CSV, Markdown, figures), with
the reference study's published numbers beside ours and marked as theirs.

The model pipelines write ``{model: {species: {metric: {"mean", "std", "ci95": [lo, hi],
"n_splits"}}}}`` (see :func:`neuron_types.evaluation.summarise_splits`); this module checks
that shape, so that a malformed file stops the run with a message naming the dataset,
model, species, metric and key instead of a ``KeyError`` in a table.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from neuron_types.config import ReportingParams
from neuron_types.errors import InputError
from neuron_types.evaluation import SPLIT_METRIC_COLUMNS
from neuron_types.figures.comparison import model_comparison_figure

logger = logging.getLogger(__name__)

STAT_KEYS = ("mean", "std", "ci95", "n_splits")
MISSING = "–"
CONTRACT = '{model: {species: {metric: {"mean", "std", "ci95": [lo, hi], "n_splits"}}}}'


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _stat_problem(stats: Any) -> str | None:
    """What is wrong with one metric's summary, or None."""
    if not isinstance(stats, Mapping):
        return f"expected a mapping with keys {list(STAT_KEYS)}, got {type(stats).__name__} {stats!r}"
    missing = [key for key in STAT_KEYS if key not in stats]
    if missing:
        return f"missing key(s) {missing} (expected {list(STAT_KEYS)}, got {sorted(stats)})"
    for key in ("mean", "std"):
        if not _is_number(stats[key]):
            return f"key '{key}': expected a finite number, got {stats[key]!r}"
    if stats["std"] < 0:
        return f"key 'std': expected >= 0, got {stats['std']!r}"
    ci = stats["ci95"]
    if not (isinstance(ci, Sequence) and not isinstance(ci, str) and len(ci) == 2
            and all(_is_number(bound) for bound in ci)):
        return f"key 'ci95': expected [lo, hi] (two finite numbers), got {ci!r}"
    tolerance = 1e-9
    if not ci[0] - tolerance <= stats["mean"] <= ci[1] + tolerance:
        return f"key 'ci95': expected lo <= mean <= hi, got {list(ci)} around mean {stats['mean']!r}"
    n = stats["n_splits"]
    if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
        return f"key 'n_splits': expected an integer >= 1, got {n!r}"
    return None


def validate_model_metrics(metrics: Any, source: str, species: Sequence[str]) -> None:
    """Raises InputError naming ``source`` (the dataset), model, species, metric and key
    when ``metrics`` does not have the shape the model pipelines promise."""
    if not isinstance(metrics, Mapping) or not metrics:
        raise InputError(f"{source}: expected a non-empty mapping {CONTRACT}, got {metrics!r:.200}")
    for model, per_species in metrics.items():
        where = f"{source}, model '{model}'"
        if not isinstance(per_species, Mapping) or not per_species:
            raise InputError(f"{where}: expected a non-empty mapping species -> metrics, got {per_species!r:.200}")
        for name, per_metric in per_species.items():
            if name not in species:
                raise InputError(
                    f"{where}: species '{name}' is not one this task reports "
                    f"(reporting.tasks.<task>.species: {list(species)})"
                )
            if not isinstance(per_metric, Mapping) or not per_metric:
                raise InputError(
                    f"{where}, species '{name}': expected a non-empty mapping metric -> "
                    f"{{mean, std, ci95, n_splits}}, got {per_metric!r:.200}"
                )
            for metric, stats in per_metric.items():
                problem = _stat_problem(stats)
                if problem:
                    raise InputError(f"{where}, species '{name}', metric '{metric}': {problem}")


def model_label(model: str, labels: Mapping[str, str]) -> str:
    """The name a reader sees: ``labels[model]``; a ``<base>_prior_adjusted`` model (the
    model pipelines' Bayes-corrected variant of ``<base>``) gets ``<base>``'s label with
    ", prior-adjusted"; otherwise the key itself."""
    if model in labels:
        return labels[model]
    suffix = "_prior_adjusted"
    if model.endswith(suffix) and model[: -len(suffix)] in labels:
        return f"{labels[model[: -len(suffix)]]}, prior-adjusted"
    return model


def split_seeds(ei_splits: pd.DataFrame, subclass_splits: pd.DataFrame) -> list[int]:
    """The seed of every split, in split order, read from the splits the models were scored
    on (both tasks share them)."""
    seeds = {}
    for name, table in (("ei_splits", ei_splits), ("subclass_splits", subclass_splits)):
        found = table.drop_duplicates("split").sort_values("split")["seed"].astype(int).tolist()
        seeds[name] = found
    if seeds["ei_splits"] != seeds["subclass_splits"]:
        raise InputError(f"ei_splits and subclass_splits: seeds {seeds['ei_splits']} and "
                         f"{seeds['subclass_splits']}; expected the same splits for both tasks")
    return seeds["ei_splits"]


def compile_model_comparison(
    dann_metrics: dict,
    lspin_metrics: dict,
    ei_splits: pd.DataFrame,
    subclass_splits: pd.DataFrame,
    reporting: ReportingParams,
) -> dict:
    """All models of both tasks, with the reference's numbers and the split seeds: the
    content of ``summary.json``. (Each run's parameters are in its MLflow record.)"""
    sources = {"dann_metrics": dann_metrics, "lspin_metrics": lspin_metrics}
    tasks = reporting.tasks
    reference = reporting.reference
    seeds = split_seeds(ei_splits, subclass_splits)
    model_labels = reporting.model_labels

    compiled = {}
    for name, task in tasks.items():
        metrics = sources[task.source]
        validate_model_metrics(metrics, task.source, task.species)
        n_splits = sorted({stats["n_splits"] for per_species in metrics.values()
                           for per_metric in per_species.values() for stats in per_metric.values()})
        logger.info("reporting: %s: %d models from %s (%s), n_splits %s",
                    name, len(metrics), task.source, ", ".join(metrics), n_splits)
        if n_splits != [len(seeds)]:
            logger.warning("reporting: %s: %s has metrics over %s splits, but the splits tables have %d",
                           name, task.source, n_splits, len(seeds))
        compiled[name] = {
            "title": task.title,
            "source": task.source,
            "species": list(task.species),
            "table_metrics": list(task.table_metrics),
            "figure_metrics": list(task.figure_metrics),
            "model_labels": {model: model_label(model, model_labels) for model in metrics},
            "models": {model: {species: dict(per_metric) for species, per_metric in per_species.items()}
                       for model, per_species in metrics.items()},
            "reference": reference.results.get(name, {}),
        }
    return {
        "description": "Test-set scores of every model: mean, sample std and Student-t 95% CI "
                       "over repeated stratified splits; the reference study's single-split "
                       "numbers are under each task's 'reference'.",
        "reference": reference.model_dump(include={"citation", "protocol", "row_note"}),
        "metric_labels": dict(reporting.metric_labels),
        "splits": {"seeds": seeds},
        "tasks": compiled,
    }


def model_comparison_table(model_comparison: dict) -> pd.DataFrame:
    """One row per task, model, species and metric (ours and the reference's): summary.csv."""
    rows = []
    for task, content in model_comparison["tasks"].items():
        for model, per_species in content["models"].items():
            for species, per_metric in per_species.items():
                for metric, stats in per_metric.items():
                    rows.append({
                        "task": task, "model": model, "label": content["model_labels"][model],
                        "source": "ours", "species": species, "metric": metric,
                        "mean": stats["mean"], "std": stats["std"],
                        "ci95_lo": stats["ci95"][0], "ci95_hi": stats["ci95"][1],
                        "n_splits": stats["n_splits"],
                    })
        for model, per_species in content["reference"].items():
            for species, per_metric in per_species.items():
                for metric, value in per_metric.items():
                    rows.append({
                        "task": task, "model": model, "label": model, "source": "reference",
                        "species": species, "metric": metric, "mean": value, "std": None,
                        "ci95_lo": None, "ci95_hi": None, "n_splits": 1,
                    })
    return pd.DataFrame(rows, columns=["task", "model", "label", "source", "species", "metric",
                                       "mean", "std", "ci95_lo", "ci95_hi", "n_splits"])


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _splits_cell(per_species: Mapping, species: Sequence[str], metrics: Sequence[str]) -> str:
    counts = sorted({per_species[s][m]["n_splits"] for s in species if s in per_species
                     for m in metrics if m in per_species[s]})
    if not counts:
        return MISSING
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def model_comparison_markdown(model_comparison: dict) -> str:
    """One Markdown table per task, ready for the README: models as rows, species and
    metrics as columns, ``mean [lo, hi]`` (95% CI) with three decimals; the reference's
    rows carry the reference's note and a single number (it reports one split)."""
    labels = model_comparison["metric_labels"]
    reference = model_comparison["reference"]
    seeds = model_comparison["splits"].get("seeds", [])
    lines = []
    for content in model_comparison["tasks"].values():
        species, metrics = content["species"], content["table_metrics"]
        columns = [(s, m) for s in species for m in metrics]
        header = ["Model", "Splits"] + [f"{s} {labels.get(m, m)}" for s, m in columns]
        lines += [f"### {content['title']}", "",
                  "| " + " | ".join(_markdown_cell(h) for h in header) + " |",
                  "|:--|--:|" + "--:|" * len(columns)]
        for model, per_species in content["models"].items():
            cells = [content["model_labels"][model], _splits_cell(per_species, species, metrics)]
            for s, m in columns:
                stats = per_species.get(s, {}).get(m)
                cells.append(MISSING if stats is None else
                             f"{stats['mean']:.3f} [{stats['ci95'][0]:.3f}, {stats['ci95'][1]:.3f}]")
            lines.append("| " + " | ".join(_markdown_cell(c) for c in cells) + " |")
        for model, per_species in content["reference"].items():
            cells = [f"{model} ({reference['row_note']})", "1"]
            for s, m in columns:
                value = per_species.get(s, {}).get(m)
                cells.append(MISSING if value is None else f"{value:.3f}")
            lines.append("| " + " | ".join(_markdown_cell(c) for c in cells) + " |")
        lines.append("")
    lines.append(
        f"Ours: mean [95% CI] of test-set scores over {len(seeds)} repeated stratified splits "
        f"(seeds {', '.join(map(str, seeds))}); scalers fitted and models selected without "
        f"test cells. Reference: {reference['citation']}; "
        f"{reference['protocol']}; {MISSING} = not reported."
    )
    return "\n".join(lines) + "\n"


def split_values(split_metrics: pd.DataFrame, source: str, models: Mapping) -> dict:
    """``{model: {species: {metric: [value of each split]}}}`` from a model pipeline's long
    per-split table, checked against its summary (``models``): a table from another run
    than the summary would put the dots and the bars of one figure on different data."""
    if not isinstance(split_metrics, pd.DataFrame):
        raise InputError(f"{source}: expected a table with columns {list(SPLIT_METRIC_COLUMNS)}, "
                         f"got {type(split_metrics).__name__}")
    missing = [c for c in SPLIT_METRIC_COLUMNS if c not in split_metrics.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {missing} (expected {list(SPLIT_METRIC_COLUMNS)}, "
                         f"got {list(split_metrics.columns)})")
    values: dict = {}
    for (model, species, metric), rows in split_metrics.groupby(["model", "species", "metric"], sort=False):
        points = rows.sort_values("split")["value"].astype(float).tolist()
        summary = models.get(model, {}).get(species, {}).get(metric)
        if summary is None:
            continue
        if len(points) != summary["n_splits"] or not math.isclose(
                sum(points) / len(points), summary["mean"], rel_tol=0, abs_tol=1e-9):
            raise InputError(
                f"{source}, model '{model}', species '{species}', metric '{metric}': {len(points)} "
                f"split values with mean {sum(points) / len(points):.6f}, but the summary says "
                f"{summary['n_splits']} splits with mean {summary['mean']:.6f}; are the per-split "
                f"table and the summary from the same run?"
            )
        values.setdefault(model, {}).setdefault(species, {})[metric] = points
    return values


def plot_model_comparisons(
    model_comparison: dict,
    dann_split_metrics: pd.DataFrame,
    lspin_split_metrics: pd.DataFrame,
) -> dict[str, Figure]:
    """One figure per task: each model's metrics with 95% CI error bars and each split's
    score per species, the reference's numbers marked beside them."""
    split_tables = {"dann_metrics": ("dann_split_metrics", dann_split_metrics),
                    "lspin_metrics": ("lspin_split_metrics", lspin_split_metrics)}
    figures = {}
    for task, content in model_comparison["tasks"].items():
        name, table = split_tables[content["source"]]
        figures[task] = model_comparison_figure(
            content,
            metric_labels=model_comparison["metric_labels"],
            reference_note=model_comparison["reference"]["row_note"],
            reference_citation=model_comparison["reference"]["citation"],
            n_seeds=len(model_comparison["splits"].get("seeds", [])),
            split_values=split_values(table, name, content["models"]),
        )
    return figures
