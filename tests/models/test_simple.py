"""The simple models of dann.simple_models: transforms fitted on training rows only (fitted
statistics checked by hand), the mouse-only entries blind to every human label, and the EM
correction on a case solved by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuron_types.config.dann import SimpleModel
from neuron_types.errors import ParameterError
from neuron_types.models.simple import em_corrected, fit_normaliser, fit_simple_model
from tests.params import raw_params, typed_params

FEATURES = ["a", "b", "c", "d"]
ENTRIES = typed_params("dann").simple_models.models
UNSUPERVISED = {name: spec for name, spec in ENTRIES.items() if spec.never_sees_target_labels}
C_GRID = [0.1, 1.0]


def cells(n_mouse: int = 60, n_human: int = 40, seed: int = 0) -> pd.DataFrame:
    """Mouse 50% excitatory, human 75% and shifted by +1.5 in features c and d; the class
    lives in a and b."""
    rng = np.random.default_rng(seed)
    species = np.array(["mouse"] * n_mouse + ["human"] * n_human, dtype=object)
    label = np.concatenate([np.arange(n_mouse) % 2, (np.arange(n_human) % 4 != 0).astype(int)])
    x = rng.normal(size=(len(species), len(FEATURES)))
    x[:, :2] += 2.0 * label[:, None]
    x[:, 2:] += 1.5 * (species == "human")[:, None]
    table = pd.DataFrame(x * [1.0, 10.0, 0.1, 3.0], columns=FEATURES)
    table.insert(0, "specimen_id", np.arange(len(species), dtype="int64"))
    table.insert(1, "species", species)
    table.insert(2, "domain", (species == "human").astype("int64"))
    table.insert(3, "excitatory", label.astype("int64"))
    return table


def roles(table: pd.DataFrame):
    """A random quarter of the cells validation, a quarter test, the rest training."""
    position = np.random.default_rng(1).permutation(len(table)) % 4
    return (table[position >= 2].reset_index(drop=True), table[position == 0].reset_index(drop=True),
            table[position == 1].reset_index(drop=True))


def fit(spec: SimpleModel, train, validation, test):
    return fit_simple_model(spec, train, validation, test, FEATURES, C_GRID, max_quantiles=1000, seed=0)


def test_quantile_transform_is_fitted_on_the_labelled_species_training_rows_only():
    train, _, _ = roles(cells())
    normaliser = fit_normaliser("quantile", train, FEATURES, ["mouse"], max_quantiles=1000)
    mouse = train.loc[train["species"] == "mouse", FEATURES].to_numpy()
    # n_quantiles = number of mouse training rows: the quantiles are those rows' sorted values
    np.testing.assert_allclose(normaliser.transforms["mouse"].quantiles_, np.sort(mouse, axis=0))
    assert normaliser.transforms["human"] is normaliser.transforms["mouse"]
    both = fit_normaliser("quantile", train, FEATURES, ["mouse", "human"], max_quantiles=7)
    np.testing.assert_allclose(both.transforms["mouse"].quantiles_,
                               np.quantile(train[FEATURES].to_numpy(), np.linspace(0, 1, 7), axis=0))


def test_prior_matched_statistics_by_hand():
    train = pd.DataFrame({"species": ["mouse"] * 4 + ["human"] * 2, "excitatory": [1, 0, 0, 0, 1, 0],
                          "a": [4.0, 0.0, 1.0, 2.0, 10.0, 20.0]})
    normaliser = fit_normaliser("prior_matched", train, ["a"], ["mouse"], target_prior=0.5)
    # mouse prior 1/4 weighted to 1/2: the excitatory cell weighs 2, each inhibitory one 2/3
    weights = np.array([2, 2 / 3, 2 / 3, 2 / 3])
    values = np.array([4.0, 0.0, 1.0, 2.0])
    mean = (weights * values).sum() / weights.sum()  # (8 + 2) / 4 = 2.5
    assert mean == pytest.approx(2.5)
    mouse = normaliser.transforms["mouse"]
    assert mouse.mean_[0] == pytest.approx(mean)
    assert mouse.scale_[0] == pytest.approx(np.sqrt((weights * (values - mean) ** 2).sum() / weights.sum()))
    human = normaliser.transforms["human"]
    assert (human.mean_[0], human.scale_[0]) == pytest.approx((15.0, 5.0))
    plain = fit_normaliser("per_species", train, ["a"], ["mouse"])
    assert plain.transforms["mouse"].mean_[0] == pytest.approx(1.75)
    scored = normaliser.transform(pd.DataFrame({"species": ["human", "mouse"], "a": [20.0, 2.5]}), ["a"])
    np.testing.assert_allclose(scored[:, 0], [1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_test_cells_never_shape_the_fit_except_a_transductive_prior(name):
    """Changing one test cell's features changes the other test cells' predictions only
    where the entry's EM pool is declared transductive."""
    spec = ENTRIES[name]
    train, validation, test = roles(cells())
    moved = test.copy()
    human_test = np.flatnonzero(moved["species"] == "human")
    moved.loc[human_test[:3], FEATURES] += 5.0
    others = np.setdiff1d(np.arange(len(test)), human_test[:3])
    before, after = fit(spec, train, validation, test), fit(spec, train, validation, moved)
    if spec.target_pool == "transductive":
        assert not np.allclose(before.probability[others], after.probability[others])
    else:
        np.testing.assert_allclose(before.probability[others], after.probability[others])
        assert before.c == after.c and before.target_prior == after.target_prior


