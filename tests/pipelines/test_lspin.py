"""The lspin pipeline end to end on tiny synthetic cells, with few epochs."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from neuron_types.config import LspinParams
from neuron_types.models.lspin_ensemble import LSPINEnsemble
from neuron_types.pipelines.lspin import create_pipeline
from neuron_types.pipelines.lspin.pipeline import MODEL_ORDER
from neuron_types.pipelines.reporting.nodes import validate_model_metrics
from neuron_types.splits import repeated_stratified_splits
from tests.pipelines.every_cell import every_cell_pool

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
CLASSES = ["Pvalb+", "Sst+", "Vip+", "Htr3a+|Vip-", "Glutamatergic"]
FEATURES = {"noise_spike": ["width", "upstroke", "threshold_v"],
            "precomputed": ["tau", "sag", "vrest", "ri", "latency"]}
EXTENDED = ["adaptation", "rise_t"]
N_SPLITS = 2


def synthetic_cells(n_per_class: int = 24, seed: int = 0) -> pd.DataFrame:
    """Two features separate the classes; the others are noise on different scales."""
    rng = np.random.default_rng(seed)
    names = [*FEATURES["noise_spike"], *FEATURES["precomputed"]]
    labels = np.repeat(np.arange(len(CLASSES)), n_per_class)
    scales = rng.uniform(0.5, 50, size=len(names))
    x = rng.normal(size=(len(labels), len(names)))
    x[:, 0] += 3 * np.cos(labels * 1.2)
    x[:, 3] += 3 * np.sin(labels * 1.2)
    x *= scales  # features on very different scales: the models must standardise
    cells = pd.DataFrame(x, columns=names)
    cells.insert(0, "specimen_id", np.arange(1000, 1000 + len(labels), dtype="int64"))
    cells.insert(1, "species", "mouse")
    cells.insert(2, "transgenic_line", "synthetic-Cre")
    cells.insert(3, "subclass", np.asarray(CLASSES, dtype=object)[labels])
    # extended features: one that tells Vip+ apart and is missing for a quarter of the cells
    cells["adaptation"] = np.where(labels == 2, 1.0, 0.0) + 0.3 * rng.normal(size=len(labels))
    cells.loc[np.arange(len(labels)) % 4 == 0, "adaptation"] = np.nan
    cells["rise_t"] = rng.normal(size=len(labels))
    return cells


def with_cells_lacking_features(cells: pd.DataFrame, splits: pd.DataFrame):
    """The every-labelled-cell pool: 20 more cells, two features missing, each a test cell
    of one split and a training cell of the other (as feature engineering deals them)."""
    names = [*FEATURES["noise_spike"], *FEATURES["precomputed"]]
    extra = synthetic_cells(n_per_class=4, seed=5)
    extra["specimen_id"] += 5000
    return every_cell_pool(cells, splits, extra, names[1:3])


def tiny_parameters(n_members: int = 2) -> dict:
    params = yaml.safe_load((CONF / "parameters_lspin.yml").read_text())["lspin"]
    params = copy.deepcopy(params)
    for kind in ("lspin", "mlp"):
        params[kind]["training"].update(
            max_epochs=30, check_every=5, patience=15, batch_size=32, optimizer="sgd",
            learning_rate=0.1,
        )
    for kind in ("lspin", "mlp", "lspin_reference_regime"):
        params[kind]["ensemble_members"] = n_members
    # the reference regime keeps its full batches, batch normalisation and last weights
    params["lspin_reference_regime"]["training"].update(max_epochs=30, check_every=5)
    params["lspin"]["model"].update(gating_units=[8], prediction_units=[8])
    params["lspin_reference_regime"]["model"].update(gating_units=[8], prediction_units=[8])
    params["mlp"]["model"].update(prediction_units=[8])
    params["baselines"]["grids"] = {
        "logistic_regression": {"C": [0.1, 1.0]},
        "svc": {"C": [1.0]},
        "random_forest": {"n_estimators": [30], "max_depth": [3]},
        "xgboost": {"n_estimators": [5], "max_depth": [2]},
    }
    params["baselines"]["n_jobs"] = 1
    params["interpretation"]["top_features"] = 3
    # two waves of one trial: the second is TPE's, told the first's value
    params["tuning"].update(trials=2, trials_per_wave=1, startup_trials=1)
    params["tuning"]["space"]["batch_size"] = [16, 32]
    return params


class KeptMemoryDataset(MemoryDataset):
    """Keeps its data after the runner releases it, so the test can read every output."""

    def _release(self) -> None:
        pass


def run_pipeline(cells: pd.DataFrame, splits: pd.DataFrame, params: dict) -> dict:
    pipeline = create_pipeline(study=True)
    every_cell, every_cell_splits = with_cells_lacking_features(cells, splits)
    datasets = {
        "subclass_model_input": MemoryDataset(cells),
        "subclass_splits": MemoryDataset(splits),
        "subclass_every_cell_model_input": MemoryDataset(every_cell),
        "subclass_every_cell_splits": MemoryDataset(every_cell_splits),
        "feature_names": MemoryDataset([*FEATURES["noise_spike"], *FEATURES["precomputed"]]),
        "extended_feature_names": MemoryDataset([*FEATURES["noise_spike"], *FEATURES["precomputed"], *EXTENDED]),
        "subclass_names": MemoryDataset(CLASSES),
        "params:lspin": MemoryDataset(LspinParams.model_validate(params)),
    }
    # Keras models are handed on as they are (no deep copy), as the .keras dataset would.
    for name in pipeline.all_outputs():
        datasets.setdefault(name, KeptMemoryDataset(copy_mode="assign"))
    catalog = DataCatalog(datasets)
    SequentialRunner().run(pipeline, catalog)
    return {name: catalog.load(name) for name in pipeline.all_outputs()}


@pytest.fixture(scope="module")
def tiny_run():
    cells = synthetic_cells()
    splits = repeated_stratified_splits(cells, ["subclass"], [11, 23], 0.2, 0.15)
    return cells, splits, run_pipeline(cells, splits, tiny_parameters())


def test_the_default_run_trains_lspin_the_mlp_and_three_baselines_and_the_study_the_rest():
    default, study = create_pipeline(), create_pipeline(study=True)
    assert {n.name for n in default.nodes} < {n.name for n in study.nodes}
    collected = next(n for n in default.nodes if n.name == "lspin.collect_subclass_test_predictions").inputs
    assert collected == [f"lspin.{m}_test_predictions" for m in ("lspin", "mlp", "svc", "logistic_regression", "xgboost")]
    study_only = {n.name for n in study.nodes} - {n.name for n in default.nodes}
    assert {"lspin.tune_lspin", "lspin.tune_mlp", "lspin.train_lspin_reference_regime", "lspin.soft_vote",
            "lspin.tune_and_test_random_forest", "lspin.tune_and_test_svc_extended",
            "lspin.tune_and_test_svc_imputed"} <= study_only
    assert "extended_feature_names" not in default.inputs() and "extended_feature_names" in study.inputs()


def test_metrics_have_the_reporting_shape_for_every_model(tiny_run):
    _, _, outputs = tiny_run
    metrics = outputs["lspin_metrics"]
    assert list(metrics) == list(MODEL_ORDER)
    validate_model_metrics(metrics, "lspin_metrics", ["mouse"])
    for per_species in metrics.values():
        stats = per_species["mouse"]
        assert {"accuracy", "balanced_accuracy", "f1_macro", "f1_weighted", "precision",
                "recall"} <= set(stats)
        assert {f"f1_{name}" for name in CLASSES} <= set(stats)
        assert stats["accuracy"]["n_folds"] == N_SPLITS
    # two informative features make the task easy: LSPIN learns it within 30 epochs
    assert metrics["lspin"]["mouse"]["accuracy"]["mean"] > 0.5


def test_every_model_is_scored_on_the_same_test_cells(tiny_run):
    cells, splits, outputs = tiny_run
    predictions = outputs["lspin.test_predictions"]
    test = splits[splits["role"] == "test"]
    same_pool = predictions[~predictions["model"].str.endswith("_every_labelled_cell")]
    for (model, split), rows in same_pool.groupby(["model", "split"]):
        expected = set(test.loc[test["split"] == split, "specimen_id"])
        assert set(rows["specimen_id"]) == expected, (model, split)
        proba = rows[[f"proba_{c}" for c in CLASSES]].to_numpy()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    long = outputs["lspin_split_metrics"]
    assert list(long.columns) == ["model", "species", "split", "metric", "value"]
    assert set(long["split"]) == set(range(N_SPLITS))


def test_gates_profiles_and_top_features(tiny_run):
    cells, splits, outputs = tiny_run
    gates = outputs["lspin.test_gates"]
    names = [*FEATURES["noise_spike"], *FEATURES["precomputed"]]
    assert len(gates) == (splits["role"] == "test").sum()
    values = gates[names].to_numpy()
    assert values.min() >= 0.0 and values.max() <= 1.0
    profiles = outputs["lspin.class_gate_profiles"]
    assert list(profiles.index) == CLASSES and list(profiles.columns) == names
    top = outputs["lspin.top_features"]
    assert (top.groupby("subclass").size() == 3).all()
    assert set(top["feature"]) <= set(names)
    confusion = outputs["lspin.confusion_matrix"]
    np.testing.assert_allclose(confusion.sum(axis=1), 1.0)
    for name in ("lspin.confusion_matrix_plot", "lspin.class_gate_profiles_plot",
                 "lspin.gate_heatmap"):
        assert isinstance(outputs[name], Figure)


def test_models_and_choices_are_stored(tiny_run):
    _, _, outputs = tiny_run
    for kind in ("lspin", "mlp"):
        models = outputs[f"lspin.{kind}_models"]
        assert sorted(models) == [f"split{s}" for s in range(N_SPLITS)]  # one model per split, none fixed in code
        for model in models.values():
            assert isinstance(model, LSPINEnsemble) and len(model.members) == 2
            assert model.use_gates is (kind == "lspin")
    assert set(outputs["lspin.xgboost_models"]) == {"split0", "split1"}
    chosen = outputs["lspin.baseline_hyperparameters"]
    assert set(chosen) == {"svc", "logistic_regression", "xgboost", "random_forest", "svc_extended",
                           "logistic_regression_extended", "svc_imputed", "logistic_regression_imputed"}
    assert chosen["logistic_regression"]["split0"]["hyperparameters"]["C"] in (0.1, 1.0)


@pytest.mark.parametrize("entry", ["svc_imputed", "logistic_regression_imputed"])
def test_an_imputed_baseline_is_scored_on_complete_test_cells_and_on_every_labelled_one(tiny_run, entry):
    cells, splits, outputs = tiny_run
    predictions = outputs["lspin.test_predictions"]
    every_cell, every_cell_splits = with_cells_lacking_features(cells, splits)
    for split in sorted(splits["split"].unique()):
        test = set(every_cell_splits.loc[(every_cell_splits["split"] == split)
                                         & (every_cell_splits["role"] == "test"), "specimen_id"])
        complete = test & set(cells["specimen_id"])
        rows = predictions[predictions["split"] == split]
        assert set(rows.loc[rows["model"] == entry, "specimen_id"]) == complete
        every = rows[rows["model"] == f"{entry}_every_labelled_cell"].set_index("specimen_id")
        assert set(every.index) == test and len(test) > len(complete)
        assert every[[f"proba_{c}" for c in CLASSES]].notna().all().all()
        alone = rows[rows["model"] == entry].set_index("specimen_id")
        pd.testing.assert_frame_equal(every.loc[sorted(complete)].drop(columns="model"),
                                      alone.loc[sorted(complete)].drop(columns="model"))
    assert {entry, f"{entry}_every_labelled_cell"} <= set(outputs["lspin_metrics"])


@pytest.mark.parametrize("kind", ["lspin", "mlp"])
def test_the_tuned_networks_are_the_chosen_trials_ensembles(tiny_run, kind):
    """Per split: every trial recorded and in the study, one chosen (the best mean held-out
    score, the earlier on a tie), its hyperparameters inside the space and in the saved
    members; the tuned ensembles are scored on the same test cells as the rest."""
    _, splits, outputs = tiny_run
    params = LspinParams.model_validate(tiny_parameters())
    trials = outputs["lspin.tuning_trials"]
    trials = trials[trials["model"] == f"{kind}_tuned"]
    studies = outputs[f"lspin.{kind}_studies"]
    assert sorted(studies) == [f"split{s}" for s in range(N_SPLITS)]
    space = params.tuning.space
    for split, rows in trials.groupby("split"):
        assert rows["trial"].tolist() == list(range(params.tuning.trials)) and rows["wave"].tolist() == [0, 1]
        study = studies[f"split{split}"]
        np.testing.assert_allclose([t.value for t in study.trials], rows["value"])
        best = rows["value"].to_numpy().argmax()
        assert rows["chosen"].tolist() == [i == best for i in range(len(rows))]
        chosen = rows.iloc[best]
        assert space.learning_rate[0] <= chosen["learning_rate"] <= space.learning_rate[1]
        assert chosen["batch_size"] in space.batch_size
        ensemble = outputs[f"lspin.{kind}_tuned_models"][f"split{split}"]
        assert isinstance(ensemble, LSPINEnsemble) and len(ensemble.members) == 2
        if kind == "lspin":
            assert space.lambda1[0] <= chosen["lambda1"] <= space.lambda1[1]
            assert {(m.lambda1, m.sigma) for m in ensemble.members} == {(chosen["lambda1"], chosen["sigma"])}
        else:
            assert "lambda1" not in rows or rows["lambda1"].isna().all()
    history = outputs["lspin.training_history"]
    assert set(history["model"]) == {"lspin", "mlp", "lspin_tuned", "mlp_tuned", "lspin_reference_regime"}
    assert len(history[history["model"] == f"{kind}_tuned"].groupby(["split", "member"])) == 2 * N_SPLITS


# Same seeds and inputs, identical metrics and predictions: tests/test_determinism.py (byte for
# byte, through a KedroSession).


def test_a_model_of_a_split_the_splits_do_not_have_is_named(tiny_run):
    from neuron_types.errors import InputError
    from neuron_types.pipelines.lspin.nodes import network_test_outputs

    cells, splits, outputs = tiny_run
    models = {"split7": outputs["lspin.lspin_models"]["split0"]}
    with pytest.raises(InputError, match="split 7"):
        network_test_outputs(models, cells, splits, [*FEATURES["noise_spike"], *FEATURES["precomputed"]],
                             CLASSES, kind="lspin")


def test_shap_values_and_their_agreement_with_the_gates(tiny_run):
    cells, splits, outputs = tiny_run
    names = [*FEATURES["noise_spike"], *FEATURES["precomputed"]]
    shap = outputs["lspin.shap_values"]
    assert set(shap["model"]) == {"lspin", "xgboost"}
    test = splits[splits["role"] == "test"]
    for (model, split), rows in shap.groupby(["model", "split"]):
        assert set(rows["specimen_id"]) == set(test.loc[test["split"] == split, "specimen_id"]), (model, split)
        assert len(rows) == rows["specimen_id"].nunique() * len(CLASSES) * len(names)
    lspin = shap[shap["model"] == "lspin"]
    # the class probabilities sum to 1, so a feature's SHAP values over the classes sum to 0
    per_feature = lspin.groupby(["split", "specimen_id", "feature"])["shap_value"].sum()
    np.testing.assert_allclose(per_feature, 0.0, atol=1e-5)
    # the synthetic classes differ in width and tau alone: both lead LSPIN's mean |SHAP|
    importance = lspin["shap_value"].abs().groupby(lspin["feature"]).mean()
    assert set(importance.nlargest(2).index) == {"width", "tau"}
    agreement = outputs["lspin.gate_shap_agreement"]
    assert set(zip(agreement["model"], agreement["class"])) == {(m, c) for m in ("lspin", "xgboost") for c in CLASSES}
    assert ((agreement["null_low"] < 0) & (agreement["null_high"] > 0)).all()
    assert agreement["spearman"].between(-1, 1).all()
    shares = outputs["lspin.closed_gate_shap_shares"]
    assert len(shares) == 2 * test["specimen_id"].size
    assert shares["closed_gate_shap_share"].dropna().between(0, 1).all()
    slugs = ["Pvalb", "Sst", "Vip", "Htr3a_Vip", "Glutamatergic"]
    assert set(outputs["lspin.shap_plots"]) == {
        f"{model}_{slug}_{kind}.png" for model in ("lspin", "xgboost") for slug in slugs for kind in ("bar", "beeswarm")}
    assert isinstance(outputs["lspin.gate_vs_shap_plot"], Figure)


def test_the_soft_vote_weighs_its_members_test_probabilities_with_weights_from_non_test_cells(tiny_run, monkeypatch):
    """The vote's test probabilities are the weighted mean of LSPIN's, the MLP's and the SVC's
    with the recorded weights, which were chosen on the split's non-test cells only."""
    from neuron_types.models import soft_voting
    from neuron_types.pipelines.lspin import voting

    cells, splits, outputs = tiny_run
    predictions = outputs["lspin.test_predictions"]
    weights = outputs["lspin.soft_vote_weights"]
    columns = [f"proba_{c}" for c in CLASSES]
    for split in range(N_SPLITS):
        chosen = weights[f"split{split}"]
        assert set(chosen["weights"]) == {"lspin", "mlp", "svc"}
        assert sum(chosen["weights"].values()) == pytest.approx(1.0)
        non_test = splits[(splits["split"] == split) & (splits["role"] != "test")]
        assert chosen["out_of_fold_cells"] == len(non_test)  # two members: every non-test cell held out once
        of = {m: predictions[(predictions["model"] == m) & (predictions["split"] == split)].set_index("specimen_id")
              for m in ("soft_vote", "lspin", "mlp", "svc")}
        ids = of["soft_vote"].index
        expected = sum(w * of[m].loc[ids, columns].to_numpy() for m, w in chosen["weights"].items())
        np.testing.assert_allclose(of["soft_vote"][columns].to_numpy(), expected, atol=1e-9)

    # the labels the weights were chosen against are the non-test cells' own
    recorder = []
    real = soft_voting.choose_weights
    monkeypatch.setattr(soft_voting, "choose_weights", lambda p, y, *a: recorder.append(y) or real(p, y, *a))
    lspin = LspinParams.model_validate(tiny_parameters())
    names = [*FEATURES["noise_spike"], *FEATURES["precomputed"]]
    voting.soft_vote(outputs["lspin.lspin_models"], outputs["lspin.mlp_models"],
                     *(predictions[predictions["model"] == m] for m in ("lspin", "mlp", "svc")),
                     outputs["lspin.baseline_hyperparameters"]["svc"], cells, splits, names, CLASSES, lspin)
    assert len(recorder) == N_SPLITS
    for split, labels in zip(range(N_SPLITS), recorder):
        non_test = cells[cells["specimen_id"].isin(splits.loc[(splits["split"] == split) & (splits["role"] != "test"),
                                                              "specimen_id"])].sort_values("specimen_id")
        np.testing.assert_array_equal(labels, non_test["subclass"].map({c: i for i, c in enumerate(CLASSES)}))


