"""Export a trained Keras model as the MLflow pyfunc that `make serve`, `web` and `predict` load.

The pyfunc is logged with MLflow's "models from code": the code file is
pipelines/tracking/served_model.py, found through the imported module (no path strings), and
the `data` and `models` packages travel with it, so serving decodes images exactly as training
did and finds our custom layers.
"""

import base64
import io
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
from PIL import Image

import data
import models
from data.decode import DEFAULT_MAX_PIXELS
from pipelines.tracking.store import keep_project_packages_first

# Located, not imported: importing it would run its `mlflow.models.set_model` in this process.
SERVED_MODEL_CODE = find_spec("pipelines.tracking.served_model").origin
# What the served model imports. Listing them skips MLflow's requirement inference, which
# loads the model in a subprocess and costs ~10 s per logged model.
SERVING_PACKAGES = ("mlflow", "tensorflow", "keras", "numpy", "pandas", "pillow")
# Stored with the model; the served pyfunc refuses anything larger.
SERVING_LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": DEFAULT_MAX_PIXELS, "max_images_per_request": 64}


def input_example(image):
    """One real image as the PNG a client would send, base64-encoded in the `image` column."""
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return pd.DataFrame({"image": [base64.b64encode(buffer.getvalue()).decode()]})


def log_served_model(mlflow, keras_path: Path, meta_path: Path, input_example, top_k: int = 3):
    """Log the pyfunc that serves raw image bytes; returns the ModelInfo."""
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
        python_model=SERVED_MODEL_CODE,
        artifacts={"keras_model": str(keras_path), "meta": str(meta_path)},
        code_paths=[str(Path(package.__file__).parent) for package in (data, models)],
        signature=signature,
        input_example=input_example,
        pip_requirements=[f"{name}=={version(name)}" for name in SERVING_PACKAGES],
    )
