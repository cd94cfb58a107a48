import logging

import pandas as pd
import pytest

from neuron_types.io import read_actd_dump
from neuron_types.pipelines.feature_engineering.nodes import (
    assemble_features,
    build_cohort,
    build_ei_model_input,
    build_subclass_model_input,
    split_ei_cells,
    split_subclass_cells,
)
from neuron_types.pipelines.ingestion.nodes import validate_actd_dump
from tests.actd_fixture import actd_tables, write_actd_dump
from tests.params import raw_params, typed_params

PARAMS = raw_params("feature_engineering")
TYPED = typed_params("feature_engineering")
INGESTION = typed_params("ingestion")


def _raw(tmp_path, tables=None):
    dump = read_actd_dump(write_actd_dump(tmp_path / "actd", tables or actd_tables()))
    return validate_actd_dump(dump, INGESTION)


def test_cohort_labels_and_exclusions(tmp_path, caplog):
    cells, _, noise = _raw(tmp_path)
    with caplog.at_level(logging.INFO):
        cohort = build_cohort(cells, noise, TYPED)
    mouse = cohort[cohort["species"] == "mouse"]
    human = cohort[cohort["species"] == "human"]
    # 48 aspiny interneurons + 24 spiny Rorb cells; contradicting, unmapped and sparsely spiny out
    assert mouse["subclass"].value_counts().to_dict() == {
        "Glutamatergic": 24, "Pvalb+": 12, "Sst+": 12, "Vip+": 12, "Htr3a+|Vip-": 12
    }
    assert (mouse.query("subclass == 'Glutamatergic'")["cell_class"] == "excitatory").all()
    assert human["cell_class"].value_counts().to_dict() == {"excitatory": 24, "inhibitory": 12}
    assert human["subclass"].isna().all()
    assert "Unknown-Cre" in caplog.text and "contradicts dendrite type" in caplog.text


def test_cells_without_noise_features_stay_labelled_but_leave_the_model_inputs(tmp_path, caplog):
    tables = actd_tables()
    tables["noise_spike_features"] = tables["noise_spike_features"].iloc[10:]
    cells, ephys, noise = _raw(tmp_path, tables)
    with caplog.at_level(logging.INFO):
        cohort = build_cohort(cells, noise, TYPED)
    lacking = set(cohort["specimen_id"]) - set(noise["specimen_id"])
    assert len(lacking) == 10 and "10 cells have no noise-sweep spike features" in caplog.text
    features = assemble_features(cohort, ephys, noise, TYPED)
    ei = build_ei_model_input(features, TYPED)
    assert not lacking & set(ei["specimen_id"]) and set(ei["specimen_id"]) <= set(noise["specimen_id"])


def test_empty_model_input_says_why(tmp_path):
    tables = actd_tables()
    tables["noise_spike_features"] = None
    (tmp_path / "actd").mkdir()
    cells, ephys, noise = _raw(tmp_path, tables)
    cohort = build_cohort(cells, noise, TYPED)
    assert len(cohort) == 108  # the labelled cells stay; no model input can be built without the noise table
    with pytest.raises(ValueError, match=r"raw_noise_spike_features \(noise_spike_features.csv\): feature columns "
                                         r"\['threshold_v'.* are missing; the table has 1 columns"):
        assemble_features(cohort, ephys, noise, TYPED)
    noise_free = noise.assign(**{name: float("nan") for name in TYPED.features.noise_spike})
    with pytest.raises(ValueError, match=r"features: every one of 108 cohort cells lacks at least one of the 41 "
                                         r"features \(missing for every cell: \['threshold_v'"):
        assemble_features(cohort, ephys, noise_free, TYPED)


def test_features_missing_column_names_table_and_column(tmp_path):
    cells, ephys, noise = _raw(tmp_path)
    cohort = build_cohort(cells, noise, TYPED)
    with pytest.raises(ValueError, match=r"raw_ephys_features \(ephys_features\.csv\): feature columns \['tau'\]"):
        assemble_features(cohort, ephys.drop(columns="tau"), noise, TYPED)


