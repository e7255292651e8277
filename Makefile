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

help: ## list the targets and the variables they take
	@echo "Targets:"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  make %-21s %s\n", $$1, $$2}'
	@echo
	@echo "Variables (make TARGET NAME=value; the value in use is in brackets):"
	@printf '  %-21s %s [%s]\n' \
		CONFIG "train, preview, tune: experiment YAML (default pipelines/configs/digits_mlp.yaml)" "$(CONFIG)" \
		ARGS "extra arguments for the command, e.g. ARGS='train.epochs=5' or ARGS='--top-k 3'" "$(ARGS)" \
		DATA "train-*: digits, a folder of class folders, mnist, cifar10, ... or tfds:NAME" "$(DATA)" \
		MODEL_NAME "serve, web, predict, promote: the registered model (its @champion)" "$(MODEL_NAME)" \
		MODEL "evaluate: models:/NAME@ALIAS, models:/NAME/VERSION or a run id" "$(MODEL)" \
		EVAL_DATA "evaluate: a config or a folder of class folders" "$(EVAL_DATA)" \
		PATHS "predict: image files and folders, space-separated, e.g. PATHS=\"photo.jpg folder/\"" "$(PATHS)" \
		SERVE_PORT "serve, serve-mlflow: port on 127.0.0.1" "$(SERVE_PORT)" \
		WEB_PORT "web: port on 127.0.0.1" "$(WEB_PORT)" \
		MLFLOW_SERVER_PORT "mlflow-server: port on 127.0.0.1" "$(MLFLOW_SERVER_PORT)" \
		MLFLOW_BACKEND_STORE "mlflow-server: its store, e.g. postgresql://... (default SQLite in mlflow-server/)" "$(MLFLOW_BACKEND_STORE)" \
		POSTGRES_PORT "postgres: port on 127.0.0.1 (on first start)" "$(POSTGRES_PORT)" \
		PREVIEW "preview: output PNG" "$(PREVIEW)" \
		SPACE "tune: search-space YAML" "$(SPACE)" \
		TRIALS "tune: finished + pruned trials the study should reach" "$(TRIALS)" \
		TEST_WORKERS "test, test-fast: pytest-xdist worker processes" "$(TEST_WORKERS)" \
		PYTHON "install: the python that creates .venv" "$(PYTHON)" \
		TF_CPP_MIN_LOG_LEVEL "(environment) TensorFlow's C++ log level, 0 shows all" "$(TF_CPP_MIN_LOG_LEVEL)" \
		MLFLOW_TRACKING_URI "(environment) the MLflow tracking store" "$${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db}"

# Quiet on stdout (progress on stderr), so that `make predict > out.csv` stays a clean CSV on a
# fresh checkout too.
$(STAMP): requirements.lock pyproject.toml
	@echo "installing the pinned dependencies into $(VENV) (requirements.lock)" >&2
	@{ test -x $(PY) || $(PYTHON) -m venv $(VENV); } >&2
	@$(PY) -m pip install --quiet --upgrade pip >&2
	@$(PY) -m pip install --quiet -r requirements.lock >&2
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install the pinned dependencies (quick when done)

train: $(STAMP) ## train the default experiment (MLP on the embedded digits) and log it to MLflow
	$(PY) -m app train $(CONFIG) $(ARGS)

# pytest's last line gives the total time; --durations lists the slowest tests above it.
# Two pytest-xdist workers: most slow tests wait on subprocesses and servers, so two share 2 cores well.
# --dist loadscope keeps each module on one worker (its servers and trained runs start once); the
# modules with slow tests go first (tests/conftest.py). The screenshots are `make docs`, not tests.
TEST_WORKERS ?= 2
test: $(STAMP) chromium postgres-server ## run the whole test suite, offline, on TEST_WORKERS (2) processes (installs Debian chromium and postgresql for their tests)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope --durations=15

