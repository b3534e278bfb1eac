# The two commands: `make run` (the local stack and every service) and `make test` (the suite).
# Both set up everything themselves: the venv, the dependencies, the stack.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint unit up down status logs bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(PY) -m devstack run

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff over everything; mypy --strict over shared/ and services/ (pyproject.toml)
lint: $(VENV)/.installed
	$(PY) -m ruff check shared services tests devstack prospectflow bench docs
	$(PY) -m mypy

unit: $(VENV)/.installed
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

up down status logs: $(VENV)/.installed
	$(PY) -m devstack $@

bench: $(VENV)/.installed
	$(PY) -m bench $(BENCH_ARGS)

clean:
	-$(PY) -m devstack down
	rm -rf .devstack
