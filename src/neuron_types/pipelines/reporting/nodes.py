"""Reporting: every model's metrics in one comparison (JSON, CSV, Markdown, figures), with
the reference study's published numbers beside ours and marked as theirs.

The model pipelines write ``{model: {species: {metric: {"mean", "std", "ci95": [lo, hi],
"n_folds", "dof"}}}}`` (see :func:`neuron_types.evaluation.summarise_split_metrics`: the
corrected interval over the folds); this module checks that shape, so that a malformed file stops the run with a message naming the dataset,
model, species, metric and key instead of a ``KeyError`` in a table.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from neuron_types.cells import EVERY_CELL_SUFFIX
from neuron_types.config import ReportingParams
from neuron_types.errors import InputError
from neuron_types.evaluation import SPLIT_METRIC_COLUMNS, fold_design
from neuron_types.figures.comparison import model_comparison_figure
from neuron_types.pipelines.reporting.comparisons import INTERVAL, paired_comparisons_markdown
from neuron_types.pipelines.reporting.sensitivity import sensitivity_markdown

logger = logging.getLogger(__name__)

STAT_KEYS = ("mean", "std", "ci95", "n_folds", "dof")
MISSING = "–"
CONTRACT = '{model: {species: {metric: {"mean", "std", "ci95": [lo, hi], "n_folds", "dof"}}}}'


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
    for key, least in (("n_folds", 2), ("dof", 1)):
        n = stats[key]
        if not (isinstance(n, int) and not isinstance(n, bool) and n >= least):
            return f"key '{key}': expected an integer >= {least}, got {n!r}"
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
                    f"{{mean, std, ci95, n_folds, dof}}, got {per_metric!r:.200}"
                )
            for metric, stats in per_metric.items():
                problem = _stat_problem(stats)
                if problem:
                    raise InputError(f"{where}, species '{name}', metric '{metric}': {problem}")


def model_label(model: str, labels: Mapping[str, str]) -> str:
    """The name a reader sees: ``labels[model]``; a ``<base>_prior_adjusted`` model (the
    model pipelines' Bayes-corrected variant of ``<base>``) gets ``<base>``'s label with
    ", prior-adjusted", a ``<base>_prior_adjusted_calibrated`` one (temperature-scaled
    first) with ", temperature-scaled, then prior-adjusted", a ``<base>_every_labelled_cell``
    one with ", scored on every labelled test cell"; otherwise the key itself."""
    if model in labels:
        return labels[model]
    for suffix, label in (("_prior_adjusted", "prior-adjusted"),
                          ("_prior_adjusted_calibrated", "temperature-scaled, then prior-adjusted"),
                          (EVERY_CELL_SUFFIX, "scored on every labelled test cell")):
        if model.endswith(suffix) and model[: -len(suffix)] in labels:
            return f"{labels[model[: -len(suffix)]]}, {label}"
    return model


def split_design(ei_splits: pd.DataFrame, subclass_splits: pd.DataFrame) -> dict:
    """How the models were split, read from the splits they were scored on (both tasks
    share protocol, folds, repeats and seeds): ``protocol``, ``n_folds``, ``n_repeats``,
    ``seeds`` (one per repeat), ``description`` and each task's mean ``n_train`` (train
    and validation cells) and ``n_test`` per split."""
    designs = {"ei_splits": fold_design(ei_splits, "ei_splits"),
               "subclass_splits": fold_design(subclass_splits, "subclass_splits")}
    ei, subclass = designs.values()
    if ei.seeds != subclass.seeds:
        raise InputError(f"ei_splits and subclass_splits: seeds {ei.seeds} and "
                         f"{subclass.seeds}; expected the same splits for both tasks")
    if ei[:3] != subclass[:3]:
        raise InputError(f"ei_splits and subclass_splits: {ei.describe()} and {subclass.describe()}; "
                         "expected the same protocol for both tasks")
    return {
        "protocol": ei.protocol, "n_folds": ei.n_folds, "n_repeats": ei.n_repeats, "seeds": ei.seeds,
        "description": ei.describe(),
        "cells": {name.removesuffix("_splits"): {"n_train": float(d.sizes["n_train"].mean()),
                                                 "n_test": float(d.sizes["n_test"].mean())}
                  for name, d in designs.items()},
    }


def compile_model_comparison(
    dann_metrics: dict,
    lspin_metrics: dict,
    ei_splits: pd.DataFrame,
    subclass_splits: pd.DataFrame,
    paired_comparisons: list[dict],
    sensitivity_metrics: dict,
    reporting: ReportingParams,
    study: bool = False,
) -> dict:
    """All models of both tasks, with the reference's numbers, how the cells were split,
    the declared paired comparisons and the sensitivity analyses: the content of
    ``summary.json``; ``run`` says whether the default run or the full study (``study``)
    produced it. (Each run's parameters are in its MLflow record.)"""
    sources = {"dann_metrics": dann_metrics, "lspin_metrics": lspin_metrics}
    tasks = reporting.tasks
    reference = reporting.reference
    design = split_design(ei_splits, subclass_splits)
    n_splits = design["n_folds"] * design["n_repeats"]
    model_labels = reporting.model_labels

    compiled = {}
    for name, task in tasks.items():
        metrics = sources[task.source]
        validate_model_metrics(metrics, task.source, task.species)
        n_folds = sorted({stats["n_folds"] for per_species in metrics.values()
                          for per_metric in per_species.values() for stats in per_metric.values()})
        logger.info("reporting: %s: %d models from %s (%s), n_folds %s",
                    name, len(metrics), task.source, ", ".join(metrics), n_folds)
        if n_folds != [n_splits]:
            logger.warning("reporting: %s: %s has metrics over %s folds, but the splits tables have %d",
                           name, task.source, n_folds, n_splits)
        compiled[name] = {
            "title": task.title,
            "source": task.source,
            "species": list(task.species),
            "table_metrics": list(task.table_metrics),
            "figure_metrics": list(task.figure_metrics),
            "sensitivity_metrics": list(task.sensitivity_metrics),
            "model_labels": {model: model_label(model, model_labels)
                             for model in [*metrics, *_sensitivity_models(sensitivity_metrics.get(name, {}))]},
            "models": {model: {species: dict(per_metric) for species, per_metric in per_species.items()}
                       for model, per_species in metrics.items()},
            "reference": reference.results.get(name, {}),
        }
    return {
        "description": f"Test-set scores of every model: mean, sample std over the folds and "
                       f"95% CI ({INTERVAL}) over {design['description']}; 'comparisons': the "
                       "paired comparisons declared in reporting.comparisons, Holm-adjusted as one "
                       "family; the reference study's single-split numbers are under each task's "
                       "'reference'.",
        "run": RUNS[study],
        "reference": reference.model_dump(include={"citation", "protocol", "row_note"}),
        "metric_labels": dict(reporting.metric_labels),
        "splits": design,
        "tasks": compiled,
        "comparisons": list(paired_comparisons),
        "sensitivity": {task: variants for task, variants in sensitivity_metrics.items() if task in compiled},
    }


RUNS = {False: "the default run (kedro run): the models and comparisons not marked study",
        True: "the full study (kedro run --pipeline=study): every model and comparison declared"}


def _sensitivity_models(variants: Mapping) -> list[str]:
    return list(dict.fromkeys(model for result in variants.values() for model in result.get("models", {})))


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
                        "n_folds": stats["n_folds"], "dof": stats["dof"],
                    })
        for model, per_species in content["reference"].items():
            for species, per_metric in per_species.items():
                for metric, value in per_metric.items():
                    rows.append({
                        "task": task, "model": model, "label": model, "source": "reference",
                        "species": species, "metric": metric, "mean": value, "std": None,
                        "ci95_lo": None, "ci95_hi": None, "n_folds": 1, "dof": None,
                    })
    return pd.DataFrame(rows, columns=["task", "model", "label", "source", "species", "metric",
                                       "mean", "std", "ci95_lo", "ci95_hi", "n_folds", "dof"])


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def _folds_cell(per_species: Mapping, species: Sequence[str], metrics: Sequence[str]) -> str:
    counts = sorted({per_species[s][m]["n_folds"] for s in species if s in per_species
                     for m in metrics if m in per_species[s]})
    if not counts:
        return MISSING
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def model_comparison_markdown(model_comparison: dict) -> str:
    """One Markdown table per task, ready for the README: models as rows, species and
    metrics as columns, ``mean [lo, hi]`` (95% CI) with three decimals; the reference's
    rows carry the reference's note and a single number (it reports one split). After
    them, the paired comparisons."""
    labels = model_comparison["metric_labels"]
    reference = model_comparison["reference"]
    design = model_comparison["splits"]
    lines = [f"Produced by {model_comparison['run']}.", ""] if "run" in model_comparison else []
    for content in model_comparison["tasks"].values():
        species, metrics = content["species"], content["table_metrics"]
        columns = [(s, m) for s in species for m in metrics]
        header = ["Model", "Folds"] + [f"{s} {labels.get(m, m)}" for s, m in columns]
        lines += [f"### {content['title']}", "",
                  "| " + " | ".join(_markdown_cell(h) for h in header) + " |",
                  "|:--|--:|" + "--:|" * len(columns)]
        for model, per_species in content["models"].items():
            cells = [content["model_labels"][model], _folds_cell(per_species, species, metrics)]
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
        f"Ours: mean [95% CI] of test-set scores over the folds of {design['description']}; "
        f"interval: {INTERVAL}; scalers fitted and models selected without test cells. "
        f"Reference: {reference['citation']}; {reference['protocol']}; {MISSING} = not reported."
    )
    lines += ["", *paired_comparisons_markdown(model_comparison)]
    sensitivity = sensitivity_markdown(model_comparison)
    if sensitivity:
        lines += ["", *sensitivity]
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
        if len(points) != summary["n_folds"] or not math.isclose(
                sum(points) / len(points), summary["mean"], rel_tol=0, abs_tol=1e-9):
            raise InputError(
                f"{source}, model '{model}', species '{species}', metric '{metric}': {len(points)} "
                f"split values with mean {sum(points) / len(points):.6f}, but the summary says "
                f"{summary['n_folds']} folds with mean {summary['mean']:.6f}; are the per-split "
                f"table and the summary from the same run?"
            )
        values.setdefault(model, {}).setdefault(species, {})[metric] = points
    return values


def _folds_note(design: Mapping) -> str:
    n = design["n_folds"] * design["n_repeats"]
    if design["protocol"] == "random_splits":
        return f"{n} random splits"
    return f"{n} folds ({design['n_repeats']} × {design['n_folds']}-fold CV)"


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
            folds_note=_folds_note(model_comparison["splits"]),
            split_values=split_values(table, name, content["models"]),
        )
    return figures
