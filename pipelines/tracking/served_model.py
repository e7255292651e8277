"""The served model, logged with MLflow's "models from code": raw image bytes in, labels out.

It carries its own preprocessing: the same `data.decode.decode_image` as training (shipped
with the model through `code_paths`, with `models` for our custom layers), the training image size, channels and resize policy;
normalization statistics live inside the Keras model itself.

Input: a DataFrame with a column `image` holding base64-encoded image files, or a uint8
tensor batch of shape (N, height, width, channels) (in-process, or over HTTP as
`{"inputs": {"image": [...]}}`).
Output, one row per image: `label`, `probability`, `top_k` (labels and probabilities, best
first) and `probabilities` (one per class, in class order).
"""

import base64
import binascii
import json

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

# Marks our own client-error answers, so a front proxy can pass exactly these messages on.
ERROR_CLASS = "IMAGE_REQUEST_INVALID"


class ImageRequestError(MlflowException):
    """A client mistake: the scoring server answers 400 with this one short message.

    MLflow's scoring server rewrites `message` to "Failed to predict data '<repr of the whole
    request>'. Error: ..." before answering, which echoes the payload back. The first message
    set (ours) is therefore kept and later assignments are ignored.
    """

    def __init__(self, message: str):
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE, error_class=ERROR_CLASS)

    @property
    def message(self) -> str:
        return self._short_message

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_short_message"):
            self._short_message = value


class ImageClassifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from data.decode import decode_image
        from models.saving import load_keras_model  # registers our custom layers (binary head, Maxout)

        self._decode = decode_image
        with open(context.artifacts["meta"]) as f:
            self.meta = json.load(f)
        self.class_names = self.meta["class_names"]
        # Under safe_mode: Lambda layers and arbitrary code in the archive are refused.
        self.model = load_keras_model(context.artifacts["keras_model"])
        # Trace the compiled predict function now, not on the first client's request.
        shape = (1, *self.meta["image_size"], self.meta["channels"])
        self.model.predict_on_batch(np.zeros(shape, dtype=np.float32))

    def predict(self, context, model_input, params=None):
        top_k = self.top_k(params)
        return self.rows(self.probabilities(self.pixels(model_input)), top_k)

    # The steps of `predict`, public for a server that batches several requests into one model
    # call (app.server): each request's pixels and top_k, one `probabilities` call, its own rows.

    def probabilities(self, pixels: np.ndarray) -> np.ndarray:
        # predict_on_batch runs the compiled graph once: ~2x faster than model(x) in eager mode
        # and without model.predict's per-call dataset machinery.
        return np.asarray(self.model.predict_on_batch(pixels.astype(np.float32)))

    def top_k(self, params) -> int:
        value = (params or {}).get("top_k", self.meta.get("top_k", 3))
        try:
            top_k = int(value)
        except (TypeError, ValueError):
            raise ImageRequestError("params.top_k must be an integer") from None
        return max(1, min(top_k, len(self.class_names)))

    def pixels(self, model_input) -> np.ndarray:
        """(N, height, width, channels) uint8 pixels of a request, or ImageRequestError."""
        if isinstance(model_input, dict):  # {"inputs": {"image": ...}} over HTTP
            model_input = model_input.get("image", model_input)
        if isinstance(model_input, np.ndarray) and model_input.ndim > 1:
            return self._check_tensor(model_input)
        if isinstance(model_input, np.ndarray) and model_input.ndim == 1:
            model_input = pd.DataFrame({"image": model_input})
        if not isinstance(model_input, pd.DataFrame) or "image" not in model_input.columns:
            raise ImageRequestError("input must have a column 'image' of base64-encoded image files")
        if len(model_input) == 0:
            raise ImageRequestError("no images in the request")
        self._check_count(len(model_input))
        return np.stack([self._decode_one(i, v) for i, v in enumerate(model_input["image"])])

    def file_pixels(self, raw: bytes) -> np.ndarray:
        """(1, height, width, channels) uint8 pixels of one image file's bytes, or ImageRequestError."""
        try:
            return self._decode_file(raw)[None]
        except ValueError as err:
            raise ImageRequestError(str(err)) from None

    def _check_count(self, count: int) -> None:
        limit = self.meta["max_images_per_request"]
        if count > limit:
            raise ImageRequestError(f"{count} images in one request; the limit is {limit}")

    def _decode_one(self, index: int, value) -> np.ndarray:
        if isinstance(value, bytes):
            value = value.decode("ascii", errors="replace")
        if not isinstance(value, str):
            raise ImageRequestError(f"image {index}: expected a base64 string")
        if len(value) > self.meta["max_bytes"] * 4 // 3 + 4:
            raise ImageRequestError(f"image {index}: over the {self.meta['max_bytes']:,}-byte limit")
        if value.startswith("data:") and "," in value[:100]:
            value = value.split(",", 1)[1]  # a data URL, as browsers produce
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ImageRequestError(f"image {index}: not valid base64") from None
        try:
            return self._decode_file(raw)
        except ValueError as err:
            raise ImageRequestError(f"image {index}: {err}") from None

    def _decode_file(self, raw: bytes) -> np.ndarray:
        m = self.meta
        if len(raw) > m["max_bytes"]:
            raise ValueError(f"over the {m['max_bytes']:,}-byte limit")
        return self._decode(raw, tuple(m["image_size"]), m["channels"], m["resize"], m["max_pixels"])

    def _check_tensor(self, batch: np.ndarray) -> np.ndarray:
        expected = (*self.meta["image_size"], self.meta["channels"])
        if batch.ndim != 4 or tuple(batch.shape[1:]) != tuple(expected):
            raise ImageRequestError(f"tensor input must have shape (N, {', '.join(map(str, expected))})")
        if len(batch) == 0:
            raise ImageRequestError("no images in the request")
        self._check_count(len(batch))
        if batch.dtype != np.uint8:
            # JSON carries integers; accept them only when they are valid pixel values.
            if not np.issubdtype(batch.dtype, np.integer) or batch.min() < 0 or batch.max() > 255:
                raise ImageRequestError("tensor input must be uint8 pixels (integers 0..255)")
            batch = batch.astype(np.uint8)
        return batch

    def rows(self, probabilities: np.ndarray, top_k: int) -> pd.DataFrame:
        rows = []
        for p in probabilities:
            order = np.argsort(p)[::-1][:top_k]
            rows.append(
                {
                    "label": self.class_names[order[0]],
                    "probability": float(p[order[0]]),
                    "top_k": [{"label": self.class_names[i], "probability": float(p[i])} for i in order],
                    "probabilities": [float(v) for v in p],
                }
            )
        return pd.DataFrame(rows)


mlflow.models.set_model(ImageClassifier())
