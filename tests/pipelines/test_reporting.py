import copy
import itertools
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neuron_types.evaluation import summarise_split_metrics
from neuron_types.pipelines.reporting import create_pipeline
from neuron_types.pipelines.reporting.comparisons import compare_models_paired
from neuron_types.pipelines.reporting.nodes import (
    compile_model_comparison,
    model_comparison_markdown,
    model_comparison_table,
    plot_model_comparisons,
    validate_model_metrics,
)
from neuron_types.config import ReportingParams
from neuron_types.errors import ParameterError
from tests.actd_fixture import PROJECT, latest_version
from tests.params import raw_params, typed_params

RAW_REPORTING = raw_params("reporting")
REPORTING = ReportingParams.model_validate(RAW_REPORTING)
# the fixtures' models: two of the declared comparisons, and one the fixtures alone have
FEW_COMPARISONS = ReportingParams.model_validate({**RAW_REPORTING, "comparisons": [
    {"a": "dann", "b": "fcnn_source_only", "task": "ei", "species": "human", "metric": "accuracy"},
    {"a": "lspin", "b": "svc", "task": "subclass", "species": "mouse", "metric": "f1_macro"},
]})
SEEDS = [11, 23, 37]


def splits_table(seeds, n_folds=2) -> pd.DataFrame:
    """A splits table as feature engineering writes it: len(seeds) repeats of n_folds-fold
    CV of 4 n_folds cells (each fold tests 4 and trains on the rest)."""
    n = 4 * n_folds
    return pd.DataFrame([{"split": r * n_folds + f, "seed": seed, "repeat": r, "fold": f, "specimen_id": i,
                          "role": "test" if i % n_folds == f else "train", "protocol": "donor_grouped_cv"}
                         for r, seed in enumerate(seeds) for f in range(n_folds) for i in range(n)])


SPLITS = splits_table(SEEDS)
N_FOLDS = 2 * len(SEEDS)
METRICS = ["accuracy", "balanced_accuracy", "f1_macro", "precision", "recall", "roc_auc"]
CELL = re.compile(r"^\d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\]$")