def test_extended_entries_impute_inside_each_fit_and_read_the_extended_features(tiny_run, monkeypatch):
    """The _extended entries fit an imputer (with missingness indicators) on the rows each fit
    is given; a model on the 41 features refuses a missing value."""
    from sklearn.impute import SimpleImputer

    from neuron_types.errors import InputError
    from neuron_types.pipelines.lspin import nodes

    cells, splits, outputs = tiny_run
    lspin = LspinParams.model_validate(tiny_parameters())
    names = [*FEATURES["noise_spike"], *FEATURES["precomputed"]]
    fitted_on = []
    real_fit = SimpleImputer.fit

    def recording_fit(self, x, y=None):
        fitted_on.append(np.asarray(x).shape)
        return real_fit(self, x, y)

    monkeypatch.setattr(SimpleImputer, "fit", recording_fit)
    predictions, _ = nodes.tune_and_test_extended_baseline(cells, splits, [*names, *EXTENDED], names, CLASSES,
                                                           lspin, "logistic_regression")
    assert set(predictions["model"]) == {"logistic_regression_extended"}
    non_test = [int((splits["split"].eq(s) & splits["role"].ne("test")).sum()) for s in range(N_SPLITS)]
    # every fit imputes from its own rows: CV folds (fewer rows) and the refit on every non-test cell
    assert {rows for rows, _ in fitted_on} >= set(non_test) and min(r for r, _ in fitted_on) < min(non_test)
    assert {width for _, width in fitted_on} == {len(names) + len(EXTENDED)}
    pd.testing.assert_frame_equal(
        predictions.reset_index(drop=True),
        outputs["lspin.test_predictions"].query("model == 'logistic_regression_extended'").reset_index(drop=True))
    with pytest.raises(InputError, match=r"non-finite values in feature column\(s\) \['adaptation'\]"):
        nodes.tune_and_test_baseline(cells, splits, [*names, "adaptation"], CLASSES, lspin, "logistic_regression")
