# Two commands for a newcomer: `make run` (local service) and `make test` (everything CI runs).
# Both create .venv (Python 3.11) and node_modules (Azurite) when missing.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-stamp
NODE_STAMP := node_modules/.install-stamp
HOST ?= 127.0.0.1
PORT ?= 7071

.PHONY: run test test-scale bench lint deps clean

deps: $(DEPS_STAMP) $(NODE_STAMP)

$(DEPS_STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=/path/to/python3.11)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: deps
	@HOST=$(HOST) PORT=$(PORT) ./scripts/run-local.sh

test: deps
	$(PY) -m pytest

test-scale: deps
	SCIM_TEST_GROUP_SIZE=50000 $(PY) -m pytest -s tests/storage/test_group_scale.py -k large_group

bench: deps
	$(PY) -m bench

lint: deps
	$(PY) -m ruff check .
	$(PY) -m mypy

clean:
	rm -rf $(VENV) node_modules .azurite .pytest_cache .mypy_cache .ruff_cache
