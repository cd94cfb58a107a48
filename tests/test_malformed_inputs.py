"""A corpus of malformed dumps and parameters, each run the way a user runs the project.

Every case is a dump (made in code with ``tests.actd_fixture``, or sampled from the real
dump and corrupted) or a parameter override. Every case runs ``ingestion`` +
``feature_engineering`` in-process through a ``KedroSession``; each whose parameters the
command line can carry also runs as ``kedro run`` in its own process: three through a
fresh ``python -m kedro`` interpreter, the others forked from one that has done the
imports once (``tests/kedro_cli_runner.py``). Each must stop the run with one message that names the file or parameter, the
column, the offending value or count, and what was expected; the command line must end on
that message, not on a traceback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from neuron_types.config import SECTIONS
from neuron_types.errors import ParameterError, is_input_error, one_line
from tests.actd_fixture import DEFAULT_GROUPS, actd_tables, latest_version, project_copy, write_actd_dump
from tests.params import raw_params

DATA_PIPELINES = ["ingestion", "feature_engineering"]


@dataclass
class Case:
    """``make(folder) -> (dump folder, runtime params or None)``; ``expect``: fragments
    the one-line message must contain, in any order."""

    id: str
    make: Callable[[Path], tuple[Path, dict | None]]
    expect: list[str]
    conf_edit: Callable[[Path], None] | None = None
    marks: list = field(default_factory=list)


def _dump(change: Callable[[dict], None] | None = None, groups=None) -> Callable:
    """A case maker: default tables, changed in place by ``change``, written to a folder."""

    def make(folder: Path):
        tables = actd_tables() if groups is None else actd_tables(groups=groups)
        if change is not None:
            change(tables)
        return write_actd_dump(folder / "actd", tables), None

    return make


def _file(name: str, edit: Callable[[str], str] | None = None, remove: bool = False) -> Callable:
    """A case maker: a default dump whose file ``name`` is removed or rewritten."""

    def make(folder: Path):
        dump = write_actd_dump(folder / "actd")
        if remove:
            (dump / name).unlink()
        else:
            (dump / name).write_text(edit((dump / name).read_text()))
        return dump, None

    return make


def _file_bytes(name: str, edit: Callable[[bytes], bytes]) -> Callable:
    """A case maker: a default dump whose file ``name`` is rewritten byte by byte."""

    def make(folder: Path):
        dump = write_actd_dump(folder / "actd")
        (dump / name).write_bytes(edit((dump / name).read_bytes()))
        return dump, None

    return make


def _params(params: dict) -> Callable:
    def make(folder: Path):
        return write_actd_dump(folder / "actd"), params

    make.params = params  # for the command-line runs' --params
    return make


def _set(table: str, row: int, column: str, value) -> Callable[[dict], None]:
    def change(tables):
        frame = tables[table]
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value

    return change


def _duplicate_row(table: str) -> Callable[[dict], None]:
    def change(tables):
        tables[table] = pd.concat([tables[table], tables[table].iloc[[5]]], ignore_index=True)

    return change


def _shift_ids(table: str) -> Callable[[dict], None]:
    def change(tables):
        tables[table]["specimen_id"] += 10**6

    return change


def _cells(edit: Callable[[dict], None], which: Callable[[dict], bool] = lambda r: True):
    def change(tables):
        for record in tables["cells"]:
            if which(record):
                edit(record)

    return change


def _first_cell(edit):
    def change(tables):
        edit(tables["cells"][0])

    return change


def _noise_only_for_sparsely_spiny(tables):
    ids = [r["specimen__id"] for r in tables["cells"] if r["tag__dendrite_type"] == "sparsely spiny"]
    noise = tables["noise_spike_features"]
    tables["noise_spike_features"] = noise[noise["specimen_id"].isin(ids)]


MOUSE = lambda record: record["donor__species"] == "Mus musculus"  # noqa: E731
# human inhibitory cells cut to 2: one stratum cannot fill train, validation and test
TOO_FEW_HUMAN_INHIBITORY = [
    *[group for group in DEFAULT_GROUPS if group[0] == "Mus musculus"],
    ("Homo Sapiens", "spiny", None, 24),
    ("Homo Sapiens", "aspiny", None, 2),
]


def _corrupt_base_parameter(key_path: str, value) -> Callable[[Path], None]:
    """Edits the tmp project's conf/base/parameters_feature_engineering.yml (a copy)."""

    def edit(conf: Path):
        path = conf / "base" / "parameters_feature_engineering.yml"
        params = yaml.safe_load(path.read_text())
        *parents, leaf = key_path.split(".")
        node = params["feature_engineering"]
        for part in parents:
            node = node[part]
        node[leaf] = value
        path.write_text(yaml.safe_dump(params))

    return edit


