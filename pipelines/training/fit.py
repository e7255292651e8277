"""Run the fit of one training run: callbacks, Keras `fit` or the multi-worker loop, timing."""

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.config.train import TrainConfig
from pipelines.training.distributed.strategy import Placement

log = logging.getLogger(__name__)


@dataclass
class FitSetup:
    """Where and how one fit runs: the `train` slice plus what the workflow decided around it."""

    train: TrainConfig
    placement: Placement
    run_dir: Path
    start_epoch: int  # > 0 when resuming from a backup
    task: str  # model.task: the custom loop's metrics follow the head
    jit_compile: bool = False
    snapshot: object | None = None  # the verified backup.Snapshot restored when training begins


@dataclass
class FitOutcome:
    model: object  # the trained model (under multi-worker: the chief's plain copy)
    history: dict[str, list[float]]  # this process' epochs only; history.csv holds them all
    epochs_run: int  # epochs trained by this process (after a resume: the remaining ones)
    last_epoch: int  # 1-based index of the last completed epoch, across resumes
    train_seconds: float
    images_per_second: float
    gradient_health: object | None  # the GradientHealth callback, for its plot and warnings
    # Median seconds of an epoch's parts (steps, validation, gradient_probe, other_callbacks) and
    # the training step's own rate: images / median seconds in steps (pipelines/training/epoch_clock.py).
    epoch_seconds: dict[str, float] = field(default_factory=dict)
    step_images_per_second: float = 0.0
    # Why training ended before train.epochs: "time budget", "early stop", or "" (it ran them all);
    # the training curves mark it at `last_epoch`.
    stop_reason: str = ""


# Over ~50 lines on purpose: one fit, Keras `fit` or the multi-worker loop, with the timing and the
# scratch-dir cleanup around both; split, the two paths would drift apart.
def train_model(model, inputs, setup: FitSetup, extra_callbacks=(), log_metrics=None) -> FitOutcome:
    """Fit `model` on `inputs` (a RunInputs) from `setup.start_epoch` to `train.epochs`, with every callback.

    `log_metrics(dict, step)` sends the gradient-health norms to MLflow (the chief passes it).
    """
    from pipelines.training.callbacks import build_callbacks, progress_verbosity
    from pipelines.training.epoch_clock import EpochClock
    from pipelines.training.gradient_health import GradientHealth
    from pipelines.training.interrupt import InterruptAtBatchEnd, interrupts_between_batches

    cfg, placement, start_epoch = setup.train, setup.placement, setup.start_epoch
    # Non-chief workers save wherever the chief saves (a collective under multi-worker), into scratch.
    scratch = None if placement.is_chief else Path(tempfile.mkdtemp(prefix=f"worker{placement.task_index}-"))
    extra = list(extra_callbacks)
    health = None
    # Every worker measures (the measurement reads mirrored variables); only the chief logs.
    if cfg.gradient_health.enabled:
        logger = log_metrics if placement.is_chief else None
        health = GradientHealth(
            inputs.probe_batch, cfg.gradient_health, log_metrics=logger, steps=inputs.steps_per_epoch
        )
        extra.insert(0, health)
    if inputs.progressive is not None:
        if placement.uses_custom_loop:
            raise ValueError("train.progressive_resize works with Keras fit only, not the multi-worker loop")
        extra.insert(0, inputs.progressive)
    callbacks = build_callbacks(
        cfg, setup.run_dir, scratch_dir=scratch, resume_epoch=start_epoch, extra=extra, snapshot=setup.snapshot
    )
    interrupt, clock = InterruptAtBatchEnd(), EpochClock(health)
    callbacks[:0] = [clock, interrupt]  # the clock first: its epoch starts before any other callback's
    verbose = progress_verbosity(cfg.progress)
    # A snapshot written after the fit (training done, logging not) needs no more epochs, even when
    # early stopping ended the run before train.epochs.
    epochs = start_epoch if setup.snapshot is not None and setup.snapshot.complete else cfg.epochs
    if start_epoch >= epochs:
        log.info("backup says all %d epochs are done; nothing left to train", start_epoch)
    elif placement.is_chief:
        _log_start(cfg, inputs, start_epoch, epochs)
    started = time.perf_counter()
    try:
        with interrupts_between_batches(interrupt):  # Ctrl-C: at a batch end, not inside a write
            if placement.uses_custom_loop:
                if inputs.class_weight:
                    raise ValueError("train.class_weight 'auto' works with Keras fit only, not the multi-worker loop")
                from models.heads import top_k
                from pipelines.training.distributed.custom_loop import fit_with_custom_loop

                history = fit_with_custom_loop(
                    model,
                    placement.strategy,
                    inputs.train_ds,
                    inputs.val_ds,
                    epochs=epochs,
                    steps_per_epoch=inputs.steps_per_epoch,
                    initial_epoch=start_epoch,
                    callbacks=callbacks,
                    task=setup.task,
                    top_k=top_k(inputs.num_classes) if setup.task == "multiclass" else None,
                    jit_compile=setup.jit_compile,
                    verbose=verbose,
                )
                use_ema_weights(model, callbacks)
                model = _leave_cluster(model, placement, setup.run_dir, scratch)
            else:
                history = model.fit(
                    inputs.train_ds,
                    validation_data=inputs.val_ds,
                    epochs=epochs,
                    initial_epoch=start_epoch,
                    steps_per_epoch=inputs.steps_per_epoch,
                    callbacks=callbacks,
                    verbose=verbose,
                    class_weight=inputs.class_weight,
                )
                use_ema_weights(model, callbacks)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    _log_early_stop(callbacks)
    epochs_run = len(history.history.get("loss", []))
    images = epochs_run * inputs.steps_per_epoch * inputs.batch_size
    epoch_seconds = clock.medians()
    step_seconds = epoch_seconds.get("steps", 0.0)
    return FitOutcome(
        model=model,
        history=history.history,
        epochs_run=epochs_run,
        last_epoch=start_epoch + epochs_run,
        train_seconds=seconds,
        images_per_second=images / seconds if seconds > 0 else 0.0,
        gradient_health=health,
        epoch_seconds=epoch_seconds,
        step_images_per_second=inputs.steps_per_epoch * inputs.batch_size / step_seconds if step_seconds > 0 else 0.0,
        stop_reason=stop_reason(callbacks),
    )


