"""The feature-quality check of docs/evaluation.md: how well each of the 41 features tells the
species apart against how well it tells the classes apart within each species.

The two features the check leaves out (``seal_gohm``, the seal resistance, a measure of the
recording; ``vm_for_sag``, the membrane potential the sag was measured at, set by the
protocol) were chosen for what they measure, before any model was scored without them; this
table records that they also separate species better than classes. Every AUC is folded to
>= 0.5 (a feature that ranks the other way counts as well). Reads no split: a description of
the cohort, not a model choice.

    PYTHONPATH=src:. .venv/bin/python benchmarks/feature_quality.py  # -> results/feature_quality.json
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sklearn.metrics import roc_auc_score

from benchmarks._cohort import model_inputs

CHECKED = ("seal_gohm", "vm_for_sag")


def folded_auc(labels, values) -> float:
    return float(max(auc := roc_auc_score(labels, values), 1 - auc))


def main() -> None:
    cells, _, _, _, features, _ = model_inputs()
    rows = []
    for feature in features:
        by_class = {species: folded_auc(group["excitatory"], group[feature])
                    for species, group in cells.groupby("species")}
        species_auc = folded_auc(cells["domain"], cells[feature])
        rows.append({"feature": feature, "species_auc": round(species_auc, 3),
                     "class_auc_mouse": round(by_class["mouse"], 3), "class_auc_human": round(by_class["human"], 3),
                     "species_minus_best_class": round(species_auc - max(by_class.values()), 3)})
    rows.sort(key=lambda row: -row["species_minus_best_class"])
    record = {"date": dt.date.today().isoformat(), "cells": int(len(cells)),
              "species_cells": cells["species"].value_counts().to_dict(), "checked": list(CHECKED),
              "features": rows}
    out = Path(__file__).resolve().parent / "results" / "feature_quality.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    for row in rows[:8]:
        print(row)


if __name__ == "__main__":
    main()
