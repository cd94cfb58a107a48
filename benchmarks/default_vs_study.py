"""Does the default run train its entries exactly as the full study does? The tests' tiny
end-to-end dann run with the default pipeline and with the study pipeline, on this machine:
the default run's test predictions and training curves against the same models' rows of
the study run, bit for bit.

    PYTHONPATH=src:. .venv/bin/python benchmarks/default_vs_study.py > results/default_vs_study-<date>.json
"""
import json, sys
import pandas as pd
from neuron_types.pipelines.dann import create_pipeline
from tests.pipelines.test_dann import run_pipeline, tiny_parameters
runs = {}
for study in (False, True):
    catalog = run_pipeline(tiny_parameters(), pipeline=create_pipeline(study=study))
    runs[study] = (catalog.load("dann.test_predictions"), catalog.load("dann.training_history"))
models = sorted(set(runs[False][0]["model"]))
result = {"models_of_default_run": models, "study_only": sorted(set(runs[True][0]["model"]) - set(models))}
for i, what in enumerate(("test_predictions", "training_history")):
    a = runs[False][i].reset_index(drop=True)
    b = runs[True][i][runs[True][i]["model"].isin(models)].reset_index(drop=True)
    result[f"{what}_identical"] = bool(a.equals(b))
print(json.dumps(result, indent=1))