def use_ema_weights(model, callbacks=()) -> bool:
    """Put the optimizer's moving average of the weights into the model (train.optimizer.ema).

    Done once when training ends, so the test report, the saved model and the served model use
    the averaged weights. Keras' fit does the same swap on its own; the multi-worker loop does
    not. When early stopping has restored its best epoch (the EMA weights of that epoch, see
    EmaForValidation), those are put back instead: they are what it chose. True if swapped.
    """
    import keras

    optimizer = getattr(model, "optimizer", None)
    if not getattr(optimizer, "use_ema", False):
        return False
    for callback in callbacks:
        stopped = isinstance(callback, keras.callbacks.EarlyStopping) and callback.stopped_epoch > 0
        if stopped and callback.best_weights is not None:
            model.set_weights(callback.best_weights)
            log.info("EMA weights of epoch %d kept (early stopping's best)", callback.best_epoch + 1)
            return False
    optimizer.finalize_variable_values(model.trainable_variables)
    log.info("EMA weights swapped into the model (momentum %s)", optimizer.ema_momentum, extra={"stage": True})
    return True


def _log_start(cfg: TrainConfig, inputs, start_epoch: int, epochs: int) -> None:
    """What the epoch lines will count, and why the first one takes longer."""
    from pipelines.training.time_budget import duration

    span = f"epochs {start_epoch + 1}-{epochs}" if start_epoch else f"{epochs} epochs"
    steps = inputs.steps_per_epoch
    budget = f" in a time budget of {duration(cfg.time_budget_minutes * 60)}" if cfg.time_budget_minutes else ""
    log.info(
        "training: %s%s of %d step%s (batch %d)%s; the first epoch also builds the graph",
        "up to " if budget else "",
        span,
        steps,
        "" if steps == 1 else "s",
        inputs.batch_size,
        budget,
        extra={"stage": True},
    )


def stop_reason(callbacks) -> str:
    """Which callback ended the fit early: "time budget", "early stop", or "" when none did."""
    import keras

    from pipelines.training.time_budget import TimeBudget

    for callback in callbacks:
        if isinstance(callback, TimeBudget) and callback.exhausted:
            return "time budget"
        if isinstance(callback, keras.callbacks.EarlyStopping) and callback.stopped_epoch > 0:
            return "early stop"
    return ""


def _log_early_stop(callbacks) -> None:
    """Keras' EarlyStopping ends a run silently below verbose=1: say when, why and what was kept."""
    import keras

    for callback in callbacks:
        if isinstance(callback, keras.callbacks.EarlyStopping) and callback.stopped_epoch > 0:
            restored = ", its weights restored" if callback.restore_best_weights else ""
            log.info(
                "early stop after epoch %d: %s did not improve for %d epochs; best %.4f at epoch %d%s",
                callback.stopped_epoch + 1,
                callback.monitor,
                callback.patience,
                callback.best,
                callback.best_epoch + 1,
                restored,
                extra={"stage": True},  # shown in the default terminal output
            )


def _leave_cluster(model, placement: Placement, run_dir: Path, scratch: Path | None):
    """After multi-worker training: every worker saves (a collective), the chief reloads a plain copy.

    Anything the chief alone does with mirrored variables afterwards (evaluate, save, log) could
    start a collective the finished workers never join. The reloaded model lives outside the
    strategy, so the chief's report and export run on its own.
    """
    import tensorflow as tf

    from models.saving import load_keras_model

    path = (scratch or run_dir) / "trained.keras"
    model.save(path)
    tf.distribute.experimental_set_strategy(None)
    if not placement.is_chief:
        return model
    plain = load_keras_model(path, compile=True)
    path.unlink()
    return plain
