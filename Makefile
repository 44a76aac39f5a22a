# Two commands for a newcomer: `make run` (local service) and `make test` (everything CI runs).
# Both create .venv and node_modules (Azurite) when missing. Python: the newest of 3.13, 3.12 and 3.11 found
# (scripts/find-python.sh), or PYTHON=python3.12 or a path (a pyenv shim that refuses is looked past); .venv is
# made again when it holds another version.

PYTHON_PATH := $(shell scripts/find-python.sh $(PYTHON))
PY_VERSION := $(shell $(PYTHON_PATH) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-stamp-$(PY_VERSION)
NODE_STAMP := node_modules/.install-stamp
HOST ?= 127.0.0.1
PORT ?= 7071

.PHONY: run test test-scale test-faults test-ui test-all bench bench-scale lint deps clean

deps: $(DEPS_STAMP) $(NODE_STAMP)

$(DEPS_STAMP): requirements.txt requirements-dev.txt
	@case "$(PY_VERSION)" in 3.13|3.12|3.11) ;; *) echo "Python 3.13, 3.12 or 3.11 is required; PYTHON=$(PYTHON)" \
		"is '$(PY_VERSION)'. Set PYTHON=/path/to/python3.13 (README, Two commands)." >&2; exit 1;; esac
	@if [ -x $(PY) ] && [ "$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$(PY_VERSION)" ]; then \
		echo "$(VENV) holds another Python; making it again with $(PY_VERSION)"; rm -rf $(VENV); fi
	@test -x $(PY) || $(PYTHON_PATH) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: deps
	@HOST=$(HOST) PORT=$(PORT) ./scripts/run-local.sh

# Four tiers, all run by CI (.ci/run): the suite, size proofs, long fault scenarios, the console in a browser.
test: deps
	$(PY) -m pytest -m "not scale and not faults and not ui"

test-scale: deps   # SCIM_TEST_GROUP_SIZE=N make test-scale for another size (50,000 takes hours on Azurite: docs/benchmarks.md)
	$(PY) -m pytest -s -m scale

test-faults: deps   # Debian's faketime is installed when missing (hosts with skewed clocks: tests/faults/test_clock_skew.py)
	@command -v faketime > /dev/null || (apt-get update -qq && apt-get install -y -qq faketime > /dev/null)
	$(PY) -m pytest -m faults

test-ui: deps   # Debian's chromium is installed when missing (Playwright's own browser download cannot work here)
	@command -v chromium > /dev/null || (apt-get update -qq && apt-get install -y -qq chromium > /dev/null)
	$(PY) -m pytest -m ui

test-all: test test-scale test-faults test-ui

bench: deps
	$(PY) -m bench

SIZES ?= 2000,20000
bench-scale: deps   # SIZES=10000,100000 make bench-scale for larger tenants (slow on Azurite: docs/benchmarks.md)
	$(PY) -m bench.scale --sizes $(SIZES)

lint: deps
	$(PY) -m ruff check .
	$(PY) -m mypy

clean:
	rm -rf $(VENV) node_modules .azurite .pytest_cache .mypy_cache .ruff_cache
