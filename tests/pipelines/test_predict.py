"""The predict pipeline on tiny synthetic cells with a small network trained here, and the
one-line errors of a bad table of new cells."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from neuron_types.config import PredictParams
from neuron_types.errors import InputError
from neuron_types.models.networks import build_classifier
from neuron_types.pipelines.predict import create_pipeline
from neuron_types.pipelines.predict.cells import check_new_cells
from neuron_types.splits import cells_in_role, repeated_stratified_splits
from tests.params import dann_network, raw_params, typed_params
from tests.pipelines.test_dann import NAMES, KeptMemoryDataset, synthetic_cells

SUBCLASSES = ["Pvalb+", "Sst+", "Vip+", "Htr3a+|Vip-", "Glutamatergic"]


def predict_params(**changes) -> PredictParams:
    return PredictParams.model_validate({**raw_params("predict"), **changes})


@pytest.fixture(scope="module")
def trained():
    """Synthetic cells, their splits, and a small network trained on split 0's training
    cells with their scaler baked in (as dann exports it), plus a 5-class stand-in."""
    cells = synthetic_cells()
    splits = repeated_stratified_splits(cells, ["cell_class", "species"], [3], 0.25, 0.25)
    train = cells_in_role(cells, splits, 0, "train")
    x = train[NAMES].to_numpy("float32")
    keras.utils.set_random_seed(0)
    network = build_classifier(len(NAMES), dann_network(hidden_units=[16], dropout=0.0), 0,
                               (x.mean(axis=0), x.var(axis=0)))
    network.compile(optimizer=keras.optimizers.Adam(1e-2), loss={"label": "binary_crossentropy"})
    network.fit(x, {"label": train["excitatory"].to_numpy("float32")}, epochs=30, verbose=0)
    subclass = keras.Sequential([keras.Input((len(NAMES),)), keras.layers.Dense(5, activation="softmax")])
    return cells, splits, {"model": network, "version": "ei-v1"}, {"model": subclass, "version": "sub-v1"}


def run_predict(trained, new_cells: pd.DataFrame, **changes) -> DataCatalog:
    cells, splits, ei_model, subclass_model = trained
    card = {"model": "dann", "split": 0, "class_names": raw_params("dann")["class_names"]}
    pipeline = create_pipeline()
    catalog = DataCatalog({name: KeptMemoryDataset() for name in pipeline.all_outputs()})
    for name, value in {"predict.cells": new_cells, "predict.ei_model": ei_model,
                        "predict.subclass_model": subclass_model, "ei_model_input": cells, "ei_splits": splits,
                        "feature_names": NAMES, "subclass_names": SUBCLASSES,
                        "params:predict": predict_params(**changes),
                        "params:ingestion": typed_params("ingestion"),
                        "params:feature_engineering": typed_params("feature_engineering"),
                        "ei_model_card": card}.items():
        catalog[name] = MemoryDataset(value)
    SequentialRunner().run(pipeline, catalog)
    return catalog


def new_cells_of(trained, species_column: bool = True) -> pd.DataFrame:
    cells, splits = trained[:2]
    test = cells_in_role(cells, splits, 0, "test")
    return test[["specimen_id", *(["species"] if species_column else []), *NAMES[::-1], "cell_class"]]


def test_predictions_table_answers_every_cell(trained):
    new = new_cells_of(trained)
    catalog = run_predict(trained, new)
    table = catalog.load("predict.predictions")
    calibration = catalog.load("predict.calibration")
    assert table["specimen_id"].tolist() == new["specimen_id"].tolist()
    assert table["p_excitatory"].between(0, 1).all() and table["ood_flag"].dtype == bool
    assert set(table["prediction_set"]) <= {"", "inhibitory", "excitatory", "inhibitory|excitatory"}
    sizes = [len(answer.split("|")) if answer else 0 for answer in table["prediction_set"]]
    assert table["prediction_set_size"].tolist() == sizes
    mouse = table["species"] == "mouse"
    subclass = table[[f"p_subclass_{name}" for name in SUBCLASSES]]
    assert subclass[mouse].sum(axis=1).to_numpy() == pytest.approx(1.0, abs=1e-5)
    assert subclass[~mouse].isna().all().all() and table.loc[~mouse, "predicted_subclass"].isna().all()
    assert (table["ei_model_version"] == "ei-v1").all() and (table["subclass_model_version"] == "sub-v1").all()
    assert table["cell_class"].tolist() == new["cell_class"].tolist()  # a pass-through column
    # the network is right on most held-out cells and the true class is in most sets
    truth = new["cell_class"].to_numpy()
    assert (table["predicted_class"].to_numpy() == truth).mean() > 0.8
    assert np.mean([c in s.split("|") for c, s in zip(truth, table["prediction_set"])]) > 0.75
    assert calibration["temperature"] > 0 and set(calibration["conformal"]["quantiles"]) == {"human", "mouse"}
    # calibrated on validation cells of split 0 only
    n_validation = len(cells_in_role(*trained[:2], 0, "validation"))
    assert calibration["temperature_cells"] + sum(calibration["conformal"]["cells"].values()) == n_validation


def test_shifted_cells_are_flagged_out_of_distribution(trained):
    # (the synthetic features are independent: shuffling them is not a shift; the real-dump
    # test shuffles correlated features)
    new = new_cells_of(trained)
    normal = run_predict(trained, new).load("predict.predictions")["ood_flag"].mean()
    shifted = new.assign(**{c: new[c] + 3 * new[c].std() for c in NAMES})
    assert normal < 0.2
    assert run_predict(trained, shifted).load("predict.predictions")["ood_flag"].mean() > 0.9


def test_species_from_a_parameter_when_the_table_has_none(trained):
    new = new_cells_of(trained, species_column=False)
    table = run_predict(trained, new, species="human").load("predict.predictions")
    assert (table["species"] == "human").all() and table["p_subclass_Sst+"].isna().all()


@pytest.mark.parametrize("change, species, message", [
    (lambda t: t.iloc[:0], None, "predict.cells: has a header but no rows"),
    (lambda t: t.drop(columns="specimen_id"), None, "predict.cells: no specimen_id column"),
    (lambda t: t.assign(colour="red"), None, "predict.cells: unknown columns ['colour']"),
    (lambda t: t.drop(columns=["tau", "sag"]), None, "predict.cells: columns ['tau', 'sag'] are missing"),
    (lambda t: t.assign(tau=["n/a"] + list(t["tau"].iloc[1:])), None,
     "predict.cells, column tau: 1 non-numeric values (e.g. 'n/a' at specimen_id"),
    (lambda t: t.assign(specimen_id=t["specimen_id"].iloc[0]), None, "predict.cells, column specimen_id: ids"),
    (lambda t: t.assign(species="Mus musculus"), None, "predict.cells, column species: unexpected values"),
    (lambda t: t, "mouse", "predict.cells has a species column and parameter predict.species is 'mouse'"),
    (lambda t: t.drop(columns="species"), None, "predict.cells: no species column and parameter predict.species is null"),
])
def test_a_bad_table_stops_with_one_line(change, species, message):
    table = change(synthetic_cells().drop(columns=["domain", "excitatory"]))
    with pytest.raises(InputError) as error:
        check(table, NAMES, species=species)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_cells_lacking_features_are_rejected_by_name():
    table = synthetic_cells().drop(columns=["domain", "excitatory"])
    table.loc[[3, 7], "tau"] = np.nan
    table.loc[7, "sag"] = np.nan
    with pytest.raises(InputError, match=r"2 cells lack features \(specimen_id 5003, 5007; columns \['tau', 'sag'\]\)"):
        check(table, NAMES)


def test_cells_lacking_features_are_skipped_with_their_missing_columns_when_asked(trained):
    new = new_cells_of(trained).reset_index(drop=True)
    new.loc[2, "tau"] = np.nan
    table = run_predict(trained, new, missing_features="skip").load("predict.predictions")
    assert table.loc[2, "missing_features"] == "tau" and table.loc[2, "missing_handling"] == "skipped: not classified"
    assert np.isnan(table.loc[2, "p_excitatory"]) and table.loc[2, "prediction_set"] is np.nan
    assert table.drop(index=2)["p_excitatory"].notna().all()
    assert (table.drop(index=2)["missing_handling"] == "none missing").all()


def test_an_actd_dump_gives_every_cell_with_the_features_it_has(tmp_path):
    from neuron_types.io import read_actd_dump
    from tests.actd_fixture import actd_tables, write_actd_dump

    tables = actd_tables()
    tables["noise_spike_features"] = tables["noise_spike_features"].iloc[5:]  # 5 cells without noise sweeps
    dump = read_actd_dump(write_actd_dump(tmp_path / "actd", tables), allow_download=False)
    features = typed_params("feature_engineering").features.names
    table = check(dump, features, missing_features="skip")
    assert table["specimen_id"].tolist() == sorted(dump["cells"]["id"].astype(int))
    without_noise = ~table["specimen_id"].isin(dump["noise_spike_features"]["specimen_id"])
    assert without_noise.sum() == 5
    assert (table.loc[without_noise, "missing_features"].str.split(";").map(len) >= 14).all()
    assert (table.loc[~without_noise, "missing_features"] == "").all()
    with pytest.raises(InputError, match="cells lack features"):
        check(dump, features)


def check(table, features, **changes):
    return check_new_cells(table, features, predict_params(**changes), typed_params("ingestion"),
                           typed_params("feature_engineering"))


# Tiny networks for the real-dump test: it checks the steps and the statistics' validity,
# not the models' accuracy.
TINY_DANN = {"dann": {"network": {"hidden_units": [16, 8], "domain_hidden_units": [8]},
                      "training": {"max_epochs": 5, "patience": 2}}}
TINY_LSPIN = {"lspin": {"lspin": {"model": {"gating_units": [8], "prediction_units": [8]},
                                  "training": {"max_epochs": 10, "check_every": 5, "patience": 5,
                                               "optimizer": "adam", "learning_rate": 0.01},
                                  "ensemble_members": 1}}}
# one repeat of the 5-fold cross-validation: 5 splits to train instead of 15
ONE_REPEAT = {"feature_engineering": {"splits": {"seeds": [11]}}}


@pytest.mark.real_data
def test_the_docs_steps_take_held_out_real_cells_to_a_predictions_table(kedro_project, real_actd):
    """docs/classify_your_own_cells.md, step by step (training with tiny networks), on the
    test cells of the exported fold: cells no model or calibration saw."""
    import json

    from neuron_types.pipelines.predict.nodes import calibrated_outputs
    from tests.actd_fixture import latest_version

    # 1. train (the model inputs, the exported DANN, the LSPIN ensembles)
    kedro_project(pipeline_names=["ingestion", "feature_engineering"], actd_dir=real_actd, params=ONE_REPEAT)
    kedro_project(pipeline_names=["dann"], node_names=["dann.train_supervised_dann"], params=TINY_DANN)
    kedro_project(pipeline_names=["lspin"], node_names=["lspin.train_lspin"], params=TINY_LSPIN)
    data = kedro_project.root / "data"
    cells = pd.read_parquet(latest_version(data / "05_model_input/ei_model_input.parquet"))
    splits = pd.read_parquet(latest_version(data / "05_model_input/ei_splits.parquet"))
    features = json.loads(latest_version(data / "05_model_input/feature_names.json").read_text())
    held_out = cells_in_role(cells, splits, 0, "test")
    # 2. the table: specimen_id, species, the 41 features (any order), a pass-through column
    (data / "01_raw").mkdir(exist_ok=True)
    held_out[["specimen_id", "species", "cell_class", *sorted(features)]].to_csv(
        data / "01_raw/new_cells.csv", index=False)
    # 3. the run
    kedro_project(pipeline_names=["predict"])
    # 4. the table of predictions
    table = pd.read_csv(latest_version(data / "07_model_output/predictions.csv"))
    assert table["specimen_id"].tolist() == held_out["specimen_id"].tolist()
    assert table["ei_model_version"].str.match(r"\d{4}-\d\d-\d\dT").all()
    mouse = table["species"] == "mouse"
    assert table.loc[mouse, "p_subclass_Glutamatergic"].notna().all()
    assert table.loc[~mouse, "p_subclass_Glutamatergic"].isna().all()
    # the split-conformal sets cover the true class of about `coverage` of the held-out cells
    calibration = json.loads(latest_version(data / "07_model_output/predict_calibration.json").read_text())
    covered = [c in str(s).split("|") for c, s in zip(table["cell_class"], table["prediction_set"])]
    assert np.mean(covered) == pytest.approx(calibration["conformal"]["coverage"], abs=0.05)
    assert table["ood_flag"].mean() < 0.1
    # the same cells shifted, or each feature shuffled across cells: mostly flagged
    import keras

    import neuron_types.models  # noqa: F401

    model = keras.models.load_model(latest_version(data / "06_models/dann_model.keras"))
    rng = np.random.default_rng(0)
    spread = held_out[features].std()
    shifted = held_out.assign(**{c: held_out[c] + 2 * spread[c] for c in features})
    shuffled = held_out.assign(**{c: rng.permutation(held_out[c].to_numpy()) for c in features})
    for changed in (shifted, shuffled):
        flagged = calibrated_outputs(model, calibration, changed, features, ["inhibitory", "excitatory"])["ood_flag"]
        assert flagged.mean() > 0.5


def test_the_docs_quote_the_real_error_of_an_unknown_column():
    """docs/classify_your_own_cells.md quotes the line of a table with a column `colour`;
    when the message changes, paste the new one there."""
    from neuron_types.errors import one_line
    from tests.actd_fixture import PROJECT

    features = typed_params("feature_engineering").features.names
    table = pd.DataFrame([[1, "mouse", *[0.0] * len(features), "red"]], columns=["specimen_id", "species", *features,
                                                                              "colour"])
    with pytest.raises(InputError) as error:
        check(table, features)
    line = one_line(error.value)
    assert line in (PROJECT / "docs/classify_your_own_cells.md").read_text(), line
