"""The training workflow: config -> data -> model -> fit -> evaluate -> MLflow run -> registry."""

import hashlib
import json
import logging
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
    registered: str | None  # "name/version@alias", or "name/version (alias 'x' stays: why)"
    role: str = "chief"  # "worker" for the non-chief processes of a multi-worker run (they log nothing)


def run_dir_for(cfg: ExperimentConfig) -> Path:
    """A directory named by the config's hash: the same command finds the same checkpoints."""
    digest = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:10]
    return Path(cfg.output_dir) / f"{cfg.dataset_name()}-{cfg.model.name}-{digest}"


def run_training(cfg: ExperimentConfig) -> TrainResult:
    from data.sources import load_splits
    from models import build_compile_args, build_model, build_training_model, inference_model
    from models.optimizers import build_optimizer, current_learning_rate
    from pipelines import run_state, tracking
    from pipelines.augment import build_augmenter
    from pipelines.evaluate import write_run_report
    from pipelines.fit import train_model
    from pipelines.gradient_health import probe_batch
    from pipelines.input_pipeline import build_eval_ds, build_train_ds, steps_per_epoch
    from pipelines.preprocess import channel_stats, with_preprocessing
    from pipelines.seeding import seed_everything
    from pipelines.strategy import build_placement

    placement = build_placement(cfg.runtime)  # first: logical devices must be set before TF uses any
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

    run_dir = run_dir_for(cfg)
    start_epoch = run_state.resume_epoch(run_dir)  # > 0 after a kill: continue, don't start over
    augmenter = build_augmenter(cfg.augment, cfg.data.image_size, cfg.seed, channels=cfg.data.channels)
    batch = placement.global_batch_size(cfg.train.batch_size)
    steps = steps_per_epoch(len(splits.train), batch)
    train_ds = build_train_ds(
        splits.train,
        num_classes,
        batch,
        augmenter,
        cfg.seed,
        cfg.train.shuffle_buffer,
        workers=cfg.augment.workers,
        first_step=start_epoch * steps,
    )
    val_ds = build_eval_ds(splits.val, num_classes, batch)

    mean, std = channel_stats(splits.train.images)
    input_shape = splits.train.images.shape[1:]
    network = build_model(cfg.model, input_shape, num_classes)
    if cfg.model.whiten_patch_size:
        _fit_whitening(network, splits.train.images, cfg, mean, std)
    # Auxiliary classifiers (Inception) train through a wrapper that adds their weighted losses;
    # any other model is returned as is.
    model = build_training_model(
        with_preprocessing(network, cfg.data.normalization, mean, std), cfg.model.aux_loss_weight
    )
    optimizer = build_optimizer(cfg.train.optimizer, steps, cfg.train.epochs)
    model.compile(
        optimizer=optimizer,
        **build_compile_args(cfg.model.task, cfg.train.loss, num_classes),  # head-matched loss and metrics
        jit_compile=cfg.runtime.jit_compile,
    )

    probe = probe_batch(splits.train, num_classes, cfg.train.gradient_health.batch_size, cfg.seed)
    fit_args = dict(train_ds=train_ds, val_ds=val_ds, steps_per_epoch=steps, start_epoch=start_epoch, probe_batch=probe)
    if not placement.is_chief:
        # Other workers train in lockstep with the chief but write nothing: no MLflow, no files.
        outcome = train_model(model, cfg, placement, run_dir, **fit_args)
        return TrainResult("", "", float("nan"), float("nan"), outcome.last_epoch, "", None, role="worker")

    run_dir.mkdir(parents=True, exist_ok=True)
    mlflow = tracking.setup_mlflow(cfg.tracking.experiment or cfg.dataset_name())
    with run_state.tracked_run(mlflow, run_dir, start_epoch) as run:
        mlflow.set_tags(
            {
                "model_family": cfg.model.name,
                "dataset": cfg.dataset_name(),
                "fingerprint": splits.fingerprint,
                # dataset-model-confighash: stable across resumes, readable in the UI's run list.
                "mlflow.runName": run_dir.name,
            }
        )
        mlflow.log_params(flatten(cfg))
        mlflow.log_params(
            {"param_count": model.count_params(), "num_classes": num_classes, "train_images": len(splits.train)}
        )
        mlflow.log_dict(cfg.model_dump(mode="json"), "config/resolved_config.json")
        mlflow.log_dict({"class_names": splits.class_names}, "data/class_names.json")
        mlflow.log_text(_csv(["id", "split", "class"], splits.manifest()), "data/manifest.csv")
        mlflow.log_text(_csv(["path", "reason"], splits.skipped), "data/skipped_files.csv")
        from pipelines.preview import preview_grid  # the same grid `make preview` draws

        mlflow.log_image(
            preview_grid(splits.train, splits.class_names, augmenter, cfg.seed), "data/augment_preview.png"
        )
        mlflow.log_dict({"normalization": cfg.data.normalization, "mean": mean, "std": std}, "data/normalization.json")
        if splits.skipped:
            mlflow.log_text(splits.skipped_summary() + "\n", "data/skipped_summary.txt")

        mlflow.log_params({**placement.describe(), "global_batch_size": batch})
        metrics_callback = tracking.MlflowMetrics(mlflow, lambda: current_learning_rate(model.optimizer))
        outcome = train_model(
            model,
            cfg,
            placement,
            run_dir,
            **fit_args,
            extra_callbacks=[metrics_callback],
            log_metrics=mlflow.log_metrics,
        )
        model, epochs_run = outcome.model, outcome.last_epoch  # multi-worker: the chief's plain copy

        test = write_run_report(model, splits, run_dir, outcome, cfg)  # confusion matrix, curves, ...
        mlflow.log_metrics(test)
        mlflow.log_metrics(
            {"train_seconds": outcome.train_seconds, "train_images_per_second": outcome.images_per_second}
        )
        score = _validation_score(mlflow, run.info.run_id, cfg.train.monitor)
        if score:
            mlflow.log_metric(score.metric, score.value)
        mlflow.log_artifacts(str(run_dir / "reports"), "reports")

        keras_path = run_dir / "model.keras"
        # The served file: main output only (no auxiliary classifiers), raw pixels in.
        with_preprocessing(inference_model(network), cfg.data.normalization, mean, std).save(keras_path)
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
            policy_score = score if cfg.tracking.alias_policy == "if_better" else None
            alias = cfg.tracking.alias
            version, alias_stays = tracking.register(mlflow, info.model_uri, name, alias, policy_score)
            registered = f"{name}/{version.version}" + (
                f" (alias '{alias}' stays: {alias_stays})" if alias_stays else f"@{alias}"
            )

    return TrainResult(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        test_accuracy=float(test["test_accuracy"]),
        test_loss=float(test["test_loss"]),
        epochs=epochs_run,
        model_uri=info.model_uri,
        registered=registered,
    )


def _fit_whitening(network, images, cfg: ExperimentConfig, mean, std, sample: int = 1024) -> None:
    """Set the frozen whitening layer from training images only (a seeded sample bounds the cost)."""
    import numpy as np

    from models.whitening import fit_whitening
    from pipelines.preprocess import normalize_pixels

    rng = np.random.default_rng(cfg.seed)
    picked = images[np.sort(rng.choice(len(images), size=min(sample, len(images)), replace=False))]
    fitted = fit_whitening(network, normalize_pixels(picked, cfg.data.normalization, mean, std))
    log.info("whitening: %d layer(s) fitted on %d training images", fitted, len(picked))


def _validation_score(mlflow, run_id: str, monitor: str):
    """best_<monitor> over every epoch of the run (resumed ones too): what the kept weights scored."""
    from mlflow import MlflowClient

    from pipelines import tracking

    higher_is_better = monitor != "val_loss"
    best = tracking.best_of_run(MlflowClient(), run_id, monitor, higher_is_better)
    return tracking.Score(f"best_{monitor}", best, higher_is_better) if best is not None else None


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
