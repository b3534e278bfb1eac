# The two commands: `make run` (the local stack and every service) and `make test` (the suite).
# Both set up everything themselves: the venv, the dependencies, the stack.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint unit chaos mutation up down status logs bench clean docs asyncapi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(PY) -m devstack run

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff over everything; mypy --strict over shared/ and services/ (pyproject.toml); the docs site
# built strictly (a broken link, anchor or page fails); the AsyncAPI document as the code makes it
lint: $(VENV)/.installed
	$(PY) -m ruff check shared services tests devstack prospectflow bench docs
	$(PY) -m mypy
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir .site
	$(PY) -m prospectflow.asyncapi --check

# The docs site (MkDocs Material) at http://127.0.0.1:8001, rebuilt as pages change
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:8001

# Regenerate docs/asyncapi.json from the code (commit it with the change to the contract)
asyncapi: $(VENV)/.installed
	$(PY) -m prospectflow.asyncapi --write

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# The chaos campaign (CHAOS_SEED, CHAOS_DURATION_S: 300): faults against two replicas of everything
chaos: $(VENV)/.installed
	$(PY) -m chaos $(CHAOS_ARGS)

# Mutation testing of the pure decisions and the contract against the unit tests (not in `make test`)
mutation: $(VENV)/.installed
	$(VENV)/bin/mutmut run --max-children 2; $(VENV)/bin/mutmut export-cicd-stats && cat mutants/mutmut-cicd-stats.json

up down status logs: $(VENV)/.installed
	$(PY) -m devstack $@

bench: $(VENV)/.installed
	$(PY) -m bench $(BENCH_ARGS)

clean:
	-$(PY) -m devstack clean
	rm -rf .devstack
