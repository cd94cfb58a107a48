"""The dann pipeline end to end on tiny synthetic cells of two species, with few epochs."""

from __future__ import annotations

import copy
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from kedro_datasets.tensorflow import TensorFlowModelDataset

from neuron_types.config import DannParams
from neuron_types.errors import ParameterError
from neuron_types.pipelines.dann import create_pipeline
from neuron_types.pipelines.reporting.nodes import validate_model_metrics
from neuron_types.splits import repeated_stratified_splits
from tests.pipelines.every_cell import every_cell_pool

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
HERE = Path(__file__).resolve().parent
FEATURES = {"noise_spike": ["width", "upstroke", "threshold_v"],
            "precomputed": ["tau", "sag", "vrest", "seal_gohm", "vm_for_sag"]}
NAMES = [*FEATURES["noise_spike"], *FEATURES["precomputed"]]
SPECIES = ("human", "mouse")
STATS = {"mean", "std", "ci95", "n_folds", "dof"}
METRICS = {"accuracy", "balanced_accuracy", "f1_macro", "precision", "recall", "roc_auc"}


def synthetic_cells(seed: int = 0) -> pd.DataFrame:
    """Mouse (50% excitatory) and human (75% excitatory, shifted features) cells: the class
    lives in two features, the species shifts two others; features on very different scales."""
    rng = np.random.default_rng(seed)
    species = np.array(["mouse"] * 80 + ["human"] * 40, dtype=object)
    excitatory = np.concatenate([np.arange(80) % 2, (np.arange(40) % 4 != 0).astype(int)])
    x = rng.normal(size=(len(species), len(NAMES)))
    x[:, :2] += 2.0 * excitatory[:, None]
    x[:, 2:4] += 1.5 * (species == "human")[:, None]
    x *= rng.uniform(0.5, 50, size=len(NAMES))
    cells = pd.DataFrame(x, columns=NAMES)
    cells.insert(0, "specimen_id", np.arange(5000, 5000 + len(species), dtype="int64"))
    cells.insert(1, "species", species)
    cells.insert(2, "domain", (species == "human").astype("int64"))
    cells.insert(3, "cell_class", np.where(excitatory == 1, "excitatory", "inhibitory"))
    cells.insert(4, "excitatory", excitatory.astype("int64"))
    return cells


def with_cells_lacking_features(cells: pd.DataFrame, splits: pd.DataFrame):
    """The every-labelled-cell pool: 16 more cells, the first three features missing, each a
    test cell of one split and a training cell of the other (as feature engineering deals them)."""
    extra = synthetic_cells(seed=7).iloc[::8].copy()
    extra["specimen_id"] += 1000
    return every_cell_pool(cells, splits, extra, NAMES[:3])


class KeptMemoryDataset(MemoryDataset):
    """Keeps its data after the runner is done with it, so that the test can inspect it."""

    def _release(self) -> None:
        pass


def tiny_parameters(**overrides) -> dict:
    params = copy.deepcopy(yaml.safe_load((CONF / "parameters_dann.yml").read_text())["dann"])
    for section, values in yaml.safe_load((HERE / "dann_test_parameters.yml").read_text()).items():
        params[section].update(values)
    params.update(overrides)
    return params


def run_pipeline(params: dict, pipeline=None) -> DataCatalog:
    cells = synthetic_cells()
    splits = repeated_stratified_splits(cells, ["cell_class", "species"], [3, 4], 0.25, 0.25)
    pipeline = pipeline or create_pipeline(study=True)
    catalog = DataCatalog({name: KeptMemoryDataset() for name in pipeline.all_outputs()})
    every_cell, every_cell_splits = with_cells_lacking_features(cells, splits)
    for name, value in {"ei_model_input": cells, "ei_splits": splits, "feature_names": NAMES,
                        "ei_every_cell_model_input": every_cell, "ei_every_cell_splits": every_cell_splits,
                        "params:dann": DannParams.model_validate(params)}.items():
        catalog[name] = MemoryDataset(value)
    SequentialRunner().run(pipeline, catalog)
    return catalog


@pytest.fixture(scope="module")
def outputs():
    return run_pipeline(tiny_parameters())


