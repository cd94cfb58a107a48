"""The paired comparisons declared in ``reporting.comparisons``: model a against model b on
the same folds, Holm-adjusted as one family (docs/evaluation.md, "Paired comparisons")."""

from __future__ import annotations

import pandas as pd

from neuron_types.config import ReportingParams
from neuron_types.evaluation import paired_comparisons

INTERVAL = ("corrected repeated cross-validation t interval, mean ± t(0.975, J − 1) · "
            "sqrt((1/J + n_test/n_train) · s²) over the J folds (Nadeau & Bengio 2003; "
            "Bouckaert & Frank 2004), not clipped")
# each task's per-split metrics: the model pipeline's table named by the task's source
SPLIT_METRICS = {"dann_metrics": "dann_split_metrics", "lspin_metrics": "lspin_split_metrics"}


def compare_models_paired(
    dann_split_metrics: pd.DataFrame,
    lspin_split_metrics: pd.DataFrame,
    ei_splits: pd.DataFrame,
    subclass_splits: pd.DataFrame,
    reporting: ReportingParams,
    study: bool = False,
) -> list[dict]:
    """Every comparison of ``reporting.comparisons`` the run declares (every one in the full
    study, ``study``; those not marked ``study`` in the default run, whose models it does not
    train), in the order declared, with its mean
    per-fold difference (a − b), corrected 95% interval, p-value and Holm-adjusted p-value
    (see :func:`neuron_types.evaluation.paired_comparisons`)."""
    tables = {"dann_split_metrics": dann_split_metrics, "lspin_split_metrics": lspin_split_metrics}
    split_metrics = {name: tables[SPLIT_METRICS[task.source]] for name, task in reporting.tasks.items()}
    splits = {"ei": ei_splits, "subclass": subclass_splits}
    declared = [comparison.model_dump(exclude={"study"}) for comparison in reporting.for_run(study).comparisons]
    return paired_comparisons(declared, split_metrics, splits)


def paired_comparisons_markdown(model_comparison: dict) -> list[str]:
    """The comparisons of ``summary.json`` as a Markdown table (lines), or nothing when
    none is declared."""
    comparisons = model_comparison.get("comparisons") or []
    if not comparisons:
        return []
    labels = model_comparison["metric_labels"]
    lines = ["### Paired comparisons (declared in reporting.comparisons)", "",
             "| Task | a | b | Test cells | Metric | Folds | a − b [95% CI] | p | p (Holm) |",
             "|:--|:--|:--|:--|:--|--:|--:|--:|--:|"]
    for result in comparisons:
        task = model_comparison["tasks"][result["task"]]
        names = task["model_labels"]
        low, high = result["ci95"]
        cells = [task["title"], names.get(result["a"], result["a"]), names.get(result["b"], result["b"]),
                 result["species"], labels.get(result["metric"], result["metric"]), str(result["n_folds"]),
                 f"{result['mean_difference']:+.3f} [{low:+.3f}, {high:+.3f}]",
                 _p(result["p_value"]), _p(result["p_holm"])]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    lines += ["", "a − b: mean over the folds both models were scored on of the per-fold difference; "
              "interval and two-sided p from the corrected resampled t-test (the interval above, on "
              "the differences); p (Holm): Holm's step-down adjustment over all comparisons listed."]
    return lines


def _p(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"
