"""The embedded SQLite store when several commands use it at once: one creator, bounded waits.

MLflow creates and upgrades a SQLite store's tables (alembic migrations) in whichever process
touches it first, with no lock: two commands started together on a new store both migrate it,
fail with `table ... already exists` and may leave `_alembic_tmp_*` tables behind, after which
every command fails. So each command takes an exclusive file lock next to the database
(`mlflow.db.lock`) while MLflow opens the store, and only then goes on; the lock is held for
the ~0.2 s that opening takes, or the few seconds of a first creation.

A database locked by another writer (a long transaction) is waited for, up to
BUSY_TIMEOUT_SECONDS for every statement, then reported in one line. A store left
half-migrated (by a killed command, or by two commands before this lock existed) is reported
in one line with the command that repairs it: `python -m pipelines.tracking.sqlite_store --repair DB`.
"""

import fcntl
import logging
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

# How long one statement waits for another process's write lock (MLflow's own sessions wait 20 s).
BUSY_TIMEOUT_SECONDS = 20.0
# How long a command waits for another to finish creating or upgrading the store.
CREATE_WAIT_SECONDS = 300.0
LEFTOVER_PREFIX = "_alembic_tmp_"


class StoreLocked(RuntimeError):
    """Another process holds the database (or its creation lock) for longer than we wait."""


class StoreNeedsRepair(RuntimeError):
    """The store's tables are half-migrated; the message says how to repair it."""


def database_path(uri: str) -> Path | None:
    """sqlite:////abs/mlflow.db -> /abs/mlflow.db; None for in-memory or non-SQLite URIs."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def open_store(uri: str, open_mlflow_stores) -> None:
    """For a SQLite `uri`: run `open_mlflow_stores()` (MLflow creates/upgrades the tables) under the store's lock."""
    path = database_path(uri)
    if path is None:
        return  # a tracking server serializes its own store
    wait_for_busy_databases()
    path.parent.mkdir(parents=True, exist_ok=True)
    with creation_lock(path):
        if path.exists():
            check_readable(path)
            check_not_half_migrated(path)
        try:
            open_mlflow_stores()
        except Exception as err:
            raise _one_line(err, path) from None


