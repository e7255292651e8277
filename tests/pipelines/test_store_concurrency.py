"""Several commands on one SQLite store: a new store is created once, a half-migrated one is repaired."""

import sqlite3
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, env_for

# What every command does first (pipelines.tracking.store.setup_mlflow), then a write and a read.
SCRIPT = """
from pipelines.tracking.store import setup_mlflow
mlflow = setup_mlflow("race")
with mlflow.start_run() as run:
    mlflow.log_metric("m", 1.0)
print("ok", mlflow.get_run(run.info.run_id).data.metrics["m"])
"""


def start(tracking_uri: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env_for(tracking_uri),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def tables(db) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


@pytest.mark.slow
def test_three_processes_started_together_on_a_new_store_all_succeed(tmp_path):
    db = tmp_path / "mlflow.db"
    processes = [start(f"sqlite:///{db}") for _ in range(3)]
    # And what `make ui` runs before `mlflow ui`, at the same moment.
    ui = subprocess.Popen(
        [sys.executable, "-m", "pipelines.tracking.store"],
        cwd=ROOT,
        env=env_for(f"sqlite:///{db}"),
        stderr=subprocess.PIPE,
        text=True,
    )
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in processes]
    assert ui.wait(timeout=300) == 0
    assert ui.stderr.read() == ""  # quiet: no traceback, no MLflow table-creation lines
    for code, out, err in results:
        assert code == 0, err[-3000:]
        assert "Traceback" not in err
        assert out.strip() == "ok 1.0"
    assert not {t for t in tables(db) if t.startswith("_alembic_tmp_")}
    # Usable afterwards: three runs in the one experiment.
    from tests.helpers import client

    c = client(f"sqlite:///{db}")
    assert len(c.search_runs([c.get_experiment_by_name("race").experiment_id])) == 3


def make_store(tmp_path):
    db = tmp_path / "mlflow.db"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env_for(f"sqlite:///{db}"), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return db


@pytest.mark.slow
@pytest.mark.parametrize("interrupted", ["before the drop", "after the drop"])
def test_a_half_migrated_store_is_one_line_and_the_repair_command_fixes_it(tmp_path, interrupted):
    db = make_store(tmp_path)
    with sqlite3.connect(db) as connection:
        # What an interrupted SQLite migration leaves: a copy of `metrics` being rebuilt, and
        # (after the drop) no original any more.
        connection.execute("CREATE TABLE _alembic_tmp_metrics AS SELECT * FROM metrics")
        if interrupted == "after the drop":
            connection.execute("DROP TABLE metrics")
    command = [sys.executable, "-m", "app", "compare", "--experiment", "race"]
    broken = subprocess.run(command, cwd=ROOT, env=env_for(f"sqlite:///{db}"), capture_output=True, text=True)
    assert broken.returncode == 1
    assert "Traceback" not in broken.stderr
    (line,) = broken.stderr.strip().splitlines()
    assert "half-upgraded" in line
    assert "_alembic_tmp_metrics" in line
    repair_command = line.split("repair it: ")[1].split()
    assert repair_command[1:4] == ["-m", "pipelines.tracking.sqlite_store", "--repair"]

    repaired = subprocess.run(
        [sys.executable, *repair_command[1:]], cwd=ROOT, env=env_for(f"sqlite:///{db}"), capture_output=True, text=True
    )
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert "_alembic_tmp_metrics" not in tables(db)
    assert "metrics" in tables(db)
    fixed = subprocess.run(command, cwd=ROOT, env=env_for(f"sqlite:///{db}"), capture_output=True, text=True)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT value FROM metrics WHERE key = 'm'").fetchall() == [(1.0,)]


def hold_exclusive(db, seconds: float):
    """BEGIN EXCLUSIVE on `db` from a thread for `seconds`; returns once the lock is held."""
    import threading

    locked = threading.Event()

    def hold():
        connection = sqlite3.connect(db, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        time.sleep(seconds)
        connection.execute("ROLLBACK")
        connection.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert locked.wait(10)
    return thread


def test_a_store_locked_for_a_moment_is_waited_for(tmp_path, monkeypatch):
    from pipelines.tracking import store

    db = make_store(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    # Imported first, so the lock is still held when connect() reads the store.
    import mlflow

    hold_exclusive(db, 3)
    started = time.monotonic()
    try:
        mlflow = store.connect()
        assert mlflow.MlflowClient().get_experiment_by_name("race") is not None
    finally:
        sys.modules["mlflow"].set_tracking_uri(None)
    assert time.monotonic() - started >= 2.5  # it waited for the lock instead of failing


def test_a_store_locked_for_longer_than_the_busy_timeout_is_one_line(tmp_path, monkeypatch):
    from pipelines.tracking import sqlite_store, store

    db = make_store(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_SECONDS", 1.0)
    import mlflow  # noqa: F401 - imported before the lock is taken: its import alone can take seconds here

    thread = hold_exclusive(db, 10)
    try:
        with pytest.raises(sqlite_store.StoreLocked) as locked:
            store.connect()
    finally:
        sys.modules["mlflow"].set_tracking_uri(None)
        thread.join()
    assert str(locked.value) == (
        f"the MLflow store {db} is locked by another process (waited 1 s): "
        "try again when it finishes (an open sqlite3 session or a stuck command?)"
    )
    assert isinstance(locked.value, RuntimeError)  # the CLI prints it as one line