def _flip_human_labels(table: pd.DataFrame) -> pd.DataFrame:
    flipped = table.copy()
    human = flipped["species"] == "human"
    flipped.loc[human, "excitatory"] = 1 - flipped.loc[human, "excitatory"]
    return flipped


@pytest.mark.parametrize("name", sorted(UNSUPERVISED))
def test_mouse_only_entries_are_unchanged_when_every_human_label_is_flipped(name):
    train, validation, test = roles(cells())
    original = fit(UNSUPERVISED[name], train, validation, test)
    flipped = fit(UNSUPERVISED[name], *(_flip_human_labels(t) for t in (train, validation, test)))
    np.testing.assert_array_equal(original.probability, flipped.probability)
    assert (original.c, original.target_prior) == (flipped.c, flipped.target_prior)


def test_supervised_entry_does_read_human_labels():
    """The differential test above can fail: the supervised entry does change."""
    spec = ENTRIES["logistic_quantile_species"]
    train, validation, test = roles(cells())
    flipped = fit(spec, *(_flip_human_labels(t) for t in (train, validation, test)))
    assert not np.allclose(fit(spec, train, validation, test).probability, flipped.probability)


def test_em_correction_on_a_case_solved_by_hand():
    # source prior 1/2; 60% of the pool at P = 0.8 (likelihood ratio 4), 40% at 0.2 (1/4).
    # The likelihood in the prior pi peaks where 3f / (1 + 3 pi) = (3/4)(1 - f) / (1 - 3 pi / 4),
    # pi = (5 f - 1) / 3 = 2/3 for f = 0.6; a cell at P = 0.5 then moves to 2/3.
    pool = np.array([0.8] * 6 + [0.2] * 4)
    corrected, estimate = em_corrected(np.array([0.5, 0.8]), pool, source_prior=0.5)
    assert estimate == pytest.approx(2 / 3, abs=1e-6)
    # 0.8 -> 0.8 * 2/3 / (0.8 * 2/3 + 0.2 * 1/3) = 8/9
    np.testing.assert_allclose(corrected, [2 / 3, 8 / 9], atol=1e-6)


def test_em_entry_corrects_human_test_cells_only_and_prior_matched_uses_its_estimate():
    train, validation, test = roles(cells())
    raw = fit(ENTRIES["logistic_source_only"], train, validation, test)
    corrected = fit(ENTRIES["logistic_source_only_em"], train, validation, test)
    mouse = (test["species"] == "mouse").to_numpy()
    np.testing.assert_allclose(raw.probability[mouse], corrected.probability[mouse])
    assert not np.allclose(raw.probability[~mouse], corrected.probability[~mouse])
    assert corrected.target_prior > raw.source_prior  # human cells are 75% excitatory here
    matched = fit(ENTRIES["logistic_prior_matched"], train, validation, test)
    assert matched.target_prior == corrected.target_prior


