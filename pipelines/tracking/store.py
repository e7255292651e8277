"""Where runs go: the tracking store (embedded SQLite or a server), its health check, the experiment."""

import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from pipelines.tracking import sqlite_store

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 3


class TrackingServerUnreachable(ConnectionError):
    """The tracking server did not answer; the message is the one line a user should read."""


def default_tracking_uri() -> str:
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def connect():
    """Point MLflow at MLFLOW_TRACKING_URI (or the embedded SQLite store); returns the module."""
    # A tracking server that goes down mid-run must fail in seconds, not after minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    if uri.startswith(("http://", "https://")):
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    # A new SQLite store is created here, by one command at a time (pipelines/tracking/sqlite_store.py).
    sqlite_store.open_store(uri, lambda: _open_stores(mlflow))
    return mlflow


def _open_stores(mlflow) -> None:
    """Make MLflow open (and so create or upgrade) both the tracking and the model registry tables."""
    client = mlflow.MlflowClient()
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)


def experiment_name(default: str) -> str:
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or default


def setup_mlflow(experiment: str):
    """Connect (see `connect`) and pick the experiment, creating it on first use."""
    mlflow = connect()
    uri = mlflow.get_tracking_uri()
    name = experiment_name(experiment)
    if mlflow.get_experiment_by_name(name) is None:
        location = None
        if uri.startswith("sqlite:///"):
            # Keep artifacts beside the SQLite file, not in whatever directory we run from.
            root = Path(uri.removeprefix("sqlite:///")).parent.resolve() / "mlartifacts"
            if root not in (root / name).resolve().parents:  # '../x' (MLFLOW_EXPERIMENT_NAME is not in the config)
                raise ValueError(f"experiment name {name!r} would keep its artifacts outside {root}")
            location = (root / name).as_uri()
        try:
            mlflow.create_experiment(name, artifact_location=location)
        except mlflow.exceptions.MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":  # another command created it a moment ago
                raise
    mlflow.set_experiment(name)
    return mlflow


def check_server(uri: str) -> None:
    """One quick GET /health, so a down server costs seconds and one line, not a stack of retries."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_SECONDS) as response:
            if response.status == 200:
                return
            reason = f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        reason = f"HTTP {err.code}"
    except (OSError, ValueError) as err:
        reason = str(getattr(err, "reason", err)) or type(err).__name__
    raise TrackingServerUnreachable(
        f"MLflow tracking server {uri} is unreachable ({reason}); start it (make mlflow-server) or unset MLFLOW_TRACKING_URI"
    )


def keep_project_packages_first() -> None:
    """Import our `data` and `models` packages before MLflow loads a served model in this process.

    Loading the model (also to validate its input example) puts the model's copies of data/ and
    models/ first on sys.path; a process that had not imported them yet would then import those
    temporary copies, and `data.config` and the rest would vanish with them.
    """
    import data  # noqa: F401
    import models  # noqa: F401


if __name__ == "__main__":
    # `make ui` runs this first: the embedded store is created or upgraded under our lock, not by
    # `mlflow ui` racing a training that starts at the same moment.
    import sys

    from data.errors import first_line

    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # not "Creating initial MLflow database tables..."
    try:
        connect()
    except Exception as err:  # one line, as every command of ours
        sys.exit(f"error: {first_line(err)}")