def test_incomplete_rows_are_dropped_and_counted(tmp_path, caplog):
    cells, ephys, noise = _raw(tmp_path)
    cohort = build_cohort(cells, noise, TYPED)
    ephys.loc[ephys["specimen_id"].isin(cohort["specimen_id"].head(3)), "peak_v_ramp"] = float("nan")
    with caplog.at_level(logging.INFO):
        features = assemble_features(cohort, ephys, noise, TYPED)
        ei = build_ei_model_input(features, TYPED)
    assert len(features) == len(cohort) and len(ei) == len(cohort) - 3
    assert not ei[TYPED.features.names].isna().any().any()
    assert "3 cells lack some of them" in caplog.text and "ei_model_input: 3 cells lacking a feature left out" in caplog.text


def test_model_inputs_have_the_contract_columns(tmp_path):
    cells, ephys, noise = _raw(tmp_path, actd_tables(with_spikes=True))
    features = assemble_features(build_cohort(cells, noise, TYPED), ephys, noise, TYPED)
    names = TYPED.features.names
    assert len(names) == 41
    ei = build_ei_model_input(features, TYPED)
    assert list(ei.columns) == ["specimen_id", "species", "donor_id", "domain", "cell_class",
                                "excitatory", "sampling_rate_khz", *names]
    assert ei["donor_id"].dtype == "int64"
    assert (ei["domain"] == (ei["species"] == "human")).all()
    assert (ei["excitatory"] == (ei["cell_class"] == "excitatory")).all()
    subclass = build_subclass_model_input(features, TYPED)
    assert set(subclass["species"]) == {"mouse"}
    assert set(subclass["subclass"]) == set(PARAMS["subclass_names"])
    assert {"donor_id", "sampling_rate_khz"} <= set(subclass.columns)


def test_donor_reporter_status_and_sampling_rate_reach_the_model_inputs(tmp_path):
    tables = actd_tables(with_spikes=True)
    records = {record["specimen__id"]: record for record in tables["cells"]}
    cells, ephys, noise = _raw(tmp_path, tables)
    cohort = build_cohort(cells, noise, TYPED)
    assert cohort["donor_id"].tolist() == [records[i]["donor__id"] for i in cohort["specimen_id"]]
    assert cohort["reporter_status"].tolist() == [records[i]["cell_reporter_status"] or pd.NA
                                                  for i in cohort["specimen_id"]]
    ei = build_ei_model_input(assemble_features(cohort, ephys, noise, TYPED), TYPED)
    # the fixture: every 2nd mouse cell at 200 kHz, the rest at 50, the last (human) cell none
    mouse = ei[ei["species"] == "mouse"]
    assert (mouse["sampling_rate_khz"] == mouse["specimen_id"].mod(2).map({0: 200, 1: 50})).all()
    human = ei[ei["species"] == "human"]
    assert human["sampling_rate_khz"].iloc[:-1].eq(50).all() and human["sampling_rate_khz"].iloc[-1] is pd.NA
    assert ei.groupby("donor_id")["species"].nunique().max() == 1


def test_model_inputs_lack_the_sampling_rate_when_the_dump_has_no_spikes(tmp_path, caplog):
    tables = actd_tables()  # no short_square_spikes.npz
    with caplog.at_level(logging.INFO):
        cells, ephys, noise = _raw(tmp_path, tables)
    assert "recording-rate analysis will be skipped" in caplog.text
    features = assemble_features(build_cohort(cells, noise, TYPED), ephys, noise, TYPED)
    ei = build_ei_model_input(features, TYPED)
    assert "sampling_rate_khz" not in ei.columns and "donor_id" in ei.columns


def _model_inputs(tmp_path):
    cells, ephys, noise = _raw(tmp_path)
    features = assemble_features(build_cohort(cells, noise, TYPED), ephys, noise, TYPED)
    return build_ei_model_input(features, TYPED), build_subclass_model_input(features, TYPED)


