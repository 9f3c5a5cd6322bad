VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: run test lint install install-test clean

$(VENV)/bin/activate:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set (as in some shells and images) Python would
# otherwise compile every module of ours again at each start of each service (about 0.4 CPU-s per `sandbox up`).
install: $(VENV)/bin/activate
	$(PY) -m pip install -q -e .
	$(PY) -m compileall -q sandbox services usecases

install-test: $(VENV)/bin/activate
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m compileall -q sandbox services usecases

run: install
	$(VENV)/bin/sandbox up

# Lint, format and the import boundaries (docs/ARCHITECTURE.md) come before the tests.
lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var
