# cunbox — two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.stamp-installed
STAMP_NODE := node_modules/.stamp-installed
MPY_COPY := --copy protocol --copy firmware --copy tests/portable

.PHONY: all run test lint pytest test-mpy mpy-compile test-dates bench fuzz clean

all: test

$(STAMP_PY): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

install: $(STAMP_PY) $(STAMP_NODE)

run: install
	$(PY) -m server.run_demo

lint: $(STAMP_PY)
	$(VENV)/bin/ruff check .

pytest: install
	$(PY) -m pytest

test-mpy: $(STAMP_NODE)
	node tools/mpyrun.mjs $(MPY_COPY) tools/portable_tests.py

mpy-compile: $(STAMP_PY)
	$(PY) tools/compile_mpy.py protocol firmware

test: lint mpy-compile test-mpy pytest

# The suite at each instant where day and month arithmetic goes wrong (tests/conftest.py names them);
# `make test` runs it at one of them.
DATES := month-end utc-month-end year-end leap-day beijing-midnight
test-dates: install
	for at in $(DATES); do echo "== CUNBOX_TEST_AT=$$at"; CUNBOX_TEST_AT=$$at $(PY) -m pytest -q -p no:cacheprovider || exit 1; done

bench: install
	$(PY) -m bench

fuzz: install
	$(PY) -m bench.fuzz

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .hypothesis