def test_inconsistent_entries_are_named():
    from neuron_types.config import DannParams

    cases = [
        ({"labelled_species": ["mouse"], "normalisation": "quantile", "species_feature": True},
         "species_feature: got true"),
        ({"labelled_species": ["mouse", "human"], "normalisation": "quantile", "prior_correction": "em"},
         "prior_correction: got 'em'"),
        ({"labelled_species": ["mouse"], "normalisation": "quantile", "target_pool": "transductive"},
         "target_pool: got 'transductive'"),
        ({"labelled_species": ["mouse"], "normalisation": "minmax"}, "normalisation: got 'minmax'"),
    ]
    for entry, message in cases:
        params = raw_params("dann")
        params["simple_models"]["models"] = {"broken": entry}
        with pytest.raises(ParameterError, match=rf"dann.simple_models.models.broken.*{message}"):
            DannParams.model_validate(params)
    params = raw_params("dann")
    params["simple_models"]["models"] = {"dann": {"labelled_species": ["mouse"], "normalisation": "quantile"}}
    with pytest.raises(ParameterError, match=r"simple_models.models: got \['dann'\], names of dann.models too"):
        DannParams.model_validate(params)


def test_prior_matched_with_one_class_of_human_training_cells_is_named():
    from neuron_types.errors import InputError

    train, validation, test = roles(cells())
    train = train[(train["species"] == "mouse") | (train["excitatory"] == 1)].reset_index(drop=True)
    with pytest.raises(InputError, match="human training cells are all of one class"):
        fit(ENTRIES["logistic_prior_matched_species"], train, validation, test)


def test_temperature_scaled_em_is_em_on_the_rescaled_posteriors():
    # posteriors twice as confident in logit as calibrated ones: T = 2 maps them back, so the
    # estimate and the corrected posteriors are EM's on sigmoid(logit(p) / 2)
    rng = np.random.default_rng(3)
    pool, test = rng.uniform(0.02, 0.98, size=50), np.array([0.3, 0.6, 0.9])

    def halved(p):
        return 1 / (1 + np.exp(-np.log(p / (1 - p)) / 2))

    scaled, estimate = em_corrected(test, pool, source_prior=0.4, temperature=2.0)
    expected, expected_estimate = em_corrected(halved(test), halved(pool), source_prior=0.4)
    assert estimate == pytest.approx(expected_estimate, abs=1e-9)
    np.testing.assert_allclose(scaled, expected, atol=1e-9)
    assert estimate != pytest.approx(em_corrected(test, pool, source_prior=0.4)[1], abs=1e-3)


def test_calibrated_entry_scales_by_the_temperature_of_its_mouse_validation_cells():
    from sklearn.linear_model import LogisticRegression

    from neuron_types.models import calibration

    spec = ENTRIES["logistic_source_only_em_calibrated"]
    train, validation, test = roles(cells())
    result = fit(spec, train, validation, test)
    # the same regression refitted by hand: quantile transform of the mouse training rows, C chosen
    plain = fit(ENTRIES["logistic_source_only_em"], train, validation, test)
    assert result.c == plain.c
    mouse_train, mouse_validation = (t[t["species"] == "mouse"] for t in (train, validation))
    normaliser = fit_normaliser("quantile", train, FEATURES, ["mouse"], max_quantiles=1000)
    model = LogisticRegression(C=result.c, max_iter=5000).fit(normaliser.transform(mouse_train, FEATURES),
                                                              mouse_train["excitatory"])
    validation_p = model.predict_proba(normaliser.transform(mouse_validation, FEATURES))[:, 1]
    expected = calibration.fit_temperature(calibration.logits_of(validation_p), mouse_validation["excitatory"])
    assert result.temperature == pytest.approx(expected, rel=1e-9)
    assert plain.temperature is None and result.target_prior != pytest.approx(plain.target_prior, abs=1e-6)