def assert_no_leak(splits: pd.DataFrame, model_input: pd.DataFrame, grouped: bool = True) -> None:
    """No cell, and (``grouped``) no donor, of a fold's test cells among its training or
    validation cells; every cell in exactly one role per split."""
    donor = model_input.set_index("specimen_id")["donor_id"]
    for split, one in splits.groupby("split"):
        assert one["specimen_id"].is_unique and set(one["specimen_id"]) == set(model_input["specimen_id"])
        test = one.loc[one["role"] == "test", "specimen_id"]
        rest = one.loc[one["role"] != "test", "specimen_id"]
        assert not set(test) & set(rest), f"split {split}: a test cell also trains"
        if grouped:
            shared = set(donor[test]) & set(donor[rest])
            assert not shared, f"split {split}: donors {sorted(shared)[:5]} on both sides"
            validation = one.loc[one["role"] == "validation", "specimen_id"]
            train = one.loc[one["role"] == "train", "specimen_id"]
            assert not set(donor[validation]) & set(donor[train])


def test_default_splits_are_donor_grouped_repeated_cv_without_leaks(tmp_path):
    ei, subclass = _model_inputs(tmp_path)
    splits = TYPED.splits
    assert (splits.protocol, splits.n_folds, len(splits.seeds)) == ("donor_grouped_cv", 5, 3)
    for node, model_input, strata in ((split_ei_cells, ei, ["cell_class", "species"]),
                                      (split_subclass_cells, subclass, ["subclass"])):
        table = node(model_input, TYPED)
        assert list(table.columns) == ["split", "seed", "repeat", "fold", "specimen_id", "role", "protocol"]
        assert sorted(table["split"].unique()) == list(range(15))
        assert table.drop_duplicates("split")["seed"].tolist() == [s for s in splits.seeds for _ in range(5)]
        assert_no_leak(table, model_input)
        tests = table[table["role"] == "test"].merge(model_input, on="specimen_id")
        # each repeat tests every cell once; every stratum reaches every test fold
        assert (tests.groupby(["repeat", "specimen_id"]).size() == 1).all()
        assert tests.groupby(["repeat"])["specimen_id"].nunique().eq(len(model_input)).all()
        assert tests.groupby(["split", *strata]).size().unstack(strata).notna().all(axis=None)
        pd.testing.assert_frame_equal(table, node(model_input, TYPED))
    # repeats differ
    table = split_ei_cells(ei, TYPED)
    folds = [frozenset(g.loc[g["role"] == "test", "specimen_id"]) for _, g in table.groupby("split")]
    assert len(set(folds)) == len(folds)


def test_the_other_protocols_are_a_parameter_away(tmp_path):
    ei, _ = _model_inputs(tmp_path)
    cell_level = typed_params("feature_engineering", splits={**PARAMS["splits"], "protocol": "cell_level_cv"})
    table = split_ei_cells(ei, cell_level)
    assert (table["protocol"] == "cell_level_cv").all() and table["split"].nunique() == 15
    assert_no_leak(table, ei, grouped=False)
    random = typed_params("feature_engineering", splits={**PARAMS["splits"], "protocol": "random_splits"})
    table = split_ei_cells(ei, random)
    assert "fold" not in table.columns and table["split"].nunique() == 3
    test_share = (table["role"] == "test").groupby(table["split"]).mean()
    assert test_share.round(2).eq(0.2).all()  # test_fraction, read by random_splits only
    assert_no_leak(table, ei, grouped=False)


def test_donor_grouping_needs_the_donors(tmp_path):
    ei, _ = _model_inputs(tmp_path)
    with pytest.raises(ValueError, match=r"ei_model_input: no donor_id column, which feature_engineering.splits."
                                         r"protocol donor_grouped_cv groups the folds by.*cell_level_cv"):
        split_ei_cells(ei.drop(columns="donor_id"), TYPED)
    cell_level = typed_params("feature_engineering", splits={**PARAMS["splits"], "protocol": "cell_level_cv"})
    assert split_ei_cells(ei.drop(columns="donor_id"), cell_level)["split"].nunique() == 15


