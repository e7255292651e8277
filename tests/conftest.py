"""Shared fixtures: a private MLflow store per test, the shared flowers photos. Helpers: tests/helpers.py."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
FLOWERS = SHARED_DATASETS / "flowers"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """An embedded SQLite MLflow store in a temp dir; returns its tracking URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    yield uri
    # A test that trains in-process (run_training) set MLflow's global URI to this store; left
    # there, it would send the next test's in-process reads (in the same xdist worker) here.
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)


@pytest.fixture
def flowers_dir():
    if not FLOWERS.is_dir():
        pytest.skip(f"shared flowers dataset not found at {FLOWERS}")
    return FLOWERS


@pytest.fixture(autouse=True)
def default_ctrl_c():
    """Every test starts with Python's own SIGINT handler (a test process may inherit SIGINT ignored,
    and the Ctrl-C tests, and the subprocesses they start, would then never see one)."""
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
