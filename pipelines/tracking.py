"""MLflow glue: where runs go, per-epoch metrics, the served model, the registry alias."""

import logging
import os
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

from data.errors import first_line

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The served model is a file of the app (MLflow "models from code"): referenced by path,
# never imported here, so pipelines/ stays free of app/.
SERVED_MODEL_CODE = PROJECT_ROOT / "app" / "served_model.py"
DECODE_PACKAGE = PROJECT_ROOT / "data"
# What the served model imports. Listing them skips MLflow's requirement inference, which
# loads the model in a subprocess and costs ~10 s per logged model.
SERVING_PACKAGES = ("mlflow", "tensorflow", "keras", "numpy", "pandas", "pillow")
PROBE_TIMEOUT_SECONDS = 3


def __getattr__(name: str):
    # The Keras callback lives in its own module so that `compare`, `promote` and `predict`
    # use this one without importing TensorFlow (~10 s); `tracking.MlflowMetrics` still works.
    if name == "MlflowMetrics":
        from pipelines.mlflow_callback import MlflowMetrics

        return MlflowMetrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    return mlflow


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
            location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts" / name).as_uri()
        mlflow.create_experiment(name, artifact_location=location)
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
    """Import our `data` package before MLflow loads a served model in this process.

    Loading the model (also to validate its input example) puts the model's copy of data/
    first on sys.path; a process that had not imported `data` yet would then import that
    temporary copy, and `data.config` and the rest would vanish with it.
    """
    import data  # noqa: F401


def log_served_model(mlflow, keras_path: Path, meta_path: Path, input_example, top_k: int = 3):
    """Log the pyfunc that serves raw image bytes; returns the ModelInfo."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    # No input schema on purpose: MLflow's schema enforcement answers a wrong column with the
    # request's repr in the message and refuses uint8 tensor batches; the model validates its
    # input itself (column `image` of base64 files, or (N, H, W, C) uint8 pixels).
    signature = ModelSignature(
        inputs=None,
        outputs=Schema([ColSpec("string", "label"), ColSpec("double", "probability")]),
        params=ParamSchema([ParamSpec("top_k", "long", top_k)]),
    )
    keep_project_packages_first()
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(SERVED_MODEL_CODE),
        artifacts={"keras_model": str(keras_path), "meta": str(meta_path)},
        code_paths=[str(DECODE_PACKAGE)],
        signature=signature,
        input_example=input_example,
        pip_requirements=[f"{name}=={version(name)}" for name in SERVING_PACKAGES],
    )


def register(mlflow, model_uri: str, name: str, alias: str, score: "Score | None" = None):
    """Register a model version and point `alias` at it only once the version is READY.

    Any failure (the model does not load as a pyfunc, registration errors, the version is
    not READY) raises before the alias moves, so the alias never points at a broken version.
    With a `score`, the alias moves only if the new model is at least as good as the one it
    points at (on the score's metric); otherwise the version is registered and the alias stays.
    Returns the version and, when the alias stayed, the one-line reason.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        flavors = mlflow.models.get_model_info(model_uri).flavors
    except (MlflowException, OSError) as err:
        raise RuntimeError(
            f"'{model_uri}' is not a loadable MLflow model ({first_line(err, 200)}); alias '{alias}' left unchanged"
        ) from None
    if "python_function" not in flavors:
        raise RuntimeError(f"'{model_uri}' has no python_function flavor; alias '{alias}' left unchanged")
    try:
        version = mlflow.register_model(model_uri, name)
    except MlflowException as err:
        raise RuntimeError(
            f"registering '{model_uri}' as '{name}' failed ({first_line(err, 200)}); alias '{alias}' left unchanged"
        ) from None
    client = MlflowClient()
    status = client.get_model_version(name, version.version).status
    if status != "READY":
        client.set_model_version_tag(name, version.version, "validation", "failed")
        raise RuntimeError(f"model version {name}/{version.version} is {status}; alias '{alias}' left unchanged")
    stays = _reason_alias_stays(client, name, alias, score) if score else None
    if stays:
        log.info("registered %s version %s; alias '%s' stays: %s", name, version.version, alias, stays)
        return version, stays
    client.set_registered_model_alias(name, alias, version.version)
    log.info("registered %s version %s and moved alias '%s' to it", name, version.version, alias)
    return version, None


class Score(NamedTuple):
    """A run's validation result on `metric` (e.g. best_val_accuracy): what champions are chosen by."""

    metric: str
    value: float
    higher_is_better: bool


def best_of_run(client, run_id: str, metric: str, higher_is_better: bool) -> float | None:
    """The best value `metric` reached over a run's epochs (resumed runs included)."""
    values = [point.value for point in client.get_metric_history(run_id, metric)]
    return (max if higher_is_better else min)(values) if values else None


def _reason_alias_stays(client, name: str, alias: str, score: Score) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_model_version_by_alias(name, alias)
        theirs = client.get_run(current.run_id).data.metrics.get(score.metric) if current.run_id else None
    except MlflowException:
        return None  # no alias yet, or its run is gone: nothing to defend
    if theirs is None:
        return None
    ours_is_worse = score.value < theirs if score.higher_is_better else score.value > theirs
    if not ours_is_worse:
        return None
    return (
        f"version {current.version} is better on {score.metric} ({theirs:.4f} vs {score.value:.4f}); "
        f"`python -m app promote --run-id RUN` moves it anyway"
    )
