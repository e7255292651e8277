"""The served model, logged with MLflow's "models from code": raw image bytes in, labels out.

It carries its own preprocessing: the same `data.decode.decode_image` as training (shipped
with the model through `code_paths`), the training image size, channels and resize policy;
normalization statistics live inside the Keras model itself.

Input: a DataFrame with a column `image` holding base64-encoded image files.
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


def _bad_request(message: str) -> MlflowException:
    # INVALID_PARAMETER_VALUE makes the scoring server answer 400, not 500.
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


class ImageClassifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        import keras

        from data.decode import decode_image

        self._decode = decode_image
        with open(context.artifacts["meta"]) as f:
            self.meta = json.load(f)
        self.class_names = self.meta["class_names"]
        # safe_mode refuses Lambda layers and arbitrary code in the archive.
        self.model = keras.saving.load_model(context.artifacts["keras_model"], compile=False, safe_mode=True)

    def predict(self, context, model_input, params=None):
        pixels = self._to_pixels(model_input)
        probabilities = np.asarray(self.model.predict_on_batch(pixels.astype(np.float32)))
        return self._rows(probabilities, int((params or {}).get("top_k", self.meta.get("top_k", 3))))

    def _to_pixels(self, model_input) -> np.ndarray:
        if isinstance(model_input, np.ndarray):
            return self._check_tensor(model_input)
        if not isinstance(model_input, pd.DataFrame) or "image" not in model_input.columns:
            raise _bad_request("input must have a column 'image' of base64-encoded image files")
        if len(model_input) == 0:
            raise _bad_request("no images in the request")
        limit = self.meta["max_images_per_request"]
        if len(model_input) > limit:
            raise _bad_request(f"{len(model_input)} images in one request; the limit is {limit}")
        return np.stack([self._decode_one(i, v) for i, v in enumerate(model_input["image"])])

    def _decode_one(self, index: int, value) -> np.ndarray:
        m = self.meta
        if not isinstance(value, str | bytes):
            raise _bad_request(f"image {index}: expected a base64 string")
        if len(value) > m["max_bytes"] * 4 // 3 + 4:
            raise _bad_request(f"image {index}: over the {m['max_bytes']:,}-byte limit")
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _bad_request(f"image {index}: not valid base64") from None
        try:
            return self._decode(raw, tuple(m["image_size"]), m["channels"], m["resize"], m["max_pixels"])
        except ValueError as err:
            raise _bad_request(f"image {index}: {err}") from None

    def _check_tensor(self, batch: np.ndarray) -> np.ndarray:
        expected = (*self.meta["image_size"], self.meta["channels"])
        if batch.ndim != 4 or tuple(batch.shape[1:]) != tuple(expected):
            raise _bad_request(f"tensor input must have shape (N, {', '.join(map(str, expected))})")
        if batch.dtype != np.uint8:
            raise _bad_request("tensor input must be uint8 pixels")
        return batch

    def _rows(self, probabilities: np.ndarray, top_k: int) -> pd.DataFrame:
        top_k = max(1, min(top_k, len(self.class_names)))
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
