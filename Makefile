# Every target that needs the environment depends on .venv/.stamp, which is rebuilt
# whenever pyproject.toml changes. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp

# Prefect: a project-local home, no analytics, a generous start-up timeout for the
# temporary local API (its start takes 10-20 s on 2 cores).
export PREFECT_HOME ?= $(CURDIR)/data/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
export PREFECT_LOGGING_EXTRA_LOGGERS ?= accesswatch

.PHONY: help demo test run serve lint bench clean eval train-detector

help:
	@echo "make demo   - run the pipeline end to end on the bundled offline news site"
	@echo "make test   - run the test suite"
	@echo "make run    - run the monitor flow once on config/ (real feeds)"
	@echo "make serve  - run the monitor flow on its schedule (starts a local Prefect server; Ctrl-C stops)"
	@echo "make lint   - ruff"
	@echo "make eval   - the detector's figures on the labelled corpus (dev, test, blind)"
	@echo "make train-detector - retrain the detector's calibration model after a rules or corpus change"
	@echo "make clean  - remove .venv and data/"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/accesswatch demo

run: $(STAMP)
	$(BIN)/accesswatch run

# Scheduled runs (config: schedule.interval_minutes); a local Prefect server unless
# PREFECT_API_URL is set. See prefect.yaml for a work pool with workers instead.
serve: $(STAMP)
	$(BIN)/accesswatch serve

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src flows tests bench

eval: $(STAMP)
	@for s in dev test blind; do COLUMNS=200 $(BIN)/accesswatch eval tests/data/detect --split $$s --no-errors | head -2 || true; done

train-detector: $(STAMP)
	$(BIN)/accesswatch train-detector tests/data/detect

clean:
	rm -rf $(VENV) data

# Benchmark (issue 7): needs ../shared/corpus; sizes via BENCH_ARGS, e.g. BENCH_ARGS=--large
bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
