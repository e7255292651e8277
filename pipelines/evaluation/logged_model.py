"""The evaluate workflow: any logged model (registry URI or run id) on any dataset (config or folder).

It writes the same report files as a training run (see pipelines/evaluation/report.py), using the model's
own serving metadata (class names, image size, channels, resize policy), so a folder of photos is
decoded exactly as serving would decode it.
"""

import json
import logging
import re
from pathlib import Path

import numpy as np

from data.errors import first_line
from data.tables import csv_text

log = logging.getLogger(__name__)

RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def model_uri_for(reference: str) -> str:
    """`models:/name@alias`, `models:/name/3`, `runs:/<id>/model`, or a bare run id."""
    if reference.startswith(("models:/", "runs:/")):
        return reference
    if RUN_ID.match(reference):
        return f"runs:/{reference}/model"
    raise ValueError(f"--model '{reference}' is not a models:/ URI, a runs:/ URI or a 32-character run id")


def load_logged_model(reference: str):
    """Download a logged pyfunc model; returns (keras model, serving metadata dict)."""
    uri = model_uri_for(reference)  # a bad reference fails before TensorFlow loads
    from models.saving import load_keras_model
    from pipelines.tracking.store import connect

    mlflow = connect()  # only reads: no experiment is created (a failed evaluate leaves nothing behind)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as err:  # MlflowException, OSError: one line for the user either way
        raise ValueError(f"cannot load model '{reference}': {first_line(err)}") from None
    keras_files, meta_files = sorted(local.rglob("*.keras")), sorted(local.rglob("serving_meta.json"))
    if not keras_files or not meta_files:
        raise ValueError(f"model '{reference}' has no Keras file and serving metadata; was it logged by this app?")
    model = load_keras_model(keras_files[0])
    return model, json.loads(meta_files[0].read_text())


def load_eval_images(data: str, meta: dict, overrides=()):
    """The images to evaluate, labelled in the model's class order: a config's test split or a whole folder."""
    from data.dataset import ImageSet

    path = Path(data).expanduser()
    class_names = meta["class_names"]
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        from data.sources import load_splits
        from pipelines.config import load_config

        cfg = load_config(path, overrides)
        shape = {"image_size": tuple(meta["image_size"]), "channels": meta["channels"], "resize": meta["resize"]}
        splits = load_splits(cfg.data.model_copy(update=shape), cfg.seed)
        images, names, skipped = splits.test, splits.class_names, splits.skipped
    elif path.is_dir():
        images, names, skipped = _load_folder(path, meta)
    else:
        raise ValueError(f"--data '{data}' is neither an experiment config (.yaml) nor a folder of class folders")
    unknown = sorted(set(names) - set(class_names))
    if unknown:
        raise ValueError(f"classes {unknown} of '{data}' are unknown to the model; it knows {', '.join(class_names)}")
    remap = np.array([class_names.index(n) for n in names], dtype=np.int32)
    return ImageSet(images.images, remap[images.labels], images.ids), skipped


def _load_folder(root: Path, meta: dict):
    """A folder decoded like serving does, through the same scan as training (data/folder.py).

    Class folders at the root are evaluated whole; a train/ val/ [test/] layout gives its test/
    (or, without one, its val/): never the images a model trained on.
    """
    from data.config import DataConfig
    from data.folder import FolderSource

    shape = {k: meta[k] for k in ("channels", "resize", "max_pixels")}
    loaded = FolderSource(
        DataConfig(source="folder", path=str(root), image_size=tuple(meta["image_size"]), **shape)
    ).load()
    part = next(loaded.parts[name] for name in ("all", "test", "val") if name in loaded.parts)
    return part, loaded.class_names, loaded.skipped


def run_evaluation(model_ref: str, data: str, out_dir: Path, overrides=(), max_misclassified: int = 25) -> dict:
    """Evaluate and write the report into out_dir; returns the metrics."""
    from pipelines.evaluation.report import evaluate_model, write_report

    model, meta = load_logged_model(model_ref)
    images, skipped = load_eval_images(data, meta, overrides)
    if skipped:
        log.warning("skipped %d unreadable file(s), listed in %s", len(skipped), out_dir / "skipped_files.csv")
    evaluation = evaluate_model(model, images, meta["class_names"])
    metrics = write_report(
        evaluation, out_dir, images.images, model=model, max_misclassified=max_misclassified, ids=images.ids
    )
    out_dir.joinpath("skipped_files.csv").write_text(csv_text(["path", "reason"], skipped))
    metrics["model"], metrics["data"] = model_ref, data
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
