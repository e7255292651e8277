"""The Keras callbacks of a training run, from the `train` config slice.

Order matters: Keras calls callbacks in list order, so the learning rate enters the logs before
the CSV and MLflow see them, and the backup of an epoch is written last, after everything that
epoch produced has been recorded (a kill in between repeats an epoch, never loses one).
"""

import csv
import logging
import math
import time
from pathlib import Path

import keras

from pipelines.config.train import TrainConfig
from pipelines.evaluation.metrics import keras_mode
from pipelines.training.resume.backup import RunBackup, Snapshot
from pipelines.training.resume.disk import DiskSpaceCheck
from pipelines.training.time_budget import FollowTheBudget, TimeBudget, duration

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; the run must fail, not finish quietly."""


class RaiseOnNaN(keras.callbacks.Callback):
    """Like TerminateOnNaN, but raises so the caller marks the run FAILED and registers nothing."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(f"loss became {float(loss)} at batch {batch}; lower the learning rate")


class LearningRateInLogs(keras.callbacks.Callback):
    """Put the optimizer's current learning rate into each epoch's logs (CSV, curves, MLflow)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class ResumeMonitorState(keras.callbacks.Callback):
    """After a resume, give ModelCheckpoint, EarlyStopping and ReduceLROnPlateau their memory back.

    Keras' backup holds weights, optimizer and epoch, not the callbacks' best value and patience
    counters; without them a resumed run would overwrite the best checkpoint with a worse model
    and restart its patience. Both are rebuilt from history.csv, the best weights from best.keras.
    """

    def __init__(self, run_dir: Path, monitor: str, mode: str, resume_epoch: int, stateful: list):
        super().__init__()
        self.run_dir, self.monitor, self.mode = run_dir, monitor, mode
        self.resume_epoch, self.stateful = resume_epoch, stateful

    def on_train_begin(self, logs=None):
        values = read_history(self.run_dir / "history.csv", self.monitor, before_epoch=self.resume_epoch)
        if not self.resume_epoch or not values:
            return
        pick = max if self.mode == "max" else min
        best_epoch = pick(values, key=values.get)
        best, wait = values[best_epoch], self.resume_epoch - 1 - best_epoch
        best_weights = self._best_weights()
        for callback in self.stateful:
            if isinstance(callback, keras.callbacks.ModelCheckpoint) and best_weights is None:
                continue  # no usable best.keras: let the next epoch write one
            callback.best = best
            if isinstance(callback, keras.callbacks.EarlyStopping | keras.callbacks.ReduceLROnPlateau):
                callback.wait = wait
            if isinstance(callback, keras.callbacks.EarlyStopping):
                callback.best_epoch = best_epoch
                callback.best_weights = best_weights
        log.info("resumed at epoch %d: best %s %.4f at epoch %d", self.resume_epoch, self.monitor, best, best_epoch)

    def _best_weights(self):
        path = self.run_dir / "best.keras"
        try:
            from models.saving import load_keras_model

            return load_keras_model(path).get_weights()
        except (OSError, ValueError) as err:
            # A kill while ModelCheckpoint was writing leaves a truncated file: not fatal.
            log.warning("best checkpoint %s is unreadable (%s); it will be rewritten", path, str(err)[:120])
            return None


def read_history(path: Path, column: str, before_epoch: int | None = None) -> dict[int, float]:
    """epoch -> value from a CSVLogger file; a repeated epoch (after a resume) keeps its last row."""
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = {int(r["epoch"]): r for r in csv.DictReader(f) if r.get("epoch", "").isdigit()}
    out = {e: float(r[column]) for e, r in sorted(rows.items()) if r.get(column) not in (None, "")}
    return {e: v for e, v in out.items() if before_epoch is None or e < before_epoch}


def progress_verbosity(progress: str) -> int:
    """Keras' own `verbose`: 1 = its progress bar (`train.progress=bar`), else 0: EpochLine speaks."""
    return 1 if progress == "bar" else 0


class EpochLine(keras.callbacks.Callback):
    """One line per epoch, as a stage line of the quiet terminal (`train.progress` auto or epoch).

    Keras' verbose=2 prints two lines an epoch ("Epoch n/N", then the metrics), and its progress
    bar splices other output into itself; this line comes after every callback has added to the
    logs (learning rate, EMA validation), so it shows what the CSV and MLflow record. On a
    budgeted run (`train.time_budget_minutes`) it ends with the time left of the budget.
    """

    def __init__(self, budget: TimeBudget | None = None):
        super().__init__()
        self.started = 0.0
        self.budget = budget

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        names = sorted(logs, key=lambda name: (name.removeprefix("val_") != "loss", name))  # loss first
        train = [f"{k} {_short(logs[k])}" for k in names if not k.startswith("val_") and k != "learning_rate"]
        val = [f"{k} {_short(logs[k])}" for k in names if k.startswith("val_")]
        rate = [f"lr {logs['learning_rate']:.3g}"] if "learning_rate" in logs else []
        seconds = time.perf_counter() - self.started
        total = self.params.get("epochs", "?")
        parts = ["  ".join(train), "  ".join(val), "  ".join([*rate, f"{seconds:.1f} s"])]
        if self.budget is not None:
            # The figure the budget decided on this epoch (it runs first), so this line and its stop line agree.
            parts.append(f"{duration(self.budget.left)} left")
        line = " | ".join(part for part in parts if part)
        log.info("epoch %d/%s: %s", epoch + 1, total, line, extra={"stage": True})