def test_the_default_run_trains_the_entries_not_marked_study_and_the_study_every_one():
    params = DannParams.model_validate(tiny_parameters())
    default, study = params.for_run(False), params.for_run(True)
    assert set(study.models) == set(params.models) and set(study.simple_models.models) == set(params.simple_models.models)
    assert set(default.models) == {n for n, m in params.models.items() if not m.study}
    assert set(default.simple_models.models) == {n for n, m in params.simple_models.models.items() if not m.study}
    assert {"dann", "fcnn_joint", "fcnn_source_only", "dann_unsupervised_reweighted"} <= set(default.models)
    assert not {"dann_gated", "dann_cross_fitted", "dann_imputed"} & set(default.models)
    # the nodes are bound to their run; no dataset between them, so --from-nodes resumes any
    for study_run, pipeline in ((False, create_pipeline()), (True, create_pipeline(study=True))):
        training = [n for n in pipeline.nodes if n.name.startswith(("dann.train_", "dann.fit_simple"))]
        assert len(training) == 4 and all(n.func.keywords == {"study": study_run} for n in training)
        assert all(name.startswith("params:") or not name.startswith("dann.") or name == "dann.source_only_priors"
                   for n in training for name in n.inputs)
    assert "dann.plot_gate_profiles" in {n.name for n in create_pipeline(study=True).nodes}
    assert "dann.plot_gate_profiles" not in {n.name for n in create_pipeline().nodes}


def test_the_exported_and_prior_models_may_not_be_study_only():
    for path, name in [("target_prior_model", "fcnn_source_only"), ("export", "dann")]:
        params = tiny_parameters()
        params["models"][name] = {**params["models"][name], "study": True}
        with pytest.raises(ParameterError, match=rf"{path}[.a-z]*: got '{name}'; expected"):
            DannParams.model_validate(params)


def test_metrics_have_every_model_species_metric_and_summary(outputs):
    metrics = outputs.load("dann_metrics")
    params = tiny_parameters()
    entries = {**params["models"], **params["simple_models"]["models"]}
    expected = {*entries, "logistic_regression",
                *(f"{name}_every_labelled_cell" for name, spec in entries.items()
                  if spec.get("imputation", "none") != "none"),
                *(f"{model}{suffix}" for model, spec in params["models"].items() if spec.get("prior_adjusted")
                  for suffix in ("_prior_adjusted", "_prior_adjusted_calibrated"))}
    assert {"fcnn_source_only_prior_adjusted", "dann_unsupervised_cross_fitted_prior_adjusted_calibrated",
            "fcnn_joint_imputed_every_labelled_cell", "dann_imputed"} <= expected
    assert set(metrics) == expected
    for model, per_species in metrics.items():
        assert set(per_species) == set(SPECIES), model
        for species, summary in per_species.items():
            assert METRICS <= set(summary), (model, species)
            for stats in summary.values():
                assert set(stats) == STATS and stats["n_folds"] == 2
                assert stats["ci95"][0] <= stats["mean"] <= stats["ci95"][1]
    validate_model_metrics(metrics, "dann_metrics", list(SPECIES))  # what reporting consumes


def test_split_table_and_predictions_cover_every_test_cell(outputs):
    table = outputs.load("dann_split_metrics")
    assert list(table.columns) == ["model", "split", "species", "metric", "value"]
    assert set(table["split"]) == {0, 1} and set(table["species"]) == set(SPECIES)
    predictions = outputs.load("dann.test_predictions")
    same_pool = predictions[~predictions["model"].str.endswith("_every_labelled_cell")]
    cells = same_pool.groupby(["model", "split"])["specimen_id"].apply(frozenset).unstack("split")
    assert (cells.nunique() == 1).all()  # every model scored on the same test cells of a split
    assert predictions["probability"].between(0, 1).all()


def test_figures_for_every_model_and_species(outputs):
    confusion = outputs.load("dann.confusion_matrix_plots")
    curves = outputs.load("dann.training_curve_plots")
    shap_plots = outputs.load("dann.shap_plots")
    models = set(outputs.load("dann.test_predictions")["model"])
    assert set(confusion) == {f"{m}.png" for m in models}
    networks = set(outputs.load("dann.training_history")["model"])
    assert set(curves) == {f"{m}.png" for m in networks}
    assert set(shap_plots) == {f"{s}_{k}.png" for s in SPECIES for k in ("bar", "beeswarm")}
    assert all(isinstance(f, Figure) for f in [*confusion.values(), *curves.values(), *shap_plots.values()])
    figure = confusion["dann.png"]
    labels = {t.get_text() for ax in figure.axes for t in ax.get_xticklabels()}
    assert {"inhibitory", "excitatory"} <= labels


def test_shap_table_covers_test_cells_and_features(outputs):
    shap_values = outputs.load("dann.shap_values")
    assert set(shap_values["species"]) == set(SPECIES)
    assert set(shap_values["feature"]) == set(NAMES)
    assert np.isfinite(shap_values["shap_value"]).all()


