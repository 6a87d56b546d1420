# cunbox — two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.stamp-installed
STAMP_NODE := node_modules/.stamp-installed
# hardware_sim/fakes.py (the hardware stand-ins the portable tests use) is copied alone: the rest of
# hardware_sim/ is CPython only.
MPY_COPY := --copy protocol --copy firmware --copy hardware_sim/__init__.py --copy hardware_sim/fakes.py \
	--copy tests/portable
# Installs print one line each; what pip and npm say goes to this log, whose end is shown if one fails.
INSTALL_LOG := build/install.log
# $(call logged,what,command)
logged = echo "cunbox: $(1) (output in $(INSTALL_LOG))"; mkdir -p $(dir $(INSTALL_LOG)); \
	{ echo "== $$(date '+%F %T') $(1)"; $(2); } >>$(INSTALL_LOG) 2>&1 || \
	{ echo "cunbox: $(1) failed; the end of $(INSTALL_LOG):"; tail -n 30 $(INSTALL_LOG); exit 1; }

.PHONY: all install run test lint pytest test-mpy mpy-compile test-dates bench fuzz clean board-mpy board-unix

all: test

$(STAMP_PY): setup.cfg pyproject.toml
	@$(call logged,installing Python packages into $(VENV),{ test -x $(PY) || $(PYTHON) -m venv $(VENV); } && \
		$(PY) -m pip install --upgrade pip && $(PY) -m pip install -e '.[dev]')
	@touch $@

$(STAMP_NODE): package.json package-lock.json
	@$(call logged,installing node packages,npm ci --no-audit --no-fund)
	@touch $@

install: $(STAMP_PY) $(STAMP_NODE)

# `make run` keeps the demo's data (instance/demo) from the last run; `make run FRESH=1` starts afresh.
run: export CUNBOX_DEMO_FRESH := $(or $(FRESH),$(CUNBOX_DEMO_FRESH))
run: install
	@$(PY) -m server.demo.run

# ruff, then the import contracts of .importlinter (no import cycle in firmware/ or protocol/, the boot
# path imports downwards, hardware_sim/ imports nothing of server/)
lint: $(STAMP_PY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

# The suite on every core (pytest-xdist; `make test PYTEST_WORKERS=0` runs it serially, as plain `pytest` does).
# loadgroup: the tests of a module that share a module-scoped fixture stay on one worker (tests/conftest.py).
PYTEST_WORKERS ?= auto
pytest: install
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

test-mpy: $(STAMP_NODE)
	node tools/mpyrun.mjs $(MPY_COPY) tools/portable_tests.py

mpy-compile: $(STAMP_PY)
	$(PY) tools/compile_mpy.py protocol firmware

test: lint mpy-compile test-mpy pytest

# Board builds (docs/board-build.md), not part of `make test`: the .mpy of protocol/ and firmware/ for
# ESP32 (xtensawin) and RP2040 (armv6m) into build/board/, and MicroPython's unix port built with
# boards/unix_manifest.py frozen in, the portable tests run against the frozen modules. board-unix needs
# a MicroPython 1.27 source tree, fetched once: make board-unix MICROPY_DIR=/path/to/micropython
board-mpy: $(STAMP_PY)
	$(PY) tools/board_build.py mpy

board-unix: $(STAMP_PY)
	@test -n "$(MICROPY_DIR)" || { echo "board-unix: set MICROPY_DIR to a MicroPython 1.27 source tree" \
		"(git clone https://github.com/micropython/micropython; git checkout v1.27.0; no submodules needed)"; exit 2; }
	$(PY) tools/board_build.py unix $(MICROPY_DIR)

# The suite at each instant where day and month arithmetic goes wrong (tests/support/instants.py names them);
# `make test` runs it at one of them.
DATES := month-end utc-month-end year-end leap-day beijing-midnight
test-dates: install
	for at in $(DATES); do echo "== CUNBOX_TEST_AT=$$at"; CUNBOX_TEST_AT=$$at $(PY) -m pytest -q -p no:cacheprovider || exit 1; done

bench: install
	$(PY) -m bench

fuzz: install
	$(PY) -m bench.fuzz

clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .hypothesis $(INSTALL_LOG)