def test_an_entry_without_features_is_the_entry_on_a_table_without_them():
    spec = ENTRIES["logistic_quantile_species"]
    train, validation, test = roles(cells())
    without = fit_simple_model(spec, train, validation, test, ["a", "c", "d"], C_GRID, max_quantiles=1000, seed=0)
    dropped = [t.drop(columns="b") for t in (train, validation, test)]
    alone = fit_simple_model(spec, *dropped, ["a", "c", "d"], C_GRID, max_quantiles=1000, seed=0)
    np.testing.assert_array_equal(without.probability, alone.probability)
    assert not np.allclose(without.probability, fit(spec, train, validation, test).probability)


def test_without_features_keeps_the_input_order_and_names_an_unknown_feature():
    from neuron_types.cells import features_without
    from neuron_types.errors import InputError

    assert features_without(FEATURES, ["c", "a"], "p") == ["b", "d"]
    with pytest.raises(InputError, match=r"dann.models.x.without_features: got \['seal'\]; expected names of "
                                         r"feature_names \(4 features"):
        features_without(FEATURES, ["seal", "a"], "dann.models.x.without_features")
    with pytest.raises(InputError, match="leaves no feature"):
        features_without(FEATURES, FEATURES, "p")


def test_calibration_without_a_prior_estimate_is_named():
    from neuron_types.config import DannParams

    params = raw_params("dann")
    params["simple_models"]["models"] = {"broken": {"labelled_species": ["mouse"], "normalisation": "quantile",
                                                    "calibration": "temperature"}}
    with pytest.raises(ParameterError, match=r"broken.*calibration: got 'temperature'; expected 'none' for a model "
                                             "that estimates no human prior"):
        DannParams.model_validate(params)


@pytest.mark.parametrize("model", ["dann_without_seal_vm", "dann_cross_fitted"])
def test_an_exported_dann_must_be_one_network_that_reads_every_feature(model):
    from neuron_types.config import DannParams

    params = raw_params("dann")
    params["export"]["supervised"] = model
    with pytest.raises(ParameterError, match=rf"export.supervised: got '{model}'.*a single-network supervised DANN "
                                             "that reads every feature"):
        DannParams.model_validate(params)


def test_the_imputer_by_hand():
    from neuron_types.models.simple import fit_imputer, imputed

    rows = pd.DataFrame({"a": [1.0, np.nan, 3.0, 10.0], "b": [0.0, 1.0, 2.0, 3.0]})
    imputer = fit_imputer("median", rows, ["a", "b"])
    assert imputer.statistics_.tolist() == [3.0, 1.5]
    out, indicators = imputed(imputer, pd.DataFrame({"a": [np.nan, 5.0], "b": [np.nan, 1.0], "species": ["x", "y"]}))
    # b was never missing in training: filled, but no indicator of its own; other columns kept
    assert indicators == ["missingindicator_a"]
    assert out.to_dict("list") == {"a": [3.0, 5.0], "b": [1.5, 1.0], "species": ["x", "y"],
                                   "missingindicator_a": [1.0, 0.0]}
    with pytest.raises(Exception, match=r"features \['a'\] are missing for every training cell"):
        fit_imputer("mean", pd.DataFrame({"a": [np.nan], "b": [1.0]}), ["a", "b"])


@pytest.mark.parametrize("name", ["logistic_quantile_species_imputed", "logistic_source_only_em_imputed"])
def test_an_imputing_entry_fits_its_imputer_on_its_labelled_training_rows(monkeypatch, name):
    from neuron_types.models import simple

    spec = ENTRIES[name]
    train, validation, test = roles(cells())
    for table in (train, validation, test):
        table.loc[::5, ["a", "c"]] = np.nan  # a feature group missing for a fifth of the cells
    fitted_on = []
    real = simple.fit_imputer
    monkeypatch.setattr(simple, "fit_imputer", lambda s, rows, f: fitted_on.append(rows.copy()) or real(s, rows, f))
    result = fit(spec, train, validation, test)
    assert np.isfinite(result.probability).all() and len(result.probability) == len(test)
    (rows,) = fitted_on
    expected = train[train["species"].isin(spec.labelled_species)]
    assert sorted(rows["specimen_id"]) == sorted(expected["specimen_id"])
