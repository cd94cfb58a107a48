# The two commands of the README: `make run` (install + the whole kedro run) and
# `make test` (install + the test suite). Both install from the committed lock first.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run study test viz mlflow-ui docs benchmark mutation-check
install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==26.3"
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

run: install
	$(BIN)/kedro run

# every model and comparison declared (the default run leaves out those marked study: true)
study: install
	$(BIN)/kedro run --pipeline=study

test: install
	$(BIN)/pytest

viz: install
	$(BIN)/kedro viz run --host 127.0.0.1

# host and port from conf/base/mlflow.yml (ui.host: 127.0.0.1, ui.port: 5000)
mlflow-ui: install
	$(BIN)/kedro mlflow ui

docs: install
	$(BIN)/mkdocs build --strict

benchmark: install
	$(BIN)/python benchmarks/run.py

# one-line mutations, each in a throwaway copy, must each fail a contract test (docs/testing.md);
# not part of `make test`: every mutation pays a pytest start-up
mutation-check: install
	$(BIN)/python scripts/mutation_check.py
