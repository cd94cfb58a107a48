"""The comparison's scores as MLflow metrics, for kedro-mlflow's ``MlflowMetricsHistoryDataset``
(conf/base/catalog_reporting.yml, ``model_comparison_metrics``). Kedro-free and
MLflow-free: the dataset does the logging."""

from __future__ import annotations

import re

# MLflow accepts only these characters in a metric key (mlflow.utils.validation)
_MLFLOW_KEY_UNSAFE = re.compile(r"[^\w\-./ ]")
STATS = ("mean", "ci95_lo", "ci95_hi")


def mlflow_key_part(name: str) -> str:
    """``name`` with every character MLflow refuses in a key (``|``, ``+``, ...) as ``_``."""
    return _MLFLOW_KEY_UNSAFE.sub("_", str(name))


def tracking_metrics(model_comparison: dict) -> dict[str, dict[str, float | int]]:
    """Our scores in ``model_comparison`` (summary.json) as MLflow metrics:
    ``{"<task>.<model>.<species>.<metric>.<stat>": {"value": v, "step": 0}}`` with stat
    ``mean``, ``ci95_lo`` and ``ci95_hi``. The reference's single numbers are constants
    and stay in summary.json only."""
    metrics: dict[str, dict[str, float | int]] = {}
    sources: dict[str, str] = {}
    for task, content in model_comparison["tasks"].items():
        for model, per_species in content["models"].items():
            for species, per_metric in per_species.items():
                for metric, stats in per_metric.items():
                    names = (task, model, species, metric)
                    base = ".".join(mlflow_key_part(name) for name in names)
                    where = "/".join(map(str, names))
                    if base in sources:
                        raise ValueError(
                            f"model_comparison: '{where}' and '{sources[base]}' both become the "
                            f"MLflow key '{base}' (characters other than letters, digits and "
                            f"_-./ and space are replaced by '_'); rename one of them"
                        )
                    sources[base] = where
                    low, high = stats["ci95"]
                    for stat, value in zip(STATS, (stats["mean"], low, high), strict=True):
                        metrics[f"{base}.{stat}"] = {"value": float(value), "step": 0}
    return metrics