test-fast: $(STAMP) ## the suite without the tests marked slow (end-to-end runs, servers, browser)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadscope -m "not slow" --durations=10

lint: $(STAMP) ## ruff check and format check
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff format and fix
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

ui: $(STAMP) ## the MLflow UI on 127.0.0.1:5000 over the embedded store (created or upgraded under the store's lock first)
	@MLFLOW_TRACKING_URI=$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlflow.db} $(PY) -m pipelines.tracking.store
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
	@$(PY) -m app evaluate --model $(MODEL) --data $(EVAL_DATA)

gradient-demo: $(STAMP) ## vanishing (deep sigmoid) vs healthy (ReLU + He) gradients: both runs in MLflow, gradient_demo.png
	$(PY) -m app gradient-demo $(ARGS)

# --- tracking server, compare/promote, serving, web page, batch predict ---
.PHONY: chromium mlflow-server postgres postgres-server compare promote serve serve-mlflow web predict
MODEL_NAME ?= digits-classifier
SERVE_PORT ?= 5001
WEB_PORT ?= 8000
MLFLOW_SERVER_PORT ?= 5050
PATHS ?=

chromium: ## install Debian's chromium (for the browser test) only when /usr/bin/chromium is missing
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 \
		|| echo >&2 "warning: could not install chromium (needs root and the Debian mirror); the browser test will be skipped"

# The backend store is SQLite unless MLFLOW_BACKEND_STORE names another (postgresql://..., `make postgres`).
# Artifacts are proxied either way: clients upload through the server, which stores them in mlflow-server/artifacts.
MLFLOW_BACKEND_STORE ?=
mlflow-server: $(STAMP) ## a real MLflow tracking server on 127.0.0.1:5050 (MLFLOW_BACKEND_STORE, proxied artifacts in mlflow-server/)
	@mkdir -p mlflow-server
	@$(VENV)/bin/mlflow server --backend-store-uri "$(or $(MLFLOW_BACKEND_STORE),sqlite:///$(CURDIR)/mlflow-server/mlflow.db)" \
		--artifacts-destination $(CURDIR)/mlflow-server/artifacts --host 127.0.0.1 --port $(MLFLOW_SERVER_PORT)

POSTGRES_PORT ?= 5433
postgres-server: ## install Debian's postgresql (for make postgres and the team tests) only when its initdb is missing
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2 \
		|| echo >&2 "warning: could not install postgresql (needs root and the Debian mirror)"

postgres: $(STAMP) postgres-server ## a local PostgreSQL on 127.0.0.1:POSTGRES_PORT for MLflow and Optuna (data and password in .postgres/)
	@$(PY) -m app.postgres start --dir .postgres --port $(POSTGRES_PORT)

compare: $(STAMP) ## the experiment's runs, best val accuracy first within each test split (ARGS=--log: log the plot)
	@$(PY) -m app compare $(ARGS)

promote: $(STAMP) ## register the best run's model as MODEL_NAME and move @champion to it (ARGS=--run-id ID)
	$(PY) -m app promote --name $(MODEL_NAME) $(ARGS)

serve: $(STAMP) ## serve MODEL_NAME@champion on 127.0.0.1:5001 (SERVE_PORT=): MLflow's API at /invocations and the web page at /, one process, adaptive batching (ARGS=--max-batch ...)
	$(PY) -m app serve --model models:/$(MODEL_NAME)@champion --host 127.0.0.1 --port $(SERVE_PORT) $(ARGS)

serve-mlflow: $(STAMP) ## the bare mlflow models serve on 127.0.0.1:5001 (no request-size limit; errors may quote the request)
	MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT=30 $(VENV)/bin/mlflow models serve -m models:/$(MODEL_NAME)@champion \
		--env-manager local -h 127.0.0.1 -p $(SERVE_PORT)

