"""The callbacks of a run: order, NaN handling, progress style, and memory across a resume."""

import logging
import math
import re

import keras
import numpy as np
import pytest

from pipelines.config.train import TrainConfig
from pipelines.training.callbacks import (
    EpochLine,
    LearningRateInLogs,
    NonFiniteLossError,
    RaiseOnNaN,
    ResumeMonitorState,
    build_callbacks,
    progress_verbosity,
    read_history,
)
from pipelines.training.resume.backup import RunBackup
from pipelines.training.resume.disk import DiskSpaceCheck


def test_default_callbacks_in_a_safe_order(tmp_path):
    callbacks = build_callbacks(TrainConfig(reduce_lr_patience=3, tensorboard=True), tmp_path)
    kinds = [type(c) for c in callbacks]
    assert kinds[:4] == [DiskSpaceCheck, LearningRateInLogs, RaiseOnNaN, keras.callbacks.CSVLogger]
    for kind in (keras.callbacks.ModelCheckpoint, keras.callbacks.EarlyStopping, keras.callbacks.ReduceLROnPlateau):
        assert kind in kinds
    assert keras.callbacks.TensorBoard in kinds
    assert kinds[-1] is RunBackup  # written after everything else of the epoch
    assert kinds.index(EpochLine) > kinds.index(LearningRateInLogs)  # the line shows the epoch's learning rate
    stopping = next(c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping))
    assert stopping.restore_best_weights
    assert stopping.monitor == "val_accuracy"


def test_val_loss_is_minimized_and_switches_are_honoured(tmp_path):
    callbacks = build_callbacks(TrainConfig(monitor="val_loss", early_stopping_patience=None), tmp_path)
    checkpoint = next(c for c in callbacks if isinstance(c, keras.callbacks.ModelCheckpoint))
    assert checkpoint.monitor == "val_loss"
    assert checkpoint.mode == "min"
    assert not any(isinstance(c, keras.callbacks.EarlyStopping | keras.callbacks.ReduceLROnPlateau) for c in callbacks)


def test_workers_write_into_scratch(tmp_path):
    callbacks = build_callbacks(TrainConfig(), tmp_path / "run", scratch_dir=tmp_path / "scratch")
    csv_logger = next(c for c in callbacks if isinstance(c, keras.callbacks.CSVLogger))
    assert str(tmp_path / "scratch") in csv_logger.filename
    backup = callbacks[-1]
    assert isinstance(backup, RunBackup)
    assert backup.backup_dir == tmp_path / "scratch" / "backup"  # the chief's snapshot is restored, never written


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_raise_on_nan_raises_instead_of_stopping_quietly(value):
    with pytest.raises(NonFiniteLossError, match="lower the learning rate"):
        RaiseOnNaN().on_train_batch_end(3, {"loss": value})
    RaiseOnNaN().on_train_batch_end(3, {"loss": 0.5})


def test_one_line_per_epoch_unless_the_keras_bar_is_asked_for(caplog):
    assert [progress_verbosity(p) for p in ("auto", "epoch", "bar", "none")] == [0, 0, 1, 0]
    line = EpochLine()
    line.set_params({"epochs": 12})
    logs = {"loss": 0.61, "accuracy": 0.8972, "val_loss": 0.5, "val_accuracy": 0.9405, "learning_rate": 1e-3}
    with caplog.at_level(logging.INFO):
        line.on_epoch_begin(2)
        line.on_epoch_end(2, logs)
    assert len(caplog.records) == 1
    record = caplog.records[0]
    assert record.stage is True  # shown by the quiet terminal
    assert re.fullmatch(
        r"epoch 3/12: loss 0\.6100  accuracy 0\.8972 \| val_loss 0\.5000  val_accuracy 0\.9405 \| lr 0\.001  \d+\.\d s",
        record.getMessage(),
    )


def test_history_keeps_the_last_row_of_a_repeated_epoch(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,val_accuracy\n0,0.5\n1,0.6\n1,0.7\n2,0.65\n")
    assert read_history(path, "val_accuracy") == {0: 0.5, 1: 0.7, 2: 0.65}
    assert read_history(path, "val_accuracy", before_epoch=2) == {0: 0.5, 1: 0.7}


def test_resume_gives_checkpoint_and_early_stopping_their_memory_back(tmp_path):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.save(tmp_path / "best.keras")
    (tmp_path / "history.csv").write_text("epoch,val_accuracy\n0,0.5\n1,0.8\n2,0.7\n3,0.75\n")
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_accuracy", mode="max")
    stopping = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=5, restore_best_weights=True)
    callbacks = keras.callbacks.CallbackList(
        [checkpoint, stopping, ResumeMonitorState(tmp_path, "val_accuracy", "max", 4, [checkpoint, stopping])],
        model=model,
    )
    callbacks.on_train_begin()
    assert checkpoint.best == 0.8
    assert stopping.best == 0.8
    assert stopping.wait == 2
    assert stopping.best_epoch == 1
    assert all(np.array_equal(a, b) for a, b in zip(stopping.best_weights, model.get_weights(), strict=True))