@pytest.mark.parametrize("change, message", [
    ({"validation_fraction": 0.85},
     r"splits.validation_fraction: got 0.85; expected less than 1 - 1/n_folds \(0.8\) with protocol donor_grouped_cv"),
    ({"protocol": "random_splits", "test_fraction": 0.5, "validation_fraction": 0.6},
     r"got 0.6; expected less than 1 - test_fraction \(0.5\) with protocol random_splits"),
    ({"protocol": "random_splits", "seeds": [4]}, r"splits.seeds: got \[4\]; expected at least 2 with protocol random_splits"),
    ({"protocol": "loo"}, r"splits.protocol: got 'loo' \(str\); expected one of \['donor_grouped_cv', 'cell_level_cv', 'random_splits'\]"),
    ({"n_folds": 1}, r"splits.n_folds: got 1 \(int\); expected an integer >= 2"),
])
def test_split_parameters_are_cross_checked(change, message):
    with pytest.raises(ValueError, match=message):
        typed_params("feature_engineering", splits={**PARAMS["splits"], **change})


def test_protocol_names_agree_with_the_splits_module():
    from typing import get_args

    from neuron_types.config import SplitProtocol
    from neuron_types.splits import PROTOCOLS

    assert get_args(SplitProtocol) == PROTOCOLS


def test_own_cells_table_gets_clear_column_and_label_errors(tmp_path):
    cells, ephys, noise = _raw(tmp_path)
    features = assemble_features(build_cohort(cells, noise, TYPED), ephys, noise, TYPED)
    with pytest.raises(ValueError, match=r"cell_features: columns \['width', 'tau'\] are missing"):
        build_ei_model_input(features.drop(columns=["tau", "width"]), TYPED)
    misspelt = features.assign(cell_class=features["cell_class"].str.capitalize())
    with pytest.raises(ValueError, match=r"column cell_class: unexpected values \{'Inhibitory': 60, 'Excitatory': 48\}"):
        build_ei_model_input(misspelt, TYPED)
    with pytest.raises(ValueError, match="no mouse cell among"):
        build_subclass_model_input(features[features["species"] == "human"], TYPED)


def test_fractions_too_small_for_the_strata_name_the_parameters():
    from neuron_types.splits import repeated_stratified_splits

    cells = pd.DataFrame({"specimen_id": range(12), "subclass": list("aaabbbcccddd")})
    with pytest.raises(ValueError, match=r"test_fraction=0.1 .* give 2 test and 2 validation cells, fewer than the 4 strata"):
        repeated_stratified_splits(cells, ["subclass"], [1], 0.1, 0.1)


def test_extended_features_are_read_and_computed_and_may_be_missing(tmp_path):
    cells, ephys, noise = _raw(tmp_path)
    features = assemble_features(build_cohort(cells, noise, TYPED), ephys, noise, TYPED)
    extended = TYPED.features.extended
    by_id = ephys.set_index("specimen_id").loc[features["specimen_id"]]
    for name, (later, earlier) in extended.differences.items():
        assert (features[name].to_numpy() == (by_id[later] - by_id[earlier]).to_numpy()).all(), name
    assert features["adaptation"].isna().any()  # some cells lack it, and stay: only base features must be complete
    assert not features[TYPED.features.names].isna().any().any()
    subclass = build_subclass_model_input(features, TYPED)
    assert list(subclass.columns[-len(extended.names):]) == extended.names
    ei = build_ei_model_input(features, TYPED)
    assert not set(extended.names) & set(ei.columns)
    with pytest.raises(ValueError, match=r"raw_ephys_features \(ephys_features\.csv\): columns \['avg_isi'\] "
                                         r"\(read by features.extended\) are missing"):
        assemble_features(build_cohort(cells, noise, TYPED), ephys.drop(columns="avg_isi"), noise, TYPED)


