# The two commands of the README. Both create .venv on first use (only Python 3.11+ and make needed).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint bench ui install clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Rooftop needs Python 3.11+ (found %s); set PYTHON=python3.x" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP)

# Sync the example connections (connections/) into a fresh warehouse.duckdb and show what landed.
demo: $(STAMP)
	rm -f warehouse.duckdb warehouse.duckdb.wal
	$(BIN)/rooftop sync --all
	$(BIN)/rooftop status
	$(BIN)/python scripts/verify_demo.py warehouse.duckdb

# Lint and types first (seconds), then the whole suite, slow cases included (CI runs exactly this).
test: $(STAMP) lint
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not slow"

# Every issue-15 benchmark and its table of targets (bench/README.md); BENCH_ARGS=--quick for 200k rows only.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

ui: $(STAMP)
	$(BIN)/rooftop ui

clean:
	rm -rf $(VENV) warehouse.duckdb warehouse.duckdb.wal .pytest_cache