@contextmanager
def creation_lock(path: Path):
    """An exclusive flock on `<db>.lock`, waited for at most CREATE_WAIT_SECONDS."""
    lock_path = path.with_name(path.name + ".lock")
    try:
        lock_file = open(lock_path, "a")  # noqa: SIM115 - closed by the with below
    except OSError as err:  # a read-only folder: nothing here can create or upgrade the store anyway
        log.info("no creation lock for %s (%s)", path, err)
        yield
        return
    with lock_file:
        deadline = time.monotonic() + CREATE_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreLocked(
                        f"the MLflow store {path} is being created or upgraded by another command "
                        f"(lock {lock_path}) for over {CREATE_WAIT_SECONDS:.0f} s; try again when it ends"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def check_readable(path: Path) -> None:
    """Wait up to BUSY_TIMEOUT_SECONDS for another process's exclusive lock, then one line."""
    try:
        with _connection(path) as connection:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as err:
        if "locked" in str(err) or "busy" in str(err):
            raise StoreLocked(_locked_message(path)) from None
        raise StoreNeedsRepair(f"the MLflow store {path} cannot be read ({err})") from None
    except sqlite3.DatabaseError as err:  # not a database at all (a corrupt or foreign file)
        raise StoreNeedsRepair(
            f"the MLflow store {path} is not a readable SQLite database ({err}); restore it from a backup "
            "or point MLFLOW_TRACKING_URI at another store"
        ) from None


def check_not_half_migrated(path: Path) -> None:
    with _connection(path) as connection:
        leftovers = leftover_tables(connection)
    if leftovers:
        raise StoreNeedsRepair(
            f"the MLflow store {path} was left half-upgraded (leftover table(s) {', '.join(leftovers)}); "
            f"back it up (cp {path} {path}.bak), then repair it: "
            f"{Path(sys.executable).name} -m pipelines.tracking.sqlite_store --repair {path}"
        )


def leftover_tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").fetchall()
    return [name for (name,) in rows if name.startswith(LEFTOVER_PREFIX)]


def wait_for_busy_databases() -> None:
    """Every SQLite connection SQLAlchemy opens in this process waits BUSY_TIMEOUT_SECONDS for a lock.

    MLflow sets a busy timeout on its sessions but not on the connections that open the store
    (table checks, schema version), which wait only pysqlite's default 5 s.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _set_busy_timeout):
        event.listen(Engine, "connect", _set_busy_timeout)


def _set_busy_timeout(dbapi_connection, _record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")


def is_locked_error(err: BaseException) -> bool:
    """True when `err` (or what it wraps: MLflow wraps SQLAlchemy, which wraps sqlite3) is SQLite's lock error."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, sqlite3.OperationalError) and ("locked" in str(err) or "busy" in str(err)):
            return True
        err = getattr(err, "orig", None) or err.__cause__ or err.__context__
    return False


def _one_line(err: Exception, path: Path) -> Exception:
    if isinstance(err, (StoreLocked, StoreNeedsRepair)):
        return err
    if is_locked_error(err):
        return StoreLocked(_locked_message(path))
    text = str(err)
    if "out-of-date database schema" in text:
        return StoreNeedsRepair(
            f"the MLflow store {path} was made by another MLflow version ({text.split('(', 1)[1].split(')')[0]}); "
            f"back it up (cp {path} {path}.bak), then run: mlflow db upgrade sqlite:///{path}"
        )
    if "already exists" in text or "alembic" in type(err).__module__:
        return StoreNeedsRepair(
            f"the MLflow store {path} could not be created or upgraded ({text.splitlines()[0][:120]}); "
            f"back it up, then repair it: {Path(sys.executable).name} -m pipelines.tracking.sqlite_store --repair {path}"
        )
    return err


def _locked_message(path: Path) -> str:
    return (
        f"the MLflow store {path} is locked by another process (waited {BUSY_TIMEOUT_SECONDS:.0f} s): "
        "try again when it finishes (an open sqlite3 session or a stuck command?)"
    )


@contextmanager
def _connection(path: Path):
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)
    try:
        yield connection
    finally:
        connection.close()


def repair(path: Path) -> list[str]:
    """Finish what an interrupted migration left: leftover copies dropped, orphaned ones renamed back; then upgrade.

    SQLite migrations rebuild a table as `_alembic_tmp_<name>`: copy the rows, drop `<name>`,
    rename the copy. Interrupted before the drop, the original is intact and the copy is
    dropped; after it, the copy is the only one and takes the original's name again.
    """
    done = []
    with creation_lock(path), _connection(path) as connection:
        existing = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for leftover in leftover_tables(connection):
            original = leftover.removeprefix(LEFTOVER_PREFIX)
            if original in existing:
                connection.execute(f'DROP TABLE "{leftover}"')
                done.append(f"dropped {leftover} ({original} is intact)")
            else:
                connection.execute(f'ALTER TABLE "{leftover}" RENAME TO "{original}"')
                done.append(f"renamed {leftover} to {original}")
        connection.commit()
        # MLflow's own upgrade, as `mlflow db upgrade` runs it, finishes the migrations.
        upgrade = [sys.executable, "-m", "mlflow", "db", "upgrade", f"sqlite:///{path}"]
        result = subprocess.run(upgrade, capture_output=True, text=True)
        if result.returncode != 0:
            tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"mlflow db upgrade failed after the repair ({tail})")
    return [*done, "upgraded to this MLflow's schema"]


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--repair":
        print("usage: python -m pipelines.tracking.sqlite_store --repair PATH/mlflow.db", file=sys.stderr)
        sys.exit(2)
    db = Path(sys.argv[2])
    if not db.is_file():
        print(f"error: {db} is not a file", file=sys.stderr)
        sys.exit(1)
    try:
        for line in repair(db):
            print(line)
    except (RuntimeError, sqlite3.Error) as failure:
        print(f"error: {failure}", file=sys.stderr)
        sys.exit(1)
    print(f"{db} repaired")
