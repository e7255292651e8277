"""The training workflow: config -> data -> model -> fit -> evaluate -> MLflow run -> registry."""

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import ExperimentConfig, flatten

log = logging.getLogger(__name__)

# Serving limits stored with the model; the served pyfunc refuses anything larger.
SERVING_LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 40_000_000, "max_images_per_request": 64}


@dataclass
class TrainResult:
    run_id: str
    experiment_id: str
    test_accuracy: float
    test_loss: float
    epochs: int
    model_uri: str
    registered: str | None  # "name/version@alias" when registered


def run_dir_for(cfg: ExperimentConfig) -> Path:
    """A directory named by the config's hash: the same command finds the same checkpoints."""
    digest = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:10]
    return Path(cfg.output_dir) / f"{cfg.dataset_name()}-{cfg.model.name}-{digest}"


def run_training(cfg: ExperimentConfig) -> TrainResult:
    import keras

    from data.sources import load_splits
    from models import build_model
    from models.losses import build_loss
    from models.optimizers import build_optimizer, current_learning_rate
    from pipelines import tracking
    from pipelines.augment import build_augmenter
    from pipelines.callbacks import build_callbacks
    from pipelines.input_pipeline import build_eval_ds, build_train_ds, steps_per_epoch
    from pipelines.preprocess import channel_stats, with_preprocessing
    from pipelines.seeding import seed_everything

    seed_everything(cfg.seed, cfg.runtime.deterministic)
    splits = load_splits(cfg.data, cfg.seed)
    num_classes = len(splits.class_names)
    log.info(
        "data: %d train / %d val / %d test, %d classes",
        len(splits.train),
        len(splits.val),
        len(splits.test),
        num_classes,
    )

    augmenter = build_augmenter(cfg.augment, cfg.data.image_size, cfg.seed)
    batch = cfg.train.batch_size
    train_ds = build_train_ds(splits.train, num_classes, batch, augmenter, cfg.seed, cfg.train.shuffle_buffer)
    val_ds = build_eval_ds(splits.val, num_classes, batch)
    test_ds = build_eval_ds(splits.test, num_classes, batch)
    steps = steps_per_epoch(len(splits.train), batch)

    mean, std = channel_stats(splits.train.images)
    input_shape = splits.train.images.shape[1:]
    model = with_preprocessing(build_model(cfg.model, input_shape, num_classes), cfg.data.normalization, mean, std)
    optimizer = build_optimizer(cfg.train.optimizer, steps, cfg.train.epochs)
    model.compile(
        optimizer=optimizer,
        loss=build_loss(cfg.train.loss),
        metrics=["accuracy", keras.metrics.TopKCategoricalAccuracy(k=min(5, num_classes), name="top_k_accuracy")],
        jit_compile=cfg.runtime.jit_compile,
    )

    run_dir = run_dir_for(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    mlflow = tracking.setup_mlflow(cfg.tracking.experiment or cfg.dataset_name())
    with mlflow.start_run() as run:
        mlflow.set_tags(
            {"model_family": cfg.model.name, "dataset": cfg.dataset_name(), "fingerprint": splits.fingerprint}
        )
        mlflow.log_params(flatten(cfg))
        mlflow.log_params(
            {"param_count": model.count_params(), "num_classes": num_classes, "train_images": len(splits.train)}
        )
        mlflow.log_dict(cfg.model_dump(mode="json"), "config/resolved_config.json")
        mlflow.log_dict({"class_names": splits.class_names}, "data/class_names.json")
        mlflow.log_text(_csv(["id", "split", "class"], splits.manifest()), "data/manifest.csv")
        mlflow.log_text(_csv(["path", "reason"], splits.skipped), "data/skipped_files.csv")

        callbacks = build_callbacks(cfg.train, run_dir)
        callbacks.append(tracking.MlflowMetrics(mlflow, lambda: current_learning_rate(model.optimizer)))
        started = time.perf_counter()
        history = model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.train.epochs,
            steps_per_epoch=steps,
            callbacks=callbacks,
            verbose=2,
        )
        train_seconds = time.perf_counter() - started
        epochs_run = len(history.history["loss"])

        test = model.evaluate(test_ds, return_dict=True, verbose=0)
        mlflow.log_metrics({f"test_{k}": float(v) for k, v in test.items()})
        mlflow.log_metrics(
            {"train_seconds": train_seconds, "train_images_per_second": epochs_run * steps * batch / train_seconds}
        )

        keras_path = run_dir / "model.keras"
        model.save(keras_path)
        meta_path = run_dir / "serving_meta.json"
        meta = {
            "class_names": splits.class_names,
            "image_size": list(cfg.data.image_size),
            "channels": cfg.data.channels,
            "resize": cfg.data.resize,
            "top_k": min(3, num_classes),
            **SERVING_LIMITS,
        }
        meta_path.write_text(json.dumps(meta, indent=2))
        info = tracking.log_served_model(mlflow, keras_path, meta_path, _input_example(splits.test.images[0]))

        registered = None
        if cfg.tracking.register_model:
            name = cfg.tracking.registered_model or f"{cfg.dataset_name()}-classifier"
            version = tracking.register(mlflow, info.model_uri, name, cfg.tracking.alias)
            registered = f"{name}/{version.version}@{cfg.tracking.alias}"

    return TrainResult(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        test_accuracy=float(test["accuracy"]),
        test_loss=float(test["loss"]),
        epochs=epochs_run,
        model_uri=info.model_uri,
        registered=registered,
    )


def _input_example(image):
    """One real test image as the PNG a client would send, base64-encoded."""
    import base64
    import io

    import pandas as pd
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return pd.DataFrame({"image": [base64.b64encode(buffer.getvalue()).decode()]})


def _csv(header: list[str], rows) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