def model_results(models, species, level, seed=0):
    """``({model: {species: {metric: summary}}}, long per-split table)`` as the model
    pipelines write them (``*_metrics`` and ``*_split_metrics``), on SPLITS' folds."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in models:
        for s in species:
            rows += [{"model": model, "split": k, "species": s, "metric": m,
                      "value": float(np.clip(level + rng.normal(0, 0.02), 0, 1))}
                     for k in range(N_FOLDS) for m in METRICS]
    table = pd.DataFrame(rows)
    return summarise_split_metrics(table, SPLITS, model_order=models), table


def _dann_results():
    metrics, table = model_results(["dann", "fcnn_source_only", "logistic_regression"], ["human", "mouse"], 0.93)
    # a model scored on human cells only, and one the labels do not know
    more, more_table = model_results(["fcnn_source_only_prior_adjusted", "new_model"], ["human"], 0.9, seed=1)
    return {**metrics, **more}, pd.concat([table, more_table], ignore_index=True)


@pytest.fixture
def dann_metrics():
    return _dann_results()[0]


@pytest.fixture
def dann_split_metrics():
    return _dann_results()[1]


@pytest.fixture
def lspin_metrics():
    return model_results(["lspin", "svc", "xgboost"], ["mouse"], 0.87, seed=2)[0]


@pytest.fixture
def lspin_split_metrics():
    return model_results(["lspin", "svc", "xgboost"], ["mouse"], 0.87, seed=2)[1]


@pytest.fixture
def paired(dann_split_metrics, lspin_split_metrics):
    return compare_models_paired(dann_split_metrics, lspin_split_metrics, SPLITS, SPLITS, FEW_COMPARISONS)


@pytest.fixture
def comparison(dann_metrics, lspin_metrics, paired):
    return compile_model_comparison(dann_metrics, lspin_metrics, SPLITS, SPLITS, paired, {}, FEW_COMPARISONS)


def test_summary_holds_every_model_the_reference_and_seeds(comparison, dann_metrics):
    assert set(comparison) >= {"tasks", "splits", "reference", "metric_labels", "comparisons"}
    assert comparison["splits"]["seeds"] == [11, 23, 37]
    assert {k: comparison["splits"][k] for k in ("protocol", "n_folds", "n_repeats")} == {
        "protocol": "donor_grouped_cv", "n_folds": 2, "n_repeats": 3}
    assert comparison["splits"]["cells"]["ei"] == {"n_train": 4.0, "n_test": 4.0}
    assert "corrected repeated cross-validation t interval" in comparison["description"]
    stats = comparison["tasks"]["ei"]["models"]["dann"]["human"]["accuracy"]
    assert set(stats) == {"mean", "std", "ci95", "n_folds", "dof"} and (stats["n_folds"], stats["dof"]) == (6, 5)
    assert "test set" in comparison["reference"]["protocol"]
    ei, subclass = comparison["tasks"]["ei"], comparison["tasks"]["subclass"]
    assert ei["source"] == "dann_metrics" and subclass["source"] == "lspin_metrics"
    assert list(ei["models"]) == ["dann", "fcnn_source_only", "logistic_regression",
                                  "fcnn_source_only_prior_adjusted", "new_model"]
    assert ei["models"]["dann"]["human"]["accuracy"] == dann_metrics["dann"]["human"]["accuracy"]
    assert ei["model_labels"]["dann"] == "DANN (mouse + human labels)"
    assert ei["model_labels"]["fcnn_source_only_prior_adjusted"] == (
        "Network trained on mouse only (source-only), prior-adjusted")
    assert ei["model_labels"]["new_model"] == "new_model"
    assert ei["reference"]["DANN"] == {"human": {"accuracy": 0.950}, "mouse": {"accuracy": 0.974}}
    assert subclass["reference"]["LSPIN"]["mouse"] == {
        "accuracy": 0.916, "f1_macro": 0.877, "precision": 0.886, "recall": 0.873}
    json.dumps(comparison)  # what json.JSONDataset will write


def test_table_is_long_with_reference_rows_marked(comparison):
    table = model_comparison_table(comparison)
    ours = table[table["source"] == "ours"]
    # 3 models x 2 species + 2 x human, then 3 subclass models x mouse; 6 metrics each
    assert len(ours) == (3 * 2 + 2 + 3) * len(METRICS)
    assert (ours["ci95_lo"] <= ours["mean"]).all() and (ours["mean"] <= ours["ci95_hi"]).all()
    reference = table[table["source"] == "reference"].set_index(["task", "model", "species", "metric"])
    assert reference.loc[("ei", "Source-only network, mouse→human", "human", "accuracy"), "mean"] == 0.646
    assert reference.loc[("ei", "Source-only network, human→mouse", "mouse", "accuracy"), "mean"] == 0.596
    assert reference["ci95_lo"].isna().all() and (reference["n_folds"] == 1).all()
    assert (ours["n_folds"] == N_FOLDS).all() and (ours["dof"] == N_FOLDS - 1).all()


def _tables(markdown):
    """Each Markdown table as (title, header cells, body rows as lists of cells)."""
    tables, title = [], None
    for block in markdown.split("\n\n"):
        lines = block.strip().splitlines()
        if lines and lines[0].startswith("### "):
            title, lines = lines[0][4:], lines[2:] if len(lines) > 1 and not lines[1] else lines[1:]
        rows = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines if line.startswith("|")]
        if rows:
            tables.append((title, rows[0], rows[2:]))
    return tables


def test_markdown_has_one_table_per_task_with_ci_cells(comparison):
    markdown = model_comparison_markdown(comparison)
    tables = _tables(markdown)
    assert [t[0] for t in tables] == ["Excitatory vs inhibitory", "Mouse subclass (5 classes)",
                                      "Paired comparisons (declared in reporting.comparisons)"]
    (_, ei_header, ei_rows), (_, sub_header, sub_rows), _ = tables
    assert ei_header[:3] == ["Model", "Folds", "human accuracy"]
    assert "mouse macro F1" in ei_header and len(sub_header) == 2 + 4
    rows = {row[0]: row for row in ei_rows}
    ours = rows["DANN (mouse + human labels)"]
    assert all(CELL.match(cell) for cell in ours[2:]) and ours[1] == str(N_FOLDS)
    # no mouse results for this model: shown as missing, not as zero
    assert rows["new_model"][-1] == "–" and CELL.match(rows["new_model"][2])
    reference = rows["DANN (reference, test-set selection)"]
    assert reference[1:3] == ["1", "0.950"] and reference[ei_header.index("mouse accuracy")] == "0.974"
    assert reference[ei_header.index("human balanced accuracy")] == "–"  # not reported
    assert sum(" (reference, test-set selection)" in name for name in rows) == 3
    lspin = {row[0]: row for row in sub_rows}["LSPIN (reference, test-set selection)"]
    assert lspin[2:] == ["0.916", "0.877", "0.886", "0.873"]
    assert "3 × 2-fold cross-validation (donor_grouped_cv, seeds 11, 23, 37)" in markdown
    assert "model selection on the test set" in markdown and "not clipped" in markdown


def _within(value, limits):
    return min(limits) <= value <= max(limits)


def _text_boxes(figure):
    """Window extents of every text drawn in a figure: titles, axis labels, the tick labels
    inside the view limits (matplotlib keeps others but does not draw them), legend."""
    FigureCanvasAgg(figure).draw()
    renderer = figure.canvas.get_renderer()
    texts = [figure._suptitle] + [t for legend in figure.legends for t in legend.get_texts()]
    for ax in figure.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        texts += [t for t in ax.get_xticklabels() if _within(t.get_position()[0], ax.get_xlim())]
        texts += [t for t in ax.get_yticklabels() if _within(t.get_position()[1], ax.get_ylim())]
        texts += ax.texts
    return [(t.get_text(), t.get_window_extent(renderer)) for t in texts
            if t.get_visible() and t.get_text().strip()]


def test_figures_are_labelled_and_text_does_not_overlap(comparison, dann_split_metrics, lspin_split_metrics):
    figures = plot_model_comparisons(comparison, dann_split_metrics, lspin_split_metrics)
    assert set(figures) == {"ei", "subclass"}
    for task, figure in figures.items():
        assert isinstance(figure, Figure)
        assert comparison["tasks"][task]["title"] in figure._suptitle.get_text()
        for ax in figure.axes:
            assert ax.get_title() and "(0–1" in ax.get_xlabel()
        labels = {t.get_text() for ax in figure.axes for t in ax.get_yticklabels()}
        assert {comparison["tasks"][task]["model_labels"][m] for m in comparison["tasks"][task]["models"]} <= labels
        assert any("reference, test-set selection" in label for label in labels)
        boxes = _text_boxes(figure)
        for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
            assert not box_a.overlaps(box_b), f"{task}: text {a!r} overlaps {b!r}"
    ei = figures["ei"]
    assert [ax.get_title() for ax in ei.axes[:3]] == [
        "human test cells: accuracy", "human test cells: balanced accuracy", "human test cells: macro F1"]
    # one error bar per model with results in the panel; its whiskers are the 95% CI
    human_accuracy = ei.axes[0]
    dann = comparison["tasks"]["ei"]["models"]["dann"]["human"]["accuracy"]
    whisker = human_accuracy.containers[0].lines[2][0].get_segments()[0]
    assert np.allclose(sorted(whisker[:, 0]), dann["ci95"])
    # and each split's score as a dot beside it
    values = dann_split_metrics.query("model == 'dann' and species == 'human' and metric == 'accuracy'")["value"]
    dots = human_accuracy.lines[0].get_xdata()
    assert np.allclose(dots, values)


def test_split_tables_are_checked_against_the_summary(comparison, dann_split_metrics, lspin_split_metrics):
    with pytest.raises(ValueError, match=r"lspin_split_metrics: missing column\(s\) \['value'\]"):
        plot_model_comparisons(comparison, dann_split_metrics, lspin_split_metrics.drop(columns="value"))
    stale = dann_split_metrics.copy()
    stale.loc[(stale["model"] == "dann") & (stale["metric"] == "recall"), "value"] -= 0.1
    with pytest.raises(ValueError, match=r"dann_split_metrics, model 'dann', species '(human|mouse)', "
                                         r"metric 'recall': 6 split values with mean .*same run\?"):
        plot_model_comparisons(comparison, stale, lspin_split_metrics)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda m: m["dann"]["human"]["accuracy"].pop("ci95"),
         r"dann_metrics, model 'dann', species 'human', metric 'accuracy': missing key\(s\) \['ci95'\]"),
        (lambda m: m["dann"]["mouse"]["f1_macro"].update(n_folds=1),
         r"dann_metrics, model 'dann', species 'mouse', metric 'f1_macro': key 'n_folds': expected an integer >= 2"),
        (lambda m: m["dann"]["mouse"]["f1_macro"].pop("dof"),
         r"metric 'f1_macro': missing key\(s\) \['dof'\]"),
        (lambda m: m["fcnn_source_only"]["human"]["accuracy"].update(mean=float("nan")),
         r"model 'fcnn_source_only', species 'human', metric 'accuracy': key 'mean': expected a finite number"),
        (lambda m: m["dann"]["human"]["recall"].update(ci95=[0.9]),
         r"metric 'recall': key 'ci95': expected \[lo, hi\]"),
        (lambda m: m["dann"].update(rat={}),
         r"dann_metrics, model 'dann': species 'rat' is not one this task reports"),
        (lambda m: m.update(logistic_regression=[0.9]),
         r"dann_metrics, model 'logistic_regression': expected a non-empty mapping species -> metrics"),
    ],
)
def test_malformed_metrics_name_dataset_model_and_key(dann_metrics, lspin_metrics, paired, mutate, message):
    mutate(dann_metrics)
    with pytest.raises(ValueError, match=message):
        compile_model_comparison(dann_metrics, lspin_metrics, SPLITS, SPLITS, paired, {}, REPORTING)


def test_metrics_that_are_not_a_mapping_are_rejected():
    with pytest.raises(ValueError, match=r"lspin_metrics: expected a non-empty mapping \{model: \{species"):
        validate_model_metrics([], "lspin_metrics", ["mouse"])


def test_bad_reporting_parameters_name_the_key():
    reporting = copy.deepcopy(RAW_REPORTING)
    reporting["tasks"]["ei"]["source"] = "danm_metrics"
    with pytest.raises(ParameterError, match=r"reporting.tasks.ei.source: got 'danm_metrics' \(str\); expected one of"):
        ReportingParams.model_validate(reporting)
    reporting = copy.deepcopy(RAW_REPORTING)
    reporting["reference"]["results"]["subclass"]["LSPIN"]["mouse"]["accuracy"] = 91.6
    with pytest.raises(ParameterError, match=r"reference.results.subclass.LSPIN.mouse.accuracy: got 91.6 \(float\); "
                                             r"expected a number >= 0 and <= 1"):
        ReportingParams.model_validate(reporting)


def test_the_two_tasks_must_share_their_splits(dann_metrics, lspin_metrics, paired):
    with pytest.raises(ValueError, match=r"ei_splits and subclass_splits: seeds \[11, 23, 37\] and \[1, 2, 3\]"):
        compile_model_comparison(dann_metrics, lspin_metrics, SPLITS, splits_table([1, 2, 3]), paired, {}, REPORTING)
    with pytest.raises(ValueError, match=r"3 × 2-fold cross-validation .* and 3 × 3-fold .*expected the same protocol"):
        compile_model_comparison(dann_metrics, lspin_metrics, SPLITS, splits_table(SEEDS, 3), paired, {}, REPORTING)


def test_split_count_mismatch_is_logged(dann_metrics, lspin_metrics, paired, caplog):
    five = splits_table([1, 2, 3, 4, 5])
    compile_model_comparison(dann_metrics, lspin_metrics, five, five, paired, {}, REPORTING)
    assert "dann_metrics has metrics over [6] folds, but the splits tables have 10" in caplog.text


def test_reporting_pipeline_end_to_end_writes_summary_files_and_figures(
        tmp_path, dann_metrics, lspin_metrics, dann_split_metrics, lspin_split_metrics):
    """The pipeline alone, with the project's own catalog entries pointed into tmp_path."""
    config = yaml.safe_load((PROJECT / "conf/base/catalog_reporting.yml").read_text())
    # no MLflow run here (tests/test_tracking.py has one): the figures' wrapped dataset
    # alone, and the MLflow metrics in memory
    config = {name: {**entry["dataset"], "versioned": entry.get("versioned", False)}
              if "dataset" in entry else entry for name, entry in config.items() if "filepath" in entry or "dataset" in entry}
    for entry in config.values():
        entry["filepath"] = str(tmp_path / entry["filepath"])
    catalog = DataCatalog.from_config(config)
    catalog["reporting.model_comparison_metrics"] = MemoryDataset()
    inputs = {"dann_metrics": dann_metrics, "lspin_metrics": lspin_metrics,
              "dann_split_metrics": dann_split_metrics, "lspin_split_metrics": lspin_split_metrics,
              "ei_splits": SPLITS, "subclass_splits": SPLITS, "sensitivity_metrics": {},
              "params:reporting": FEW_COMPARISONS}
    for name, value in inputs.items():
        catalog[name] = MemoryDataset(value)

    SequentialRunner().run(create_pipeline(), catalog)

    # versioned like every output (a completed `kedro run` also publishes them: test_versioning)
    reporting = tmp_path / "data/08_reporting"
    summary = json.loads(latest_version(reporting / "summary_versions/summary.json").read_text())
    assert summary["tasks"]["ei"]["models"]["dann"]["human"]["accuracy"]["n_folds"] == N_FOLDS
    assert [(c["a"], c["b"]) for c in summary["comparisons"]] == [("dann", "fcnn_source_only"), ("lspin", "svc")]
    assert summary["splits"]["seeds"] == [11, 23, 37]
    table = pd.read_csv(latest_version(reporting / "summary_versions/summary.csv"))
    assert set(table["source"]) == {"ours", "reference"} and set(table["task"]) == {"ei", "subclass"}
    assert math.isclose(table.query("source == 'reference' and model == 'LSPIN' and metric == 'recall'")["mean"].item(), 0.873)
    markdown = latest_version(reporting / "summary_versions/summary.md").read_text()
    assert markdown.startswith("Produced by the default run (kedro run)") and "\n### Excitatory vs inhibitory" in markdown
    assert summary["run"].startswith("the default run")
    for task in ("ei", "subclass"):
        versions = list((reporting / f"{task}_model_comparison.png").glob("*/*.png"))
        assert len(versions) == 1 and versions[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_paired_table_shows_a_known_difference_after_the_model_tables(dann_metrics, lspin_metrics):
    """A synthetic per-fold table where dann beats the source-only network by exactly 0.05
    on every human fold but one (0.10): mean difference 0.0583, a tight interval, and the
    Holm-adjusted p of the two-comparison family."""
    folds = range(N_FOLDS)
    diffs = [0.05] * (N_FOLDS - 1) + [0.10]
    dann_table = pd.DataFrame(
        [{"model": "fcnn_source_only", "split": k, "species": "human", "metric": "accuracy", "value": 0.85}
         for k in folds]
        + [{"model": "dann", "split": k, "species": "human", "metric": "accuracy", "value": 0.85 + d}
           for k, d in zip(folds, diffs)])
    lspin_table = pd.DataFrame(
        [{"model": m, "split": k, "species": "mouse", "metric": "f1_macro", "value": v}
         for k in folds for m, v in (("lspin", 0.80 + 0.01 * (k % 2)), ("svc", 0.81 - 0.01 * (k % 2)))])
    paired = compare_models_paired(dann_table, lspin_table, SPLITS, SPLITS, FEW_COMPARISONS)
    first = paired[0]
    assert first["mean_difference"] == pytest.approx(np.mean(diffs)) and first["n_folds"] == N_FOLDS
    # n_test / n_train = 4/4: se = sqrt((1/6 + 1) s^2)
    se = math.sqrt((1 / N_FOLDS + 1) * np.var(diffs, ddof=1))
    assert first["t"] == pytest.approx(np.mean(diffs) / se)
    assert paired[1]["mean_difference"] == pytest.approx(0.0)
    p = [first["p_value"], paired[1]["p_value"]]
    assert first["p_holm"] == pytest.approx(min(1, 2 * min(p))) and paired[1]["p_holm"] == pytest.approx(max(p))

    markdown = model_comparison_markdown(
        compile_model_comparison(dann_metrics, lspin_metrics, SPLITS, SPLITS, paired, {}, FEW_COMPARISONS))
    tables = _tables(markdown)
    assert [t[0] for t in tables][-1] == "Paired comparisons (declared in reporting.comparisons)"
    _, header, rows = tables[-1]
    assert header == ["Task", "a", "b", "Test cells", "Metric", "Folds", "a − b [95% CI]", "p", "p (Holm)"]
    low, high = first["ci95"]
    assert rows[0][:6] == ["Excitatory vs inhibitory", "DANN (mouse + human labels)",
                           "Network trained on mouse only (source-only)", "human", "accuracy", str(N_FOLDS)]
    assert rows[0][6] == f"+0.058 [{low:+.3f}, {high:+.3f}]"
    assert rows[1][1:3] == ["LSPIN", "SVC"] and rows[1][6].startswith("+0.000 [")


def test_declared_comparisons_are_checked_before_anything_runs():
    for change, message in [
        ({"a": "dann", "b": "dann"}, r"reporting.comparisons\[0\].b: got 'dann', the same model as a"),
        ({"species": "mouse", "task": "subclass", "a": "dann", "b": "x"}, None),
        ({"task": "subclass", "species": "human"}, r"comparisons\[0\].species: got 'human'; expected a species "
                                                   r"of reporting.tasks.subclass.species \['mouse'\]"),
        ({"metric": 3}, r"reporting.comparisons\[0\].metric: got 3 \(int\); expected a string"),
    ]:
        raw = copy.deepcopy(RAW_REPORTING)
        raw["comparisons"][0].update(change)
        if message is None:
            ReportingParams.model_validate(raw)
            continue
        with pytest.raises(ParameterError, match=message):
            ReportingParams.model_validate(raw)
    raw = copy.deepcopy(RAW_REPORTING)
    raw["comparisons"].append(dict(raw["comparisons"][0]))
    with pytest.raises(ParameterError, match=r"reporting.comparisons: got .*expected distinct items"):
        ReportingParams.model_validate(raw)


def test_the_declared_family_is_the_one_the_issue_asks_for():
    """The default run's family already holds every comparison the protocol asks for; the
    full study's adds the rest (every unsupervised variant of the study vs source-only)."""
    for study in (False, True):
        pairs = [(c.a, c.b, c.task, c.species) for c in REPORTING.for_run(study).comparisons]
        assert ("dann", "fcnn_joint", "ei", "human") in pairs
        for variant in ("dann_unsupervised", "dann_unsupervised_reweighted",
                        "dann_unsupervised_reweighted_prior_adjusted",
                        *(["dann_unsupervised_cdan_reweighted", "dann_unsupervised_cross_fitted"] if study else [])):
            assert (variant, "fcnn_source_only", "ei", "human") in pairs
        assert {("lspin", "mlp"), ("lspin", "svc")} <= {(a, b) for a, b, task, _ in pairs if task == "subclass"}
    assert len(REPORTING.for_run(True).comparisons) == len(REPORTING.comparisons) == 42
    assert len(REPORTING.for_run(False).comparisons) == 10


def test_the_default_runs_comparisons_name_only_models_it_trains():
    """A comparison the default run declares may not need a model marked study (its run
    would stop at compare_models_paired); the lspin models are the default pipeline's."""
    from neuron_types.pipelines.lspin.pipeline import DEFAULT_BASELINES

    dann = typed_params("dann").for_run(False)
    scored = {"logistic_regression", *dann.simple_models.models}
    for name, model in dann.models.items():
        scored |= {name, *([f"{name}_prior_adjusted", f"{name}_prior_adjusted_calibrated"]
                           if model.prior_adjusted else [])}
    scored |= {"lspin", "mlp", *DEFAULT_BASELINES}
    for comparison in REPORTING.for_run(False).comparisons:
        assert {comparison.a, comparison.b} <= scored, comparison
    assert not {c.a for c in REPORTING.for_run(True).comparisons} <= scored


def test_the_default_run_compares_only_its_own_comparisons(dann_split_metrics, lspin_split_metrics):
    """A study comparison is left out of the default run's family (and Holm's adjustment),
    and compared in the study's."""
    study_only = {"a": "new_model", "b": "dann", "task": "ei", "species": "human", "metric": "accuracy",
                  "study": True}
    reporting = ReportingParams.model_validate({**RAW_REPORTING, "comparisons": [
        *FEW_COMPARISONS.model_dump()["comparisons"], study_only]})
    default = compare_models_paired(dann_split_metrics, lspin_split_metrics, SPLITS, SPLITS, reporting)
    assert default == compare_models_paired(dann_split_metrics, lspin_split_metrics, SPLITS, SPLITS, FEW_COMPARISONS)
    study = compare_models_paired(dann_split_metrics, lspin_split_metrics, SPLITS, SPLITS, reporting, study=True)
    assert [(c["a"], c["b"]) for c in study] == [("dann", "fcnn_source_only"), ("lspin", "svc"), ("new_model", "dann")]
    assert all(s["p_holm"] >= d["p_holm"] for s, d in zip(study, default))