web: $(STAMP) ## the same server on 127.0.0.1:WEB_PORT (8000), saying where to open its page: drop or choose images, see the top-k classes
	$(PY) -m app web --model models:/$(MODEL_NAME)@champion --host 127.0.0.1 --port $(WEB_PORT) $(ARGS)

# Without PATHS: one line saying how to give them ($(error) stops make without its own "*** Error" line).
predict: $(STAMP) ## CSV of predictions for PATHS (files and folders) with MODEL_NAME@champion
	$(if $(strip $(PATHS)),,$(error no images given; name them: make predict PATHS="photo.jpg folder/"))
	@$(PY) -m app predict --model models:/$(MODEL_NAME)@champion $(PATHS) $(ARGS)

# --- the README's screenshots (headless Chromium; each trains its own runs into a temp store) ---
.PHONY: docs-web-screenshots docs-mlflow-screenshots docs-screenshots
docs-web-screenshots: $(STAMP) chromium ## regenerate docs/web-page.png and docs/web-page-360.png (trains a tiny model, ~2 min)
	$(PY) -m tests.docs_screenshots

docs-mlflow-screenshots: $(STAMP) chromium ## regenerate docs/mlflow-*.png: the README's MLflow UI walkthrough, clicked in the real UI (~4 min)
	$(PY) -m tests.docs_mlflow_screenshots

docs-screenshots: docs-web-screenshots docs-mlflow-screenshots ## regenerate every screenshot of the README

# --- search and lesson sweeps (Optuna; pipelines/search/, spaces in pipelines/search_spaces/) ---
.PHONY: tune sweep-activations sweep-initializers sweep-optimizers sweep-regularization sweep-capacity sweeps
SPACE ?= pipelines/search_spaces/digits_mlp.yaml
TRIALS ?= 20
SWEEP := $(PY) -m app tune --sampler grid --pruner none --trials 100

tune: $(STAMP) ## Optuna search over SPACE (TRIALS=20, CONFIG=, ARGS=--storage/--study/...); resumes after a kill
	$(PY) -m app tune --space $(SPACE) --trials $(TRIALS) $(CONFIG) $(ARGS)

sweep-activations: $(STAMP) ## lesson: 7 activations on the digits MLP (grid), comparison plot on the parent run
	$(SWEEP) --space pipelines/search_spaces/lesson_activations.yaml pipelines/configs/digits_mlp.yaml $(ARGS)

sweep-initializers: $(STAMP) ## lesson: zeros / random normal / Xavier / He in a deep MLP; gradient health per layer
	$(SWEEP) --space pipelines/search_spaces/lesson_initializers.yaml pipelines/configs/digits_mlp.yaml $(ARGS)

sweep-optimizers: $(STAMP) ## lesson: SGD, momentum, Nesterov, Adagrad, RMSProp, Adam, AdamW at their usual rates
	$(SWEEP) --space pipelines/search_spaces/lesson_optimizers.yaml pipelines/configs/digits_mlp.yaml $(ARGS)

sweep-regularization: $(STAMP) ## lesson: none / L2 / dropout / BN / entropy / smoothing / augmentation, 60 flowers per class
	$(SWEEP) --space pipelines/search_spaces/lesson_regularization.yaml pipelines/configs/flowers_mlp.yaml $(ARGS)

sweep-capacity: $(STAMP) ## lesson: decision regions of MLPs with 1, 2, 3, 10, 100 hidden units on moons, circles, spirals
	$(PY) -m app capacity-demo $(ARGS)

sweeps: sweep-activations sweep-initializers sweep-optimizers sweep-regularization sweep-capacity ## every lesson sweep above

# --- every generated picture and output of README.md and docs/ (tests check they still work) ---
.PHONY: docs docs-outputs
docs-outputs: $(STAMP) ## rewrite the guides' output blocks of the commands tests/test_docs.py runs, from what they print now
	$(PY) -m tests.test_docs

docs: docs-screenshots docs-outputs ## regenerate every screenshot and generated output of README.md and docs/ (~8 min)