def test_a_cell_table_without_extended_features_gives_them_as_missing(tmp_path, caplog):
    cells, ephys, noise = _raw(tmp_path)
    features = assemble_features(build_cohort(cells, noise, TYPED), ephys, noise, TYPED)
    own = features.drop(columns=TYPED.features.extended.names)  # a table of one's own cells
    with caplog.at_level(logging.WARNING):
        subclass = build_subclass_model_input(own, TYPED)
    assert subclass[TYPED.features.extended.names].isna().all().all()
    assert "no extended features" in caplog.text


def _features_with_cells_lacking_noise_features(tmp_path) -> pd.DataFrame:
    tables = actd_tables()
    tables["noise_spike_features"] = tables["noise_spike_features"].iloc[12:]  # 12 cells without noise features
    cells, ephys, noise = _raw(tmp_path, tables)
    return assemble_features(build_cohort(cells, noise, TYPED), ephys, noise, TYPED)


def _kept_and_new(extended: pd.DataFrame, complete: pd.DataFrame, primary: pd.DataFrame, lacking: pd.DataFrame):
    """The extended splits' rows of the complete cells, which keep every role they had, and
    of the cells lacking features."""
    kept = extended[extended["specimen_id"].isin(complete["specimen_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, primary.sort_values(["split", "role", "specimen_id"], ignore_index=True))
    return extended[extended["specimen_id"].isin(lacking["specimen_id"])]


def test_every_labelled_cell_pool_keeps_the_primary_folds_and_leaks_no_donor(tmp_path):
    from neuron_types.pipelines.feature_engineering.every_cell import build_ei_every_cell_model_input, split_ei_every_cell

    features = _features_with_cells_lacking_noise_features(tmp_path)
    ei = build_ei_model_input(features, TYPED)
    every = build_ei_every_cell_model_input(features, TYPED)
    assert set(every.loc[every["complete_features"], "specimen_id"]) == set(ei["specimen_id"])
    lacking = every[~every["complete_features"]]
    assert len(lacking) > 0 and lacking[TYPED.features.noise_spike].isna().all().all()
    primary = split_ei_cells(ei, TYPED)
    extended = split_ei_every_cell(primary, every, TYPED)
    assert_no_leak(extended, every)
    # the complete cells keep every role they had; a new cell is a test cell once per repeat, never validation
    new = _kept_and_new(extended, ei, primary, lacking)
    assert (new[new["role"] == "test"].groupby(["repeat", "specimen_id"]).size() == 1).all()
    assert new.groupby("repeat")["specimen_id"].nunique().eq(len(lacking)).all()
    known_donors = set(ei["donor_id"])
    unknown = new[~new["specimen_id"].map(every.set_index("specimen_id")["donor_id"]).isin(known_donors)]
    assert (unknown["role"] != "validation").all()


def test_the_subclass_every_labelled_cell_pool_keeps_the_primary_folds_and_leaks_no_donor(tmp_path):
    from neuron_types.pipelines.feature_engineering.every_cell import (
        build_subclass_every_cell_model_input,
        split_subclass_every_cell,
    )

    features = _features_with_cells_lacking_noise_features(tmp_path)
    subclass = build_subclass_model_input(features, TYPED)
    every = build_subclass_every_cell_model_input(features, TYPED)
    assert (every["species"] == "mouse").all()
    pd.testing.assert_frame_equal(every[every["complete_features"]].drop(columns="complete_features")
                                  .reset_index(drop=True), subclass)
    lacking = every[~every["complete_features"]]
    assert len(lacking) > 0 and lacking[TYPED.features.noise_spike].isna().all().all()
    primary = split_subclass_cells(subclass, TYPED)
    extended = split_subclass_every_cell(primary, every, TYPED)
    assert_no_leak(extended, every)
    new = _kept_and_new(extended, subclass, primary, lacking)
    assert new.groupby("repeat")["specimen_id"].nunique().eq(len(lacking)).all()
