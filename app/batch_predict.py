"""Batch prediction over files and folders: one CSV row per file, unreadable files reported."""

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from data.folder import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

CSV_COLUMNS = ["file", "label", "probability", "top_k", "error"]


def expand_paths(paths: list[str]) -> Iterator[Path]:
    """Files as given; directories expand to the images inside them, recursively, sorted."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield path  # a missing file becomes an error row, not a crash


def predict_files(model, paths: list[str], batch_size: int = 32, top_k: int = 3) -> list[dict]:
    """Rows of CSV_COLUMNS. A batch that fails is retried file by file to name the bad one."""
    rows: list[dict] = []
    batch: list[tuple[Path, str]] = []
    for path in expand_paths(paths):
        try:
            batch.append((path, base64.b64encode(path.read_bytes()).decode("ascii")))
        except OSError as err:
            rows.append(_error_row(path, err.strerror or type(err).__name__))
        if len(batch) == batch_size:
            rows.extend(_predict_batch(model, batch, top_k))
            batch = []
    if batch:
        rows.extend(_predict_batch(model, batch, top_k))
    return rows


def _predict_batch(model, batch: list[tuple[Path, str]], top_k: int) -> list[dict]:
    from mlflow.exceptions import MlflowException

    frame = pd.DataFrame({"image": [encoded for _, encoded in batch]})
    try:
        predictions = model.predict(frame, params={"top_k": top_k})
    except MlflowException as err:
        if len(batch) == 1:
            # "image 0: not a readable image (...)" -> "not a readable image (...)"
            return [_error_row(batch[0][0], err.message.split(": ", 1)[-1])]
        return [row for item in batch for row in _predict_batch(model, [item], top_k)]
    return [
        {
            "file": str(path),
            "label": row["label"],
            "probability": round(float(row["probability"]), 6),
            "top_k": ";".join(f"{t['label']}:{t['probability']:.4f}" for t in row["top_k"]),
            "error": "",
        }
        for (path, _), (_, row) in zip(batch, predictions.iterrows(), strict=True)
    ]


def _error_row(path: Path, reason: str) -> dict:
    log.warning("%s: %s", path, reason)
    return {"file": str(path), "label": "", "probability": "", "top_k": "", "error": reason}
