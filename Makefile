# Image classifiers with Keras, tracked in MLflow. `make help` lists every target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# mlflow models serve execs uvicorn from PATH: the venv's bin/ must come first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 2
CONFIG ?=
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install train test lint format ui bench

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned dependencies (quick when done)

train: $(STAMP) ## train the default experiment (MLP on the embedded digits) and log it to MLflow
	$(PY) -m app train $(CONFIG) $(ARGS)

test: $(STAMP) ## run the whole test suite, offline
	$(PY) -m pytest -q

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff format and fix
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

ui: $(STAMP) ## the MLflow UI on 127.0.0.1:5000 over the embedded store
	$(VENV)/bin/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db} --host 127.0.0.1 --port 5000

bench: $(STAMP) ## run every benchmark in bench/ (bench_*.py); JSON goes to bench/results/
	@mkdir -p bench/results
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done
