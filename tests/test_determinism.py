"""Same numbers twice: the model pipelines, run twice on the same inputs with the same seeds
in one project, write identical metrics, per-split scores and test predictions.

End to end through a ``KedroSession`` (the model-level determinism of each network is
tested beside the models): a tiny ACTD dump goes through ingestion and feature
engineering once, then each model pipeline runs twice with few epochs and small networks
(conf/local of a throwaway project), and the two versions Kedro keeps of every output are
compared byte for byte (JSON, CSV) or exactly (parquet).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.actd_fixture import PROJECT, project_copy, write_actd_dump



def _base(name: str) -> dict:
    return yaml.safe_load((PROJECT / "conf" / "base" / f"parameters_{name}.yml").read_text())


def _tiny_lspin_parameters() -> dict:
    params = _base("lspin")
    lspin = params["lspin"]
    for kind in ("lspin", "mlp", "lspin_reference_regime"):
        lspin[kind]["training"].update(max_epochs=10, check_every=5, patience=5)
        lspin[kind]["ensemble_members"] = 1
        lspin[kind]["model"]["prediction_units"] = [8]
    for kind in ("lspin", "mlp"):
        lspin[kind]["training"]["batch_size"] = 32
    for kind in ("lspin", "lspin_reference_regime"):
        lspin[kind]["model"]["gating_units"] = [8]
    lspin["tuning"].update(trials=2, trials_per_wave=2, startup_trials=1)
    lspin["baselines"].update(cv_folds=2, n_jobs=1)
    lspin["explanation"].update(splits=1, background_cells=8, samples=8, permutations=50)
    lspin["baselines"]["grids"] = {
        "logistic_regression": {"C": [1.0]}, "svc": {"C": [1.0]},
        "random_forest": {"n_estimators": [5]}, "xgboost": {"n_estimators": [5], "max_depth": [2]},
    }
    return params


def _tiny_dann_parameters() -> dict:
    """The three models the pipeline must have (the two it exports and the one whose prior
    drives reweighting), few epochs, small networks."""
    params = _base("dann")
    dann = params["dann"]
    keep = {dann["export"]["supervised"], dann["export"]["unsupervised"], dann["target_prior_model"]}
    dann["models"] = {name: spec for name, spec in dann["models"].items() if name in keep}
    dann["network"].update(hidden_units=[16, 8], domain_hidden_units=[8])
    dann["training"].update(max_epochs=4, patience=2, batch_size=32)
    dann["logistic_regression"]["c_grid"] = [1.0]
    dann["unsupervised"]["patience"] = 2
    simple = dann["simple_models"]
    simple.update(c_grid=[1.0], models={name: simple["models"][name]
                                        for name in ("logistic_quantile_species", "logistic_source_only_em")})
    dann["shap"].update(background_cells=8, samples=8, top_features=5)
    return params


# Whole top-level keys written to conf/local, which replace conf/base's: runtime params
# could not drop models, and (Kedro 1.7) a nested --params beside a conf/local parameters
# file replaces its whole top-level key anyway.
def _one_repeat() -> dict:
    """One repeat of a 3-fold cross-validation: 3 splits to train twice instead of 15 (a
    member per split: what is compared is the same in any number of them)."""
    params = _base("feature_engineering")
    params["feature_engineering"]["splits"].update(seeds=[11], n_folds=3)
    return params


TINY = {"lspin": _tiny_lspin_parameters, "dann": _tiny_dann_parameters, "feature_engineering": _one_repeat}
# outputs compared between the two runs: (folder under data/, file name)
COMPARED = {
    "dann": [("08_reporting", "dann_metrics.json"), ("08_reporting", "dann_split_metrics.csv"),
             ("07_model_output", "dann_test_predictions.parquet"), ("08_reporting", "dann_shap_values.parquet")],
    "lspin": [("08_reporting", "lspin_metrics.json"), ("08_reporting", "lspin_split_metrics.csv"),
              ("07_model_output", "subclass_test_predictions.parquet")],
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A throwaway project with the tiny dump's model inputs built once."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    folder = tmp_path_factory.mktemp("determinism")
    root = project_copy(folder / "project")
    for name, tiny in TINY.items():
        if (PROJECT / "conf" / "base" / f"parameters_{name}.yml").is_file():
            (root / "conf" / "local" / f"parameters_{name}.yml").write_text(yaml.safe_dump(tiny()))
    dump = write_actd_dump(folder / "actd")
    patch = pytest.MonkeyPatch()
    patch.chdir(root)
    patch.setenv("NEURON_TYPES_ACTD_DIR", str(dump))

    def run(pipeline_names=None, namespaces=None):
        bootstrap_project(root)
        with KedroSession.create(project_path=root) as session:
            session.run(pipeline_names=pipeline_names, namespaces=namespaces)

    run(pipeline_names=["ingestion", "feature_engineering"])
    run.root = root
    yield run
    patch.undo()


def _versions(root: Path, folder: str, name: str) -> list[Path]:
    return sorted((root / "data" / folder / name).glob(f"*/{name}"))


@pytest.mark.parametrize("pipeline", ["lspin", "dann"])
def test_two_runs_write_identical_metrics(pipeline, project):
    logging.getLogger("kedro").setLevel(logging.WARNING)
    for _ in range(2):
        # the model pipeline's own nodes on the model inputs built once: its namespace
        project(pipeline_names=[pipeline], namespaces=[pipeline])
    for folder, name in COMPARED[pipeline]:
        first, second = _versions(project.root, folder, name)[-2:]
        assert first.parent.name != second.parent.name
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(first), pd.read_parquet(second), check_exact=True)
        else:
            assert first.read_bytes() == second.read_bytes(), f"{name} differs between two identical runs"
