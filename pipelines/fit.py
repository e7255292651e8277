"""Run the fit of one training run: callbacks, Keras `fit` or the multi-worker loop, timing."""

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import ExperimentConfig
from pipelines.strategy import Placement

log = logging.getLogger(__name__)


@dataclass
class FitOutcome:
    model: object  # the trained model (under multi-worker: the chief's plain copy)
    history: dict[str, list[float]]  # this process' epochs only; history.csv holds them all
    epochs_run: int  # epochs trained by this process (after a resume: the remaining ones)
    last_epoch: int  # 1-based index of the last completed epoch, across resumes
    train_seconds: float
    images_per_second: float
    gradient_health: object | None  # the GradientHealth callback, for its plot and warnings


def train_model(
    model,
    cfg: ExperimentConfig,
    placement: Placement,
    run_dir: Path,
    *,
    train_ds,
    val_ds,
    steps_per_epoch: int,
    start_epoch: int,
    probe_batch=None,
    extra_callbacks=(),
    log_metrics=None,
) -> FitOutcome:
    """Fit `model` from `start_epoch` to `cfg.train.epochs`, with every callback of the run.

    `probe_batch` (x, y) is the fixed batch the gradient-health callback measures;
    `log_metrics(dict, step)` sends its per-layer norms to MLflow (the chief passes it).
    """
    from pipelines.callbacks import build_callbacks, progress_verbosity
    from pipelines.gradient_health import GradientHealth

    # Non-chief workers save wherever the chief saves (a collective under multi-worker), into scratch.
    scratch = None if placement.is_chief else Path(tempfile.mkdtemp(prefix=f"worker{placement.task_index}-"))
    extra = list(extra_callbacks)
    health = None
    # Every worker measures (the measurement reads mirrored variables); only the chief logs.
    if cfg.train.gradient_health.enabled and probe_batch is not None:
        logger = log_metrics if placement.is_chief else None
        health = GradientHealth(probe_batch, cfg.train.gradient_health, log_metrics=logger, steps=steps_per_epoch)
        extra.insert(0, health)
    callbacks = build_callbacks(cfg.train, run_dir, scratch_dir=scratch, resume_epoch=start_epoch, extra=extra)
    verbose = progress_verbosity(cfg.train.progress)
    if start_epoch >= cfg.train.epochs:
        log.info("backup says all %d epochs are done; nothing left to train", cfg.train.epochs)
    started = time.perf_counter()
    try:
        if placement.uses_custom_loop:
            from pipelines.custom_loop import fit_with_custom_loop

            history = fit_with_custom_loop(
                model,
                placement.strategy,
                train_ds,
                val_ds,
                epochs=cfg.train.epochs,
                steps_per_epoch=steps_per_epoch,
                initial_epoch=start_epoch,
                callbacks=callbacks,
                top_k=_top_k(model),
                jit_compile=cfg.runtime.jit_compile,
                verbose=verbose,
            )
            model = _leave_cluster(model, placement, run_dir, scratch)
        else:
            history = model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=cfg.train.epochs,
                initial_epoch=start_epoch,
                steps_per_epoch=steps_per_epoch,
                callbacks=callbacks,
                verbose=verbose,
            )
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    epochs_run = len(history.history.get("loss", []))
    images = epochs_run * steps_per_epoch * placement.global_batch_size(cfg.train.batch_size)
    return FitOutcome(
        model=model,
        history=history.history,
        epochs_run=epochs_run,
        last_epoch=start_epoch + epochs_run,
        train_seconds=seconds,
        images_per_second=images / seconds if seconds > 0 else 0.0,
        gradient_health=health,
    )


def _leave_cluster(model, placement: Placement, run_dir: Path, scratch: Path | None):
    """After multi-worker training: every worker saves (a collective), the chief reloads a plain copy.

    Anything the chief alone does with mirrored variables afterwards (evaluate, save, log) could
    start a collective the finished workers never join. The reloaded model lives outside the
    strategy, so the chief's report and export run on its own.
    """
    import keras
    import tensorflow as tf

    path = (scratch or run_dir) / "trained.keras"
    model.save(path)
    tf.distribute.experimental_set_strategy(None)
    if not placement.is_chief:
        return model
    plain = keras.saving.load_model(path, safe_mode=True)
    path.unlink()
    return plain


def _top_k(model) -> int:
    # The k of the compiled TopKCategoricalAccuracy, so the custom loop reports the same metric.
    for metric in getattr(model, "metrics", []):
        for inner in getattr(metric, "metrics", [metric]):
            if hasattr(inner, "k"):
                return int(inner.k)
    return min(5, int(model.output_shape[-1]))
