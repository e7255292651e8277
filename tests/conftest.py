"""Shared fixtures: a private MLflow store per test, one trained run for the whole test run, the
shared flowers photos. Helpers: tests/helpers.py."""

import collections
import fcntl
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Under `make test` the suite inherits make's own variables, and every `make` a test runs would be a
# sub-make printing "make[1]: Entering directory ...": tests see make as a user at a prompt does.
for variable in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS"):
    os.environ.pop(variable, None)
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


# --- one real training run shared by every test that only reads it --------------------------------
# The command a person types first (`make train`, two epochs): its store, run id and terminal output.
SHARED_RUN_ARGS = ("train.epochs=2",)


@dataclass(frozen=True)
class SharedRun:
    """The real default training, done once per `pytest` run (across xdist workers).

    Read `uri` freely; a test that writes to a store (register, promote, log) takes `copy_store`.
    """

    uri: str
    run_id: str
    stdout: str
    stderr: str
    test_accuracy: float

    def copy_store(self, sqlite_uri: str) -> str:
        """Copy the store's database to `sqlite_uri`'s file (its artifacts stay shared, read-only)."""
        shutil.copyfile(self.uri.removeprefix("sqlite:///"), sqlite_uri.removeprefix("sqlite:///"))
        return sqlite_uri


def once_per_test_run(tmp_path_factory, name: str, build) -> dict:
    """`build(folder)`'s JSON-able result, computed by the first xdist worker that asks; the others
    wait on a file lock and read it. Under xdist every worker's temp base sits in one folder per
    run, so nothing leaks from an earlier `pytest`."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder, result = base / f"shared-{name}", base / f"shared-{name}.json"
    with open(base / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not result.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            try:
                value = {"ok": build(folder)}
            except Exception as err:  # every worker reports it, none retries for minutes
                value = {"error": f"{type(err).__name__}: {err}"}
            result.write_text(json.dumps(value))
        value = json.loads(result.read_text())
    if "error" in value:
        pytest.fail(f"shared '{name}' could not be built: {value['error']}", pytrace=False)
    return value["ok"]


def _train_shared_run(folder: Path) -> dict:
    from tests.helpers import client, run_id_of, train

    uri = f"sqlite:///{folder / 'mlflow.db'}"
    out = train(uri, folder / "outputs", *SHARED_RUN_ARGS)
    if out.returncode != 0:
        raise RuntimeError(f"`app train {' '.join(SHARED_RUN_ARGS)}` failed:\n{out.stderr[-3000:]}")
    run_id = run_id_of(out.stdout)
    accuracy = client(uri).get_run(run_id).data.metrics["test_accuracy"]
    return {"uri": uri, "run_id": run_id, "stdout": out.stdout, "stderr": out.stderr, "test_accuracy": accuracy}


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory) -> SharedRun:
    """The default digits MLP trained for 2 epochs by the real `python -m app train`, registered
    as digits-classifier@champion in its own SQLite store."""
    return SharedRun(**once_per_test_run(tmp_path_factory, "digits-run", _train_shared_run))


@pytest.fixture
def shared_run_store(shared_run, mlflow_store) -> SharedRun:
    """`mlflow_store` (this test's own store, MLflow pointed at it) holding a copy of the shared run."""
    shared_run.copy_store(mlflow_store)
    return shared_run


def pytest_collection_modifyitems(items):
    """Modules with the most slow tests first, each module kept whole (its module-scoped servers start once).

    On two xdist workers (`make test`, `--dist loadscope`) the long modules then run while the
    short ones fill the gaps, instead of one long module starting last and running alone.
    """
    slow_tests = {(item.module.__name__, item.originalname) for item in items if item.get_closest_marker("slow")}
    slow = collections.Counter(module for module, _ in slow_tests)  # a parametrized test counts once
    items.sort(key=lambda item: -slow[item.module.__name__])  # most slow tests first; stable within a module