def _short(value) -> str:
    return f"{float(value):.4f}"


class EmaForValidation(keras.callbacks.Callback):
    """With `train.optimizer.ema`: each epoch is validated, checkpointed and early-stopped on the
    moving average of the weights, while training (and the kill-and-resume backup) continues
    from the raw weights.

    The average goes into the model when validation starts and stays there through the epoch's
    callbacks (CSV, ModelCheckpoint, EarlyStopping); `RawWeightsBack`, placed just before the
    backup, puts the raw weights back. Keras' own SwapEMAWeights(swap_on_epoch=True) is not used:
    a run that stops before its last epoch (time budget, early stopping) ends with the two sets
    exchanged, and fit's final EMA swap then installs the raw weights.
    """

    def __init__(self):
        super().__init__()
        self.raw = None
        self.training = False

    def on_train_begin(self, logs=None):
        self.training = True

    def on_train_end(self, logs=None):
        self.training = False

    def on_test_begin(self, logs=None):
        optimizer = self.model.optimizer
        if not self.training or self.raw is not None or not getattr(optimizer, "use_ema", False):
            return  # an evaluate() outside fit, or already swapped
        variables = optimizer._trainable_variables
        self.raw = [keras.ops.convert_to_numpy(v) for v in variables]
        for variable, average in zip(variables, optimizer._model_variables_moving_average, strict=True):
            variable.assign(average)

    def put_raw_back(self):
        if self.raw is None:
            return
        for variable, raw in zip(self.model.optimizer._trainable_variables, self.raw, strict=True):
            variable.assign(raw)
        self.raw = None


class RawWeightsBack(keras.callbacks.Callback):
    """The end-of-epoch half of EmaForValidation: raw weights back before the backup and the next epoch."""

    def __init__(self, ema: EmaForValidation):
        super().__init__()
        self.ema = ema

    def on_epoch_end(self, epoch, logs=None):
        self.ema.put_raw_back()


def build_early_stopping(cfg: TrainConfig) -> keras.callbacks.EarlyStopping | None:
    """EarlyStopping whose patience starts after the warm-up; None when off (see `early_stopping_patience`)."""
    from models.optimizers import warmup_epochs

    patience = cfg.early_stopping_patience
    if patience == "auto":
        patience = 12 if cfg.optimizer.schedule == "constant" else None
    if not patience:
        return None
    return keras.callbacks.EarlyStopping(
        monitor=cfg.monitor,
        mode=keras_mode(cfg.monitor),
        patience=patience,
        restore_best_weights=True,
        start_from_epoch=math.ceil(warmup_epochs(cfg.optimizer, cfg.epochs)),
    )


# Over ~50 lines on purpose: the list of a run's callbacks in their order, read in one place.
def build_callbacks(
    cfg: TrainConfig,
    run_dir: Path,
    *,
    scratch_dir: Path | None = None,
    resume_epoch: int = 0,
    extra: list[keras.callbacks.Callback] = (),
    snapshot: Snapshot | None = None,
) -> list[keras.callbacks.Callback]:
    """All callbacks of a run; `extra` (MLflow metrics, gradient health) go before the backup.

    Every worker runs the same callbacks, so all take the same decisions (early stopping, LR
    reduction) on the same all-reduced metrics and save at the same moments. Only the chief
    writes into `run_dir`; other workers pass a `scratch_dir` for their copies.
    """
    mode = keras_mode(cfg.monitor)
    out_dir = scratch_dir or run_dir
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(out_dir / "best.keras"), monitor=cfg.monitor, mode=mode, save_best_only=True
    )
    stateful: list[keras.callbacks.Callback] = [checkpoint]
    early_stopping = build_early_stopping(cfg)
    if early_stopping:
        stateful.append(early_stopping)
    if cfg.reduce_lr_patience:
        stateful.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=cfg.monitor,
                mode=mode,
                patience=cfg.reduce_lr_patience,
                factor=cfg.reduce_lr_factor,
                min_lr=cfg.min_learning_rate,
            )
        )
    ema = [EmaForValidation()] if cfg.optimizer.ema else []
    callbacks: list[keras.callbacks.Callback] = [
        *ema,
        DiskSpaceCheck(out_dir),  # first at each epoch end: before anything writes
        LearningRateInLogs(),
        RaiseOnNaN(),
        keras.callbacks.CSVLogger(str(out_dir / "history.csv"), append=resume_epoch > 0),
        *stateful,
    ]
    budget = TimeBudget(cfg.time_budget_minutes * 60) if cfg.time_budget_minutes else None
    if budget is not None:
        callbacks += [budget, FollowTheBudget(budget)]
    if cfg.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(out_dir / "tensorboard")))
    callbacks += list(extra)
    if cfg.progress in ("auto", "epoch"):
        callbacks.append(EpochLine(budget))  # after every callback that adds to the logs
    callbacks.append(ResumeMonitorState(run_dir, cfg.monitor, mode, resume_epoch, stateful))
    callbacks += [RawWeightsBack(ema[0])] if ema else []  # raw weights back before the backup
    # Our own backup, not Keras' BackupAndRestore: atomic snapshots with checksums, the last two kept.
    callbacks.append(RunBackup(out_dir / "backup", snapshot, save_freq=cfg.backup_every_n_steps or "epoch"))
    return callbacks
