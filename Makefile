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
.PHONY: help install train test test-fast lint format ui bench

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

test: $(STAMP) chromium ## run the whole test suite, offline (installs Debian chromium for the browser test)
	$(PY) -m pytest -q

test-fast: $(STAMP) ## the suite without the tests marked slow (end-to-end runs, servers, browser)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff format and fix
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

ui: $(STAMP) ## the MLflow UI on 127.0.0.1:5000 over the embedded store
	$(VENV)/bin/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db} --host 127.0.0.1 --port 5000

bench: $(STAMP) ## run every benchmark in bench/ (bench_*.py); JSON goes to bench/results/
	@mkdir -p bench/results
	@for script in bench/bench_*.py; do name=$$(basename $$script .py); echo "== bench.$$name"; $(PY) -m bench.$$name || exit 1; done

.PHONY: preview
PREVIEW ?= augment_preview.png
preview: $(STAMP) ## write a PNG grid of training images and their augmentations (CONFIG=, ARGS=, PREVIEW=file)
	$(PY) -m app preview-augment $(CONFIG) $(ARGS) --out $(PREVIEW)

# DATA= digits (default) | a folder of class sub-folders | mnist | fashion_mnist | cifar10 | cifar100 | tfds:NAME
DATA ?= digits
.PHONY: train-mlp train-vgg train-inception train-all bench-accuracy

train-mlp: $(STAMP) ## train the MLP family on DATA (default digits) and log it to MLflow
	$(PY) -m app train --family mlp --data "$(DATA)" $(ARGS)

train-vgg: $(STAMP) ## train the VGG-style family on DATA and log it to MLflow
	$(PY) -m app train --family vgg --data "$(DATA)" $(ARGS)

train-inception: $(STAMP) ## train the Inception-style family on DATA and log it to MLflow
	$(PY) -m app train --family inception --data "$(DATA)" $(ARGS)

train-all: train-mlp train-vgg train-inception ## all three families on the same DATA, then compare them
	$(PY) -m app compare --data "$(DATA)"

bench-accuracy: $(STAMP) ## time-to-accuracy, 3 regimes (flowers 10 min, 40/class 3 min, binary 3 min): recipe anchor vs our families, TTA, matmul share (~75 min)
	$(PY) -m bench.accuracy $(ARGS)

.PHONY: evaluate gradient-demo
MODEL ?= models:/digits-classifier@champion
EVAL_DATA ?= pipelines/configs/digits_mlp.yaml

evaluate: $(STAMP) ## evaluation report for MODEL (models:/... or run id) on EVAL_DATA (config or folder)
	$(PY) -m app evaluate --model $(MODEL) --data $(EVAL_DATA)

gradient-demo: $(STAMP) ## vanishing (deep sigmoid) vs healthy (ReLU + He) gradients, logged to MLflow
	$(PY) -m app train pipelines/configs/gradient_demo_sigmoid.yaml $(ARGS)
	$(PY) -m app train pipelines/configs/gradient_demo_relu.yaml $(ARGS)

# --- tracking server, compare/promote, serving, web page, batch predict ---
.PHONY: chromium mlflow-server compare promote serve serve-mlflow web predict
MODEL_NAME ?= digits-classifier
SERVE_PORT ?= 5001
WEB_PORT ?= 8000
MLFLOW_SERVER_PORT ?= 5050
PATHS ?=

chromium: ## install Debian's chromium (for the browser test) only when /usr/bin/chromium is missing
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| echo "warning: could not install chromium (needs root and the Debian mirror); the browser test will be skipped"

mlflow-server: $(STAMP) ## a real MLflow tracking server on 127.0.0.1:5050 (SQLite, proxied artifacts in mlflow-server/)
	@mkdir -p mlflow-server
	$(VENV)/bin/mlflow server --backend-store-uri sqlite:///$(CURDIR)/mlflow-server/mlflow.db \
		--artifacts-destination $(CURDIR)/mlflow-server/artifacts --host 127.0.0.1 --port $(MLFLOW_SERVER_PORT)

compare: $(STAMP) ## table of the experiment's runs, best val_accuracy first; plot logged to MLflow (ARGS=--sort-by ...)
	$(PY) -m app compare $(ARGS)

promote: $(STAMP) ## register the best run's model as MODEL_NAME and move @champion to it (ARGS=--run-id ID)
	$(PY) -m app promote --name $(MODEL_NAME) $(ARGS)

serve: $(STAMP) ## serve MODEL_NAME@champion on 127.0.0.1:5001: mlflow models serve behind limits and short errors
	$(PY) -m app serve --model models:/$(MODEL_NAME)@champion --host 127.0.0.1 --port $(SERVE_PORT) $(ARGS)

serve-mlflow: $(STAMP) ## the bare mlflow models serve on 127.0.0.1:5001 (no request-size limit; errors may quote the request)
	MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT=30 $(VENV)/bin/mlflow models serve -m models:/$(MODEL_NAME)@champion \
		--env-manager local -h 127.0.0.1 -p $(SERVE_PORT)

web: $(STAMP) ## web page on 127.0.0.1:8000: upload an image, see MODEL_NAME@champion's top-k classes
	$(PY) -m app web --model models:/$(MODEL_NAME)@champion --host 127.0.0.1 --port $(WEB_PORT)

predict: $(STAMP) ## CSV of predictions for PATHS (files and folders) with MODEL_NAME@champion
	$(PY) -m app predict --model models:/$(MODEL_NAME)@champion $(PATHS) $(ARGS)
