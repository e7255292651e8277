"""The Keras callbacks of a training run, from the `train` config slice."""

import math
from pathlib import Path

import keras


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; the run must fail, not finish quietly."""


class RaiseOnNaN(keras.callbacks.Callback):
    """Like TerminateOnNaN, but raises so the caller marks the run FAILED and registers nothing."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(f"loss became {float(loss)} at batch {batch}; lower the learning rate")


def build_callbacks(cfg, run_dir: Path) -> list[keras.callbacks.Callback]:
    mode = "max" if cfg.monitor.endswith("accuracy") else "min"
    callbacks: list[keras.callbacks.Callback] = [
        RaiseOnNaN(),
        keras.callbacks.ModelCheckpoint(
            str(run_dir / "best.keras"), monitor=cfg.monitor, mode=mode, save_best_only=True
        ),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv")),
    ]
    if cfg.early_stopping_patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=cfg.monitor, mode=mode, patience=cfg.early_stopping_patience, restore_best_weights=True
            )
        )
    if cfg.reduce_lr_patience:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(monitor=cfg.monitor, mode=mode, patience=cfg.reduce_lr_patience)
        )
    return callbacks
