"""MLflow glue: where runs go, per-epoch metrics, the served model, the registry alias."""

import logging
import os
from pathlib import Path

import keras

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The served model is a file of the app (MLflow "models from code"): referenced by path,
# never imported here, so pipelines/ stays free of app/.
SERVED_MODEL_CODE = PROJECT_ROOT / "app" / "served_model.py"
DECODE_PACKAGE = PROJECT_ROOT / "data"


def default_tracking_uri() -> str:
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def setup_mlflow(experiment: str):
    """Point MLflow at MLFLOW_TRACKING_URI (or the embedded SQLite store) and pick the experiment."""
    # A tracking server that is down must fail in seconds, not after minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    mlflow.set_tracking_uri(uri)
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or experiment
    if mlflow.get_experiment_by_name(name) is None:
        location = None
        if uri.startswith("sqlite:///"):
            # Keep artifacts beside the SQLite file, not in whatever directory we run from.
            location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts" / name).as_uri()
        mlflow.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(name)
    return mlflow


class MlflowMetrics(keras.callbacks.Callback):
    """Log every epoch's metrics and learning rate as MLflow metrics, step = epoch."""

    def __init__(self, mlflow, learning_rate_fn):
        super().__init__()
        self.mlflow = mlflow
        self.learning_rate_fn = learning_rate_fn

    def on_epoch_end(self, epoch, logs=None):
        metrics = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        metrics["learning_rate"] = self.learning_rate_fn()
        self.mlflow.log_metrics(metrics, step=epoch)


def log_served_model(mlflow, keras_path: Path, meta_path: Path, input_example):
    """Log the pyfunc that serves raw image bytes; returns the ModelInfo."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    signature = ModelSignature(
        inputs=Schema([ColSpec("string", "image")]),
        outputs=Schema([ColSpec("string", "label"), ColSpec("double", "probability")]),
    )
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(SERVED_MODEL_CODE),
        artifacts={"keras_model": str(keras_path), "meta": str(meta_path)},
        code_paths=[str(DECODE_PACKAGE)],
        signature=signature,
        input_example=input_example,
    )


def register(mlflow, model_uri: str, name: str, alias: str):
    """Register a model version and point `alias` at it only once the version is READY."""
    from mlflow import MlflowClient

    version = mlflow.register_model(model_uri, name)
    client = MlflowClient()
    status = client.get_model_version(name, version.version).status
    if status != "READY":
        raise RuntimeError(f"model version {name}/{version.version} is {status}; alias '{alias}' left unchanged")
    client.set_registered_model_alias(name, alias, version.version)
    return version