def test_target_prior_estimates_are_reported(outputs):
    priors = outputs.load("dann.target_prior_estimates")
    assert {"fcnn_source_only", "dann_unsupervised", "dann_unsupervised_reweighted"} <= set(priors["model"])
    assert priors[["em", "bbse"]].apply(lambda c: c.between(0, 1)).all().all()


def test_exported_model_takes_raw_features_and_survives_save_load(outputs, tmp_path):
    model = outputs.load("dann.supervised_model")
    cells = synthetic_cells().head(5)
    raw = cells[NAMES].to_numpy(dtype="float32")
    dataset = TensorFlowModelDataset(filepath=str(tmp_path / "dann_model.keras"))
    dataset.save(model)
    loaded = dataset.load()
    np.testing.assert_allclose(loaded(raw)["label"].numpy(), model(raw)["label"].numpy(), rtol=1e-5)
    assert isinstance(outputs.load("dann.unsupervised_model"), keras.Model)


# Two runs with the same seeds writing identical metrics, split scores and predictions:
# tests/test_determinism.py, through a KedroSession and byte for byte.


def test_bad_parameters_are_named():
    with pytest.raises(ParameterError, match=r"dann.models.broken.layers: unknown key"):
        DannParams.model_validate(tiny_parameters(models={"broken": {"domain_head": True, "layers": 3}}))
    with pytest.raises(ParameterError, match=r"dann.models.m.reweighting: got 'magic'"):
        DannParams.model_validate(tiny_parameters(models={"m": {"domain_head": True, "reweighting": "magic"}}))
    with pytest.raises(ParameterError, match="target_prior_model: got 'dann'"):
        DannParams.model_validate(tiny_parameters(target_prior_model="dann"))


@pytest.mark.parametrize("entry", ["logistic_quantile_species_imputed", "fcnn_joint_imputed", "dann_imputed"])
def test_an_imputing_entry_is_scored_on_complete_test_cells_and_on_every_labelled_one(outputs, entry):
    predictions = outputs.load("dann.test_predictions")
    cells = synthetic_cells()
    every_cell, splits = with_cells_lacking_features(cells, repeated_stratified_splits(
        cells, ["cell_class", "species"], [3, 4], 0.25, 0.25))
    for split in (0, 1):
        test = set(splits.loc[(splits["split"] == split) & (splits["role"] == "test"), "specimen_id"])
        complete = test & set(cells["specimen_id"])
        rows = predictions[predictions["split"] == split]
        assert set(rows.loc[rows["model"] == entry, "specimen_id"]) == complete
        assert set(rows.loc[rows["model"] == "logistic_quantile_species", "specimen_id"]) == complete
        every = rows[rows["model"] == f"{entry}_every_labelled_cell"]
        assert set(every["specimen_id"]) == test and len(test) > len(complete)
        assert every["probability"].notna().all()
        # the complete cells' probabilities are the same fit's in both pools
        both = every.set_index("specimen_id").loc[sorted(complete), "probability"].to_numpy()
        alone = rows[rows["model"] == entry].set_index("specimen_id")
        np.testing.assert_array_equal(both, alone.loc[sorted(complete), "probability"].to_numpy())


def test_models_trained_side_by_side_in_worker_processes_are_those_of_one_process_bit_for_bit():
    from neuron_types.pipelines.dann import nodes

    cells = synthetic_cells()
    splits = repeated_stratified_splits(cells, ["cell_class", "species"], [3, 4], 0.25, 0.25)
    every_cell, every_cell_splits = with_cells_lacking_features(cells, splits)
    side_by_side = DannParams.model_validate(tiny_parameters())
    assert side_by_side.n_jobs == 2  # conf/base
    runs = [nodes.train_supervised_dann(cells, splits, NAMES, params, every_cell, every_cell_splits, study=True)
            for params in (side_by_side, side_by_side.model_copy(update={"n_jobs": 1}))]
    (predictions, histories, exported, card, gates), alone = runs
    # the study's supervised entries: imputing, cross-fitted, gated, one without two features
    assert predictions["model"].nunique() >= 5 and not gates.empty
    for table, alone_table in ((predictions, alone[0]), (histories, alone[1]), (gates, alone[4])):
        pd.testing.assert_frame_equal(table, alone_table, check_exact=True)
    assert card == alone[3]
    for weights, alone_weights in zip(exported.get_weights(), alone[2].get_weights(), strict=True):
        np.testing.assert_array_equal(weights, alone_weights)