CASES = [
    # --- files
    Case("missing cells.json", _file("cells.json", remove=True),
         ["required file cells.json is missing", "expected beside manifest.json"]),
    Case("missing ephys_features.csv", _file("ephys_features.csv", remove=True),
         ["required file ephys_features.csv is missing", "expected"]),
    Case("truncated cells.json", _file("cells.json", lambda t: t[: len(t) // 2]),
         ["cells.json: not valid JSON", "expected the list of cell records"]),
    Case("cells.json is an HTML error page", _file("cells.json", lambda t: "<html>502 Bad Gateway</html>"),
         ["cells.json: not valid JSON", "line 1 column 1", "expected the list of cell records"]),
    Case("empty cells.json", _file("cells.json", lambda t: ""),
         ["cells.json: holds no cells", "expected a non-empty list of cell records"]),
    Case("cells.json is an object, not a list", _file("cells.json", lambda t: json.dumps({"cells": json.loads(t)})),
         ["cells.json: expected a JSON list of cell records"]),
    Case("empty ephys_features.csv", _file("ephys_features.csv", lambda t: ""),
         ["ephys_features.csv: the file is empty", "expected one row of precomputed ephys features"]),
    Case("ephys_features.csv with a header and no rows", _file("ephys_features.csv", lambda t: t.splitlines()[0] + "\n"),
         ["ephys_features.csv: has a header but no rows", "expected one row"]),
    Case("empty noise_spike_features.csv", _file("noise_spike_features.csv", lambda t: ""),
         ["noise_spike_features.csv: the file is empty", "expected one row of noise-sweep spike features"]),
    Case("cells.json is not UTF-8", _file_bytes("cells.json", lambda b: b.replace(b"Sst-IRES-Cre", "Sst-IRES-Cré".encode("latin-1"))),
         ["cells.json: not valid JSON", "expected the list of cell records"]),
    Case("manifest.json is not JSON", _file("manifest.json", lambda t: t[: len(t) // 3]),
         ["manifest.json: not a valid JSON manifest", "expected the CellTypesCache manifest"]),
    Case("ephys_features.csv is not UTF-8", _file_bytes("ephys_features.csv", lambda b: b.replace(b"tau", b"ta\xe9", 1)),
         ["ephys_features.csv: not UTF-8 text", "expected a UTF-8 CSV"]),
    Case("ephys_features.csv separated by semicolons", _file("ephys_features.csv", lambda t: t.replace(",", ";")),
         ["ephys_features.csv: the header is ';'-separated", "expected comma-separated values"]),
    Case("a column named twice", _file("noise_spike_features.csv", lambda t: t.replace("upstroke_v", "width", 1)),
         ["noise_spike_features.csv, header: columns ['width'] are named more than once", "expected each column once"]),
    # --- columns
    Case("cell records lack a field", _dump(_cells(lambda r: r.pop("tag__dendrite_type"))),
         ["cells.json", "tag__dendrite_type", "expected"]),
    Case("feature column missing", _dump(lambda t: t["ephys_features"].drop(columns="tau", inplace=True)),
         ["ephys_features.csv", "feature columns ['tau']", "features.precomputed", "missing"]),
    Case("feature column renamed", _dump(lambda t: t["noise_spike_features"].rename(columns={"width": "spike_width"}, inplace=True)),
         ["noise_spike_features.csv", "feature columns ['width']", "features.noise_spike", "missing"]),
    Case("specimen_id column renamed", _dump(lambda t: t["ephys_features"].rename(columns={"specimen_id": "specimen"}, inplace=True)),
         ["ephys_features.csv: no specimen_id column", "expected one row per specimen keyed by specimen_id"]),
    # --- values
    Case("string in a numeric column", _dump(_set("ephys_features", 3, "tau", "fast")),
         ["ephys_features.csv, column tau", "1 non-numeric values", "'fast' at specimen_id 500000004", "expected numbers"]),
    Case("inf in a feature", _dump(_set("noise_spike_features", 0, "width", np.inf)),
         ["noise_spike_features.csv, column width", "1 infinite values", "inf at specimen_id 500000001", "expected finite numbers"]),
    Case("-inf written as text", _dump(_set("ephys_features", 7, "vrest", "-inf")),
         ["ephys_features.csv, column vrest", "1 infinite values", "at specimen_id 500000008", "expected finite numbers"]),
    Case("NaN specimen id", _dump(_set("ephys_features", 2, "specimen_id", np.nan)),
         ["ephys_features.csv, column specimen_id", "1 values are not integer ids", "[nan]", "expected integer specimen ids"]),
    Case("a feature that is NaN for every cell", _dump(_set("ephys_features", slice(None), "tau", np.nan)),
         ["every one of 108 cohort cells lacks", "tau", "expected complete rows"]),
    Case("a threshold no recording can produce", _dump(_set("noise_spike_features", 4, "threshold_v", 1e308)),
         ["noise_spike_features.csv, column threshold_v", "1 values outside what a recording can produce",
          "1e+308 at specimen_id 500000005", "expected mV in [-200, 200]"]),
    Case("a negative spike width", _dump(_set("noise_spike_features", 2, "width", -0.001)),
         ["noise_spike_features.csv, column width", "-0.001 at specimen_id 500000003", "expected s (spike width) in [0, 0.1]"]),
    Case("an unknown spelling of the dendrite type", _dump(_cells(lambda r: r.update(tag__dendrite_type="Spiny"),
                                                                  lambda r: r["specimen__id"] % 7 == 0)),
         ["cells.json, field dendrite_type: unknown values {'Spiny':", "expected one of ['spiny', 'aspiny', 'sparsely spiny']"]),
    Case("an unknown reporter status", _dump(_first_cell(lambda r: r.update(cell_reporter_status="postive"))),
         ["cells.json, field reporter_status: unknown values {'postive': 1}", "ingestion.known_values.reporter_status"]),
    # --- specimen ids
    Case("duplicate ids in cells.json", _dump(lambda t: t["cells"].append(dict(t["cells"][4]))),
         ["cells.json, column specimen_id", "1 ids occur more than once", "500000005", "expected one row per specimen"]),
    Case("duplicate ids in ephys_features.csv", _dump(_duplicate_row("ephys_features")),
         ["ephys_features.csv, column specimen_id", "1 ids occur more than once", "500000006", "expected one row per specimen"]),
    Case("duplicate ids in noise_spike_features.csv", _dump(_duplicate_row("noise_spike_features")),
         ["noise_spike_features.csv, column specimen_id", "1 ids occur more than once", "500000006"]),
    # (tables listing different specimens are another release or a subset, not corruption:
    # they run, tests/test_other_releases.py; only tables sharing no specimen stop)
    Case("cells.json and ephys_features.csv share no specimen", _dump(_shift_ids("ephys_features")),
         ["cells.json and ephys_features.csv: no specimen_id in both", "114 cells, e.g. [500000001",
          "e.g. [501000001", "expected the tables of one release"]),
    # --- labels and cohort
    Case("unknown species", _dump(_first_cell(lambda r: r.update(donor__species="Rattus norvegicus"))),
         ["cells.json, field species", "{'Rattus norvegicus': 1}", "expected one of ['Mus musculus', 'Homo Sapiens']", "ingestion.species_names"]),
    Case("missing species", _dump(_cells(lambda r: r.update(donor__species=None), lambda r: r["specimen__id"] % 10 == 0)),
         ["cells.json, field species", "'<missing>': 11", "expected one of"]),
    Case("cohort ends empty: no dendrite type in the cohort", _dump(_cells(lambda r: r.update(tag__dendrite_type="sparsely spiny"))),
         ["cohort: no cell is left out of 114", "'dendrite type not in cohort.cell_classes': 114", "expected cells with a mapped dendrite type"]),
    Case("model inputs end empty: noise-sweep features only for excluded cells", _dump(_noise_only_for_sparsely_spiny),
         ["features: every one of 108 cohort cells lacks at least one of the 41 features", "expected complete rows"]),
    Case("a stratum too small to split", _dump(groups=TOO_FEW_HUMAN_INHIBITORY),
         ["cells.json: the excitatory/inhibitory task's strata {'inhibitory|human': 2} have fewer donors than the 5",
          "protocol donor_grouped_cv, n_folds 5", "expected at least 5 donors in every stratum"]),
    Case("excitatory/inhibitory task with a single class", _dump(_cells(lambda r: r.update(tag__dendrite_type="spiny"))),
         ["splits", "a single class", "excitatory"]),
    Case("subclass task ends empty: every mouse Cre line unknown", _dump(_cells(lambda r: r.update(line_name="Foo-IRES-Cre"), MOUSE)),
         ["subclass", "no cell", "Foo-IRES-Cre"]),
    # --- parameters
    Case("test fraction out of range", _params({"feature_engineering": {"splits": {"test_fraction": 1.5}}}),
         ["parameters_feature_engineering.yml, feature_engineering.splits.test_fraction", "got 1.5 (float)",
          "expected a number > 0 and < 1"]),
    Case("seeds: ten", _params({"feature_engineering": {"splits": {"seeds": "ten"}}}),
         ["parameters_feature_engineering.yml, feature_engineering.splits.seeds", "got 'ten' (str)",
          "expected a non-empty list of distinct items, each an integer"]),
    Case("misspelt parameter key", _params({"feature_engineering": {"splits": {"seedz": [1, 2]}}}),
         ["feature_engineering.splits.seedz: unknown key (did you mean 'seeds'?)", "expected one of"]),
    Case("misspelt top-level parameter", _params({"feature_engineerin": {"splits": {"seeds": [1, 2]}}}),
         ["--params feature_engineerin: unknown parameter (did you mean 'feature_engineering'?)"]),
    Case("string where a list is expected", _params({"ingestion": {"ephys_boolean_columns": "has_burst"}}),
         ["parameters_ingestion.yml, ingestion.ephys_boolean_columns", "got 'has_burst' (str)", "expected a list"]),
    Case("corrupted conf/base value", lambda folder: (write_actd_dump(folder / "actd"), None),
         ["parameters_feature_engineering.yml, feature_engineering.splits.validation_fraction", "got '0.15x' (str)",
          "expected a number > 0 and < 1"],
         conf_edit=_corrupt_base_parameter("splits.validation_fraction", "0.15x")),
    Case("validation and test leave no training cells",
         _params({"feature_engineering": {"splits": {"protocol": "random_splits", "test_fraction": 0.5,
                                                     "validation_fraction": 0.6}}}),
         ["feature_engineering.splits.validation_fraction: got 0.6; expected less than 1 - test_fraction (0.5) "
          "with protocol random_splits"]),
    Case("validation leaves no training cells in a fold",
         _params({"feature_engineering": {"splits": {"validation_fraction": 0.85}}}),
         ["feature_engineering.splits.validation_fraction: got 0.85; expected less than 1 - 1/n_folds (0.8) "
          "with protocol donor_grouped_cv"]),
    Case("a Cre line mapped to an unlisted subclass",
         _params({"feature_engineering": {"subclass_names": ["Pvalb+", "Sst+", "Vip+", "Glutamatergic"]}}),
         ["feature_engineering.cohort.cre_lines: subclasses ['Htr3a+|Vip-'] are not in subclass_names"]),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_malformed_input_stops_the_run_with_one_clear_message(case, kedro_project, tmp_path):
    dump, params = case.make(tmp_path)
    if case.conf_edit is not None:
        case.conf_edit(kedro_project.root / "conf")
    with pytest.raises(Exception) as raised:
        kedro_project(pipeline_names=DATA_PIPELINES, actd_dir=dump, params=params)
    message = one_line(raised.value)
    assert is_input_error(raised.value), f"shown with a traceback: {message}"
    missing = [fragment for fragment in case.expect if fragment not in message]
    assert not missing, f"{missing} not in: {message}"
    assert "\n" not in message


def test_corpus_size():
    assert len(CASES) + len(REAL_SHAPED) >= 20


def test_unknown_cre_lines_are_counted_and_reported_not_mapped(kedro_project, tmp_path, caplog):
    odd_lines = {0: "Foo-IRES-Cre", 1: "Foo-IRES-Cre", 2: "Bar-Cre"}

    def rename(tables):
        pvalb = [r for r in tables["cells"] if r["line_name"] == "Pvalb-IRES-Cre"]
        for i, line in odd_lines.items():
            pvalb[i]["line_name"] = line

    dump, _ = _dump(rename)(tmp_path)
    with caplog.at_level(logging.WARNING):
        kedro_project(pipeline_names=DATA_PIPELINES, actd_dir=dump)
    # the fixture's own Unknown-Cre (2 cells) plus the three renamed ones
    assert "5 mouse cells with features have Cre lines not in cohort.cre_lines" in caplog.text
    assert "'Foo-IRES-Cre': 2" in caplog.text and "'Bar-Cre': 1" in caplog.text
    subclass = pd.read_parquet(latest_version(kedro_project.root / "data/05_model_input/subclass_model_input.parquet"))
    assert not subclass["transgenic_line"].isin(["Foo-IRES-Cre", "Bar-Cre", "Unknown-Cre"]).any()
    assert (subclass["transgenic_line"] == "Pvalb-IRES-Cre").sum() == 12 - 3


# --- the real dump's shape: a sample of its rows, corrupted (the dump itself is read-only)

REAL_SAMPLE_CELLS = 160


def _real_sample(real: Path, folder: Path) -> dict:
    """The first cells of the real dump that have noise-sweep features, with their rows."""
    noise = pd.read_csv(real / "noise_spike_features.csv")
    cells = [c for c in json.loads((real / "cells.json").read_text()) if c["specimen__id"] in set(noise["specimen_id"])]
    mouse = [c for c in cells if c["donor__species"] == "Mus musculus"][: REAL_SAMPLE_CELLS * 3 // 4]
    human = [c for c in cells if c["donor__species"] != "Mus musculus"][: REAL_SAMPLE_CELLS // 4]
    chosen = mouse + human
    ids = {c["specimen__id"] for c in chosen}
    ephys = pd.read_csv(real / "ephys_features.csv")
    return {
        "cells": chosen,
        "ephys_features": ephys[ephys["specimen_id"].isin(ids)].reset_index(drop=True),
        "noise_spike_features": noise[noise["specimen_id"].isin(ids)].reset_index(drop=True),
    }


def _write_real_shaped(folder: Path, tables: dict, real: Path) -> Path:
    write_actd_dump(folder, tables)
    (folder / "manifest.json").write_text((real / "manifest.json").read_text())
    return folder


def _real_string_in_column(tables):
    tables["ephys_features"]["vrest"] = tables["ephys_features"]["vrest"].astype(object)
    tables["ephys_features"].loc[[4, 9], "vrest"] = ["-71.2 mV", "-71,2"]
    return ["ephys_features.csv, column vrest", "2 non-numeric values", "'-71.2 mV' at specimen_id", "'-71,2'", "expected numbers"]


def _real_duplicate_noise_row(tables):
    noise = tables["noise_spike_features"]
    tables["noise_spike_features"] = pd.concat([noise, noise.iloc[[10, 11]]], ignore_index=True)
    duplicated = sorted(noise["specimen_id"].iloc[[10, 11]])
    return ["noise_spike_features.csv, column specimen_id", "2 ids occur more than once", str(duplicated[0])]


def _real_truncated_cells(tables):
    return ["cells.json: not valid JSON", "expected the list of cell records"]


REAL_SHAPED = {
    "real: string in vrest": _real_string_in_column,
    "real: duplicate noise rows": _real_duplicate_noise_row,
    "real: truncated cells.json": _real_truncated_cells,
}


@pytest.fixture(scope="module")
def real_sample(tmp_path_factory):
    from tests.conftest import real_actd_dir, skip_unless_ci

    real = real_actd_dir()
    if real is None:
        skip_unless_ci("no real ACTD dump: set NEURON_TYPES_ACTD_DIR or place it at ../shared/actd")
    return real, _real_sample(real, tmp_path_factory.mktemp("real"))


def _make_real_shaped(name: str, real: Path, sample: dict, folder: Path) -> tuple[Path, list[str]]:
    tables = {key: (value.copy() if isinstance(value, pd.DataFrame) else [dict(v) for v in value])
              for key, value in sample.items()}
    expect = REAL_SHAPED[name](tables)
    dump = _write_real_shaped(folder / "actd", tables, real)
    if name == "real: truncated cells.json":
        text = (dump / "cells.json").read_text()
        (dump / "cells.json").write_text(text[: len(text) * 2 // 3])
    return dump, expect


@pytest.mark.real_data
@pytest.mark.parametrize("name", list(REAL_SHAPED))
def test_real_shaped_corruption_stops_the_run(name, real_sample, kedro_project, tmp_path):
    real, sample = real_sample
    dump, expect = _make_real_shaped(name, real, sample, tmp_path)
    with pytest.raises(Exception) as raised:
        kedro_project(pipeline_names=DATA_PIPELINES, actd_dir=dump)
    message = one_line(raised.value)
    assert is_input_error(raised.value)
    assert not [f for f in expect if f not in message], message


@pytest.mark.real_data
def test_real_sample_itself_runs(real_sample, kedro_project, tmp_path):
    """The sample is sound before it is corrupted, so each failure above is the corruption's."""
    real, sample = real_sample
    dump = _write_real_shaped(tmp_path / "actd", sample, real)
    kedro_project(pipeline_names=DATA_PIPELINES, actd_dir=dump)
    assert latest_version(kedro_project.root / "data/05_model_input/ei_splits.parquet").is_file()


# --- the command line: exit status, and the message as the last thing printed

def _dotted(params: dict, prefix: str = "") -> list[str] | None:
    """``--params`` items for a nested override; None when a value is a list of several
    items (Kedro splits ``--params`` at commas, so those cases stay in-process only)."""
    items = []
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            inner = _dotted(value, f"{path}.")
            if inner is None:
                return None
            items += inner
        elif isinstance(value, list):
            if len(value) > 1:
                return None
            items.append(f"{path}={value[0]}")
        else:
            items.append(f"{path}={value}")
    return items


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and its content hash, outside the run markers, the failed
    runs' versions and the tracking store (records of the attempt, not outputs)."""
    skipped = {"failed_runs", ".runs", "09_tracking"}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not skipped & set(p.relative_to(folder).parts)}


def _cli_command(case: Case, dump: Path) -> list[str] | None:
    params = case.make.params if hasattr(case.make, "params") else None
    extra = []
    if params:
        items = _dotted(params)
        if items is None:
            return None
        extra = ["--params", ",".join(items)]
    return [sys.executable, "-m", "kedro", "run", "--pipelines=ingestion,feature_engineering", *extra]


# cases that run through a fresh `python -m kedro` interpreter; the others are forked from
# a process that has done Kedro's and the project's imports once (tests/kedro_cli_runner.py)
FRESH_INTERPRETER_CASES = 3
RUNNER = Path(__file__).resolve().parent / "kedro_cli_runner.py"


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """Every case of the corpus through the real command line, two at a time; returns exit
    code, output and what each left behind."""
    from concurrent.futures import ThreadPoolExecutor

    def prepare(case: Case):
        folder = tmp_path_factory.mktemp("cli")
        dump, _ = case.make(folder)
        root = project_copy(folder / "project")
        if case.conf_edit is not None:
            case.conf_edit(root / "conf")
        env = {**os.environ, "NEURON_TYPES_ACTD_DIR": str(dump), "TF_CPP_MIN_LOG_LEVEL": "2", "COLUMNS": "100"}
        env.pop("NEURON_TYPES_TRACEBACK", None)
        return folder, root, dump, env, (_tree(root / "data"), _tree(dump))

    def fresh(case: Case):
        folder, root, dump, env, before = prepare(case)
        done = subprocess.run(_cli_command(case, dump), cwd=root, env=env, capture_output=True, text=True,
                              timeout=300)
        return done.returncode, done.stdout, done.stderr, before, (_tree(root / "data"), _tree(dump))

    def forked(cases: list[Case]):
        log = tmp_path_factory.mktemp("cli") / "runner_stderr.txt"
        runner = subprocess.Popen([sys.executable, str(RUNNER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=log.open("w"), text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        results = {}
        try:
            for case in cases:
                folder, root, dump, env, before = prepare(case)
                out, err = folder / "stdout.txt", folder / "stderr.txt"
                job = {"argv": _cli_command(case, dump)[3:], "cwd": str(root), "env": env,
                       "stdout": str(out), "stderr": str(err)}
                runner.stdin.write(json.dumps(job) + "\n")
                runner.stdin.flush()
                reply = runner.stdout.readline()
                assert reply, f"the command-line runner died: {log.read_text()[-3000:]}"
                code = json.loads(reply)["code"]
                results[case.id] = (code, out.read_text(), err.read_text(), before,
                                    (_tree(root / "data"), _tree(dump)))
        finally:
            runner.stdin.close()
            runner.wait(timeout=60)
        return results

    fresh_cases, forked_cases = CLI_CASES[:FRESH_INTERPRETER_CASES], CLI_CASES[FRESH_INTERPRETER_CASES:]
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(forked, forked_cases[i::2]) for i in range(2)]
        results = dict(zip([c.id for c in fresh_cases], map(fresh, fresh_cases)))
        for run in runs:
            results.update(run.result())
    return results


def test_most_of_the_corpus_runs_through_the_command_line():
    assert len(CLI_CASES) >= 40, [c.id for c in CLI_CASES]


# Kedro's CLI splits --params at commas: the cases with a list of several items stay in-process
CLI_CASES = [c for c in CASES if not getattr(c.make, "params", None) or _dotted(c.make.params) is not None]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CLI_CASES])
def test_command_line_exits_non_zero_on_the_message_and_changes_nothing(case, cli_runs):
    code, stdout, stderr, before, after = cli_runs[case.id]
    assert code != 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, f"nothing on stderr; stdout ends: {stdout[-2000:]}"
    assert lines[-2].startswith("neuron-types: "), stderr[-3000:]
    assert not [f for f in case.expect if f not in lines[-2]], lines[-2]
    assert "Traceback" not in stderr and "│" not in stderr  # no rich traceback panel either
    assert "NEURON_TYPES_TRACEBACK=1" in lines[-1]
    assert after[0] == before[0], "the failed run changed data/"
    assert after[1] == before[1], "the failed run wrote into its input folder"


# --- model parameters: the model pipelines' own conf/base sections, corrupted


def _find_key(tree, wanted: str, path=()):
    """The path of the first key named ``wanted`` in a nested mapping, or None."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if key == wanted:
                return (*path, key)
            found = _find_key(value, wanted, (*path, key))
            if found:
                return found
    return None


def _set_path(tree: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        tree = tree[key]
    tree[path[-1]] = value


def _problem(key: str, params: dict) -> str:
    with pytest.raises(ParameterError) as raised:
        SECTIONS[key].model_validate(params)
    return str(raised.value)


@pytest.mark.parametrize("pipeline", ["dann", "lspin"])
def test_epochs_ten_in_a_model_pipeline_is_named(pipeline):
    params = raw_params(pipeline)
    path = _find_key(params, "max_epochs")
    _set_path(params, path, "ten")
    file = SECTIONS[pipeline].conf_file
    assert f"{file}, {pipeline}.{'.'.join(path)}: got 'ten' (str); expected an integer >= 1" in _problem(pipeline, params)


def _misspell_reference(params: dict) -> tuple[str, str]:
    """dann: the model whose prior drives reweighting, named in ``target_prior_model``."""
    name = params["target_prior_model"]
    params["target_prior_model"] = name[:-1] + "x"
    return name, name[:-1] + "x"


def _misspell_grid(params: dict) -> tuple[str, str]:
    """lspin: a baseline's name, a key of ``baselines.grids``."""
    grids = params["baselines"]["grids"]
    grids["xgboos"] = grids.pop("xgboost")
    return "xgboost", "xgboos"


@pytest.mark.parametrize("pipeline, misspell", [("dann", _misspell_reference), ("lspin", _misspell_grid)])
def test_unknown_model_name_in_a_model_pipeline_is_named(pipeline, misspell):
    params = raw_params(pipeline)
    right, wrong = misspell(params)
    message = _problem(pipeline, params)
    assert message.startswith(f"{SECTIONS[pipeline].conf_file}, ") and wrong in message, message
    assert f"did you mean {right!r}" in message and "one of" in message, message


def test_a_dann_model_option_out_of_its_choices_is_named():
    params = raw_params("dann")
    params["models"]["dann"]["reweighting"] = "emm"
    assert ("parameters_dann.yml, dann.models.dann.reweighting: got 'emm' (str); expected one of "
            "['none', 'em', 'em_calibrated', 'bbse']") in _problem("dann", params)


def test_a_contradictory_dann_model_is_named():
    params = raw_params("dann")
    params["models"]["fcnn_joint"]["reweighting"] = "em"
    assert "dann.models.fcnn_joint.reweighting: got 'em'; expected 'none' for a model without domain head" in (
        _problem("dann", params))


@pytest.mark.parametrize("pipeline", ["dann", "lspin"])
def test_a_model_parameter_given_on_the_command_line_is_checked_before_any_node(pipeline, kedro_project, tmp_path):
    """``--params dann.training.patience=ten`` stops at parameter validation: no node runs."""
    params = raw_params(pipeline)
    path = _find_key(params, "patience")
    override = {pipeline: {}}
    _set_path(override[pipeline], path, "ten") if len(path) == 1 else None
    node = override[pipeline]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = "ten"
    with pytest.raises(Exception) as raised:
        kedro_project(pipeline_names=[pipeline], actd_dir=write_actd_dump(tmp_path / "actd"), params=override)
    message = one_line(raised.value)
    assert is_input_error(raised.value), message
    assert f"{pipeline}.{'.'.join(path)}: got 'ten' (str); expected an integer >= 1" in message, message
    assert not (kedro_project.root / "data/02_intermediate/raw_cells.parquet").exists()


# --- what a model pipeline needs from the dump, checked before the first node

def _without_human(tables):
    human = {r["specimen__id"] for r in tables["cells"] if r["donor__species"] == "Homo Sapiens"}
    tables["cells"] = [r for r in tables["cells"] if r["specimen__id"] not in human]
    for name in ("ephys_features", "noise_spike_features"):
        tables[name] = tables[name][~tables[name]["specimen_id"].isin(human)].reset_index(drop=True)


def _without_vip(tables):
    tables["cells"] = [r for r in tables["cells"] if r["line_name"] != "Vip-IRES-Cre"]
    kept = {r["specimen__id"] for r in tables["cells"]}
    for name in ("ephys_features", "noise_spike_features"):
        tables[name] = tables[name][tables[name]["specimen_id"].isin(kept)].reset_index(drop=True)


@pytest.mark.parametrize("pipeline, change, expect", [
    ("dann", _without_human, ["cells.json: no human excitatory, no human inhibitory cells",
                              "expected both species with both classes"]),
    ("lspin", _without_vip, ["cells.json: no mouse cells of the subclasses ['Vip+']", "for the lspin pipeline"]),
])
def test_a_dump_a_model_pipeline_cannot_use_stops_before_any_node(pipeline, change, expect, kedro_project, tmp_path):
    dump, _ = _dump(change)(tmp_path)
    with pytest.raises(Exception) as raised:
        kedro_project(pipeline_names=[pipeline], actd_dir=dump)
    message = one_line(raised.value)
    assert is_input_error(raised.value) and not [f for f in expect if f not in message], message
    assert not list((kedro_project.root / "data").rglob("*.parquet"))  # nothing was saved
