"""The mutation check of the science-guarding contracts (docs/testing.md, issue 16).

Each mutation is one deliberate one-line bug (for contract 8, one silent skip) of the kind
a reviewer would try: a leak of test cells into a fit, a scaler fitted on the wrong rows, a human label read by a model
that must not see one, a swapped prior, a transposed confusion matrix, a grid search that
picks the worst setting. Each is applied to its own throwaway copy of the project (src/,
tests/, conf/, pyproject.toml in a temporary folder; the working tree is never touched), and
only the fast contract tests that should catch it are run there, with ``PYTHONPATH``
pointing into the copy. The table says which test failed, or NOT CAUGHT.

Exit status: 0 when every mutation is caught; 1 when one is not caught or its target line
is not found (the code moved on: update the mutation). ``make mutation-check`` runs it;
``--only NAME`` (repeatable) runs some of them. Not part of CI: each mutation pays a
pytest start-up (TensorFlow import), several minutes in all.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("src", "tests", "conf", "pyproject.toml")
C = "tests/contracts/"
CROSS_FITTED_ROWS = (C + "test_stack_rows.py::test_each_cross_fitted_member_fits_on_its_splits_other_folds_and_stops_on_"
                     "its_own")


@dataclass(frozen=True)
class Mutation:
    name: str
    contract: int
    path: str
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    # 1. what a fit may see
    Mutation("lspin_trains_on_test_cells", 1, "src/neuron_types/pipelines/lspin/nodes.py",
             "allowed = set(cells_in_role(cells, splits, split, TRAINING_ROLES)",
             'allowed = set(cells_in_role(cells, splits, split, ("train", "validation", "test"))',
             # the rows every network of a split fits on: its ensembles' and its tuning trials'
             (C + "test_subclass_rows.py::test_each_ensemble_member_fits_and_stops_on_its_splits_non_test_cells",
              C + "test_subclass_rows.py::test_every_tuning_trial_and_the_refit_fit_and_stop_on_their_splits_non_test_"
                  "cells")),
    Mutation("baselines_tuned_on_test_cells", 1, "src/neuron_types/pipelines/lspin/nodes.py",
             "x, y = _arrays(cells_in_role(model_input, splits, split, TRAINING_ROLES), columns, class_names, imputed)",
             'x, y = _arrays(cells_in_role(model_input, splits, split, ("train", "validation", "test")), columns, '
             'class_names, imputed)',
             (C + "test_subclass_rows.py::test_each_baseline_is_tuned_refitted_and_scaled_on_non_test_cells_only",)),
    Mutation("stack_member_trains_on_test_cells", 1, "src/neuron_types/models/cross_species.py",
             'train_rows = (roles == "train") & in_species[:, None]',
             'train_rows = (roles != "validation") & in_species[:, None]',
             (C + "test_stack_rows.py",)),
    Mutation("stack_member_stops_on_test_cells", 1, "src/neuron_types/models/cross_species.py",
             'validation_rows = (roles == "validation") & in_species[:, None]',
             'validation_rows = (roles != "train") & in_species[:, None]',
             (C + "test_stack_rows.py",)),
    Mutation("shap_background_from_test_cells", 1, "src/neuron_types/pipelines/dann/nodes.py",
             'for role in ("train", "test"))', 'for role in ("test", "test"))',
             (C + "test_dann_rows.py::test_shap_background_is_drawn_from_the_explained_splits_training_cells",)),
    Mutation("logistic_c_chosen_on_test_cells", 1, "src/neuron_types/models/cross_species.py",
             "x_val = scaler.transform(design_matrix(cells.validation, features, False))",
             "x_val = scaler.transform(design_matrix(cells.test, features, False))",
             (C + "test_dann_rows.py::test_logistic_regression_scaler_and_fits_see_training_cells_only",)),
    Mutation("gate_profiles_of_training_cells", 1, "src/neuron_types/models/cross_species.py",
             'test = (roles[:, k] == "test") & (species == kind)',
             'test = (roles[:, k] == "train") & (species == kind)',
             (C + "test_dann_rows.py::test_gate_profiles_average_each_splits_test_cells_of_each_species",)),
    Mutation("cross_fitted_member_trains_on_test_cells", 1, "src/neuron_types/models/cross_species.py",
             '            column[non_test] = "train"', '            column[:] = "train"', (CROSS_FITTED_ROWS,)),
    Mutation("cross_fitting_folds_not_grouped_by_donor", 5, "src/neuron_types/models/cross_species.py",
             '        groups = cells["donor_id"].astype(str).to_numpy()',
             '        groups = cells["specimen_id"].astype(str).to_numpy()', (CROSS_FITTED_ROWS,)),
    # 2. what scaling may see
    Mutation("stack_scaler_on_train_and_validation", 2, "src/neuron_types/models/cross_species.py",
             "scaler_rows=train_rows[used], allow_missing=imputing)",
             "scaler_rows=(train_rows | validation_rows)[used], allow_missing=imputing)",
             (C + "test_stack_rows.py",)),
    Mutation("stack_scaler_std_as_variance", 2, "src/neuron_types/models/stacked_layers.py",
             "variances.append(np.nanvar(chosen, axis=0))", "variances.append(np.nanstd(chosen, axis=0))",
             (C + "test_stack_rows.py",)),
    Mutation("lspin_scaler_on_fit_and_stop_cells", 2, "src/neuron_types/models/stacked_lspin.py",
             "model.scaler.set_scaling(*_lspin_scalers(data.x, data.train))",
             "model.scaler.set_scaling(*_lspin_scalers(data.x, data.train | data.validation))",
             (C + "test_subclass_rows.py::test_each_ensemble_member_fits_and_stops_on_its_splits_non_test_cells",)),
    Mutation("logistic_scaler_on_train_validation_test", 2, "src/neuron_types/models/cross_species.py",
             "scaler = StandardScaler().fit(train_design)",
             "scaler = StandardScaler().fit(np.vstack([train_design, design_matrix(cells.validation, features, "
             "False), design_matrix(cells.test, features, False)]))",
             (C + "test_dann_rows.py::test_logistic_regression_scaler_and_fits_see_training_cells_only",)),
    # 3. label hiding (the differential test)
    Mutation("human_labels_not_hidden", 3, "src/neuron_types/models/cross_species.py",
             'labelled = cells["species"].astype(str).isin(spec.labelled_species).to_numpy()',
             'labelled = cells["species"].astype(str).isin(spec.train_species).to_numpy()',
             (C + "test_label_hiding.py",)),
    Mutation("bbse_reads_human_validation_labels", 3, "src/neuron_types/models/cross_species.py",
             "stopped = [validation_rows[:, m] & ~target for m in members]",
             "stopped = [validation_rows[:, m] for m in members]",
             (C + "test_label_hiding.py",)),
    Mutation("label_free_folds_stratified_by_human_labels", 3, "src/neuron_types/models/cross_species.py",
             'labelled = cells["species"].astype(str).isin(labelled_species).to_numpy()',
             'labelled = np.ones(len(cells), dtype=bool)',
             (C + "test_label_hiding.py",)),
    # 4. priors and corrections
    Mutation("source_prior_with_human_labels", 4, "src/neuron_types/models/cross_species.py",
             "source_labels = label[train & ~target]", "source_labels = label[train]",
             (C + "test_priors.py",)),
    Mutation("bayes_adjustment_priors_swapped", 4, "src/neuron_types/models/label_shift.py",
             "positive = p * target_prior / source_prior", "positive = p * source_prior / target_prior",
             (C + "test_priors.py",)),
    Mutation("em_priors_swapped", 4, "src/neuron_types/models/label_shift.py",
             "adjust_posteriors(target_proba, source_prior, prior)",
             "adjust_posteriors(target_proba, prior, source_prior)",
             (C + "test_priors.py",)),
    Mutation("bbse_confusion_transposed", 4, "src/neuron_types/models/label_shift.py",
             "np.mean((source_pred == i) & (source_true == j))", "np.mean((source_pred == j) & (source_true == i))",
             (C + "test_priors.py",)),
    Mutation("bbse_singular_branch_gives_zero", 4, "src/neuron_types/models/label_shift.py",
             "weights = np.linalg.lstsq(confusion, q, rcond=None)[0]", "weights = np.zeros(2)",
             (C + "test_priors.py",)),
    Mutation("observed_prior_from_test_cells", 4, "src/neuron_types/pipelines/dann/nodes.py",
             'train = cells_in_role(ei_model_input, ei_splits, int(split), "train")',
             'train = cells_in_role(ei_model_input, ei_splits, int(split), "test")',
             (C + "test_priors.py",)),
    Mutation("pipeline_adjusts_from_the_wrong_prior", 4, "src/neuron_types/models/cross_species.py",
             "adjusted[target[test]] = label_shift.adjust_posteriors(human, source_prior, prior)",
             'adjusted[target[test]] = label_shift.adjust_posteriors(human, estimate["bbse"], prior)',
             (C + "test_priors.py",)),
    Mutation("ensemble_prior_from_its_first_member", 4, "src/neuron_types/models/cross_species.py",
             "estimate = estimate_target_prior(member_probability[members][:, target_pool],",
             "estimate = estimate_target_prior(member_probability[members[:1]][:, target_pool],",
             ("tests/models/test_cross_species.py::test_a_cross_fitted_label_free_model_estimates_its_prior_out_of_"
              "fold_and_calibrates_each_member",)),
    Mutation("imputed_means_of_every_cell", 2, "src/neuron_types/models/stacked_layers.py",
             "means.append(np.nanmean(chosen, axis=0))", "means.append(np.nanmean(x, axis=0))",
             ("tests/models/test_cross_species.py::test_an_imputing_network_fills_each_members_missing_features_with_"
              "its_training_mean",)),
    # 5. stratification and grouping
    Mutation("folds_not_grouped_by_donor", 5, "src/neuron_types/splits.py",
             "return StratifiedGroupKFold(n_splits=n_splits).split(rows, key, shuffled)",
             "return StratifiedKFold(n_splits=n_splits).split(rows, key)",
             (C + "test_split_contracts.py",)),
    Mutation("validation_not_grouped_by_donor", 5, "src/neuron_types/splits.py",
             "rest_groups = None if groups is None else groups[rest]", "rest_groups = None",
             (C + "test_split_contracts.py",)),
    Mutation("strata_on_the_first_column_only", 5, "src/neuron_types/splits.py",
             'return cells[list(strata)].astype(str).agg("|".join, axis=1)',
             'return cells[list(strata)[:1]].astype(str).agg("|".join, axis=1)',
             (C + "test_split_contracts.py",)),
    # 6. the exported model is the scored one
    Mutation("export_scaler_from_std", 6, "src/neuron_types/models/stacked.py",
             "ops.convert_to_numpy(stacked.scaler.variance)[k])",
             "np.sqrt(ops.convert_to_numpy(stacked.scaler.variance)[k]))",
             (C + "test_export_contract.py",)),
    Mutation("export_the_first_member", 6, "src/neuron_types/models/cross_species.py",
             "exported = export_member(model, split_ids.index(export_split))", "exported = export_member(model, 0)",
             (C + "test_export_contract.py",)),
    Mutation("lspin_export_scale_is_the_variance", 6, "src/neuron_types/models/stacked_lspin.py",
             "single.feature_scale.assign(np.sqrt(ops.convert_to_numpy(stacked.scaler.variance)[k]))",
             "single.feature_scale.assign(ops.convert_to_numpy(stacked.scaler.variance)[k])",
             (C + "test_export_contract.py::test_saved_lspin_ensembles_score_what_their_trained_members_predict",)),
    # 7. selection picks the best
    Mutation("logistic_c_by_worst_validation_loss", 7, "src/neuron_types/models/cross_species.py",
             "if best is None or loss < best[0]:", "if best is None or loss > best[0]:",
             (C + "test_selection.py::test_logistic_regression_picks_the_c_of_the_lowest_validation_loss",)),
    Mutation("forest_by_worst_out_of_bag_score", 7, "src/neuron_types/models/baselines.py",
             "if best is None or score > best[2]:", "if best is None or score < best[2]:",
             (C + "test_selection.py::test_forest_picks_the_setting_of_the_best_out_of_bag_score",)),
    Mutation("baseline_refit_with_first_candidate", 7, "src/neuron_types/models/baselines.py",
             "final = baseline_estimator(name, seed, imputation=imputation).set_params(**_prefixed(chosen))",
             "final = baseline_estimator(name, seed, imputation=imputation).set_params(**_prefixed(candidates[0]))",
             (C + "test_selection.py::test_baseline_grid_search_refits_the_best_cross_validated_setting",)),
    Mutation("tuning_keeps_the_worst_trial", 7, "src/neuron_types/models/lspin_tuning.py",
             "if split not in chosen or value > chosen[split][0]:", "if split not in chosen or value < chosen[split][0]:",
             ("tests/pipelines/test_lspin.py::test_the_tuned_networks_are_the_chosen_trials_ensembles",)),
    Mutation("tuned_members_share_one_learning_rate", 7, "src/neuron_types/models/stacked_lspin.py",
             "scale = self.members.learning_rate / self.members.base_learning_rate",
             "scale = np.ones(len(self.members))",
             ("tests/models/test_stacked.py::test_stacked_lspin_members_with_their_own_hyperparameters_step_as_single"
              "_lspins_with_them",)),
    # 8. no silent skips in CI
    Mutation("ci_skips_instead_of_failing", 8, "tests/conftest.py",
             'pytest.fail(f"{reason} (CI is set: this test must run, not skip)")', "pytest.skip(reason)",
             (C + "test_no_silent_skips.py",)),
    Mutation("a_bare_importorskip_in_a_test", 8, "tests/test_docs.py",
             'import_or_skip_unless_ci("mkdocs", reason=', 'pytest.importorskip("mkdocs", reason=',
             (C + "test_no_silent_skips.py",)),
)


def _copy_project(into: Path) -> Path:
    project = into / "project"
    project.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=ignore)
        else:
            shutil.copy2(source, project / name)
    return project


def _apply(project: Path, mutation: Mutation) -> str | None:
    """Mutates the copy; returns why it could not (target not found exactly once)."""
    path = project / mutation.path
    text = path.read_text()
    count = text.count(mutation.old)
    if count != 1:
        return f"target found {count} times in {mutation.path}"
    path.write_text(text.replace(mutation.old, mutation.new))
    return None


def _environment(project: Path) -> dict:
    return {**os.environ, "PYTHONPATH": f"{project / 'src'}{os.pathsep}{project}", "PYTHONDONTWRITEBYTECODE": "1"}


def _first_failure(report: Path) -> str | None:
    if not report.is_file():
        return None
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            return f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
    return None


def run_one(mutation: Mutation) -> tuple[str, float]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutation-{mutation.name}-") as folder:
        project = _copy_project(Path(folder))
        problem = _apply(project, mutation)
        if problem:
            return f"TARGET NOT FOUND ({problem})", time.perf_counter() - started
        report = Path(folder) / "report.xml"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-n0", "-p", "no:cacheprovider", f"--junitxml={report}",
             *mutation.tests],
            cwd=project, env=_environment(project), capture_output=True, text=True)
        failed = _first_failure(report)
        if done.returncode == 0:
            outcome = "NOT CAUGHT"
        elif failed:
            outcome = failed
        else:  # a collection error or a crash also stops the mutant; say so
            outcome = f"pytest exit {done.returncode}: {done.stdout.strip().splitlines()[-1:]}"
    return outcome, time.perf_counter() - started


def _check_the_copy_is_imported() -> None:
    """The mutants must be imported from the copy, not from an installed package."""
    with tempfile.TemporaryDirectory(prefix="mutation-check-") as folder:
        project = _copy_project(Path(folder))
        found = subprocess.run([sys.executable, "-c", "import neuron_types; print(neuron_types.__file__)"],
                               cwd=project, env=_environment(project), capture_output=True, text=True, check=True)
        if not Path(found.stdout.strip()).resolve().is_relative_to(project.resolve()):
            sys.exit(f"mutation check: neuron_types is imported from {found.stdout.strip()}, not from the copy")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="run only this mutation (repeatable)")
    args = parser.parse_args(argv)
    unknown = set(args.only) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"--only: unknown mutations {sorted(unknown)}")
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    _check_the_copy_is_imported()
    started = time.perf_counter()
    rows = []
    width = max(len(m.name) for m in chosen)
    print(f"{'mutation':<{width}}  contract  seconds  caught by", flush=True)  # noqa: T201
    for mutation in chosen:
        outcome, seconds = run_one(mutation)
        rows.append((mutation, outcome))
        print(f"{mutation.name:<{width}}  {mutation.contract:^8}  {seconds:7.0f}  {outcome}", flush=True)  # noqa: T201
    missed = [m.name for m, outcome in rows if outcome == "NOT CAUGHT" or outcome.startswith("TARGET NOT FOUND")]
    summary = f"{len(rows) - len(missed)} of {len(rows)} mutations caught in {time.perf_counter() - started:.0f} s"
    if missed:
        summary += f"; not caught or not applied: {missed}"
    print(f"\n{summary}")  # noqa: T201 (the table is the output)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
