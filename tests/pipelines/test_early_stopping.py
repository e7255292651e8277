"""Early stopping never ends a run during the learning-rate warm-up and never cuts a schedule by default."""

import keras
import numpy as np
import pytest

from models.config import OptimizerConfig
from pipelines.config.train import TrainConfig
from pipelines.training.callbacks import build_callbacks, build_early_stopping


def _stopping_epoch(callback, scores) -> int | None:
    """Feed val_accuracy per epoch to a real EarlyStopping on a real model; the epoch it stops after."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    callback.set_model(model)
    model.stop_training = False  # what fit() sets before the first epoch
    callback.on_train_begin()
    for epoch, score in enumerate(scores):
        model.layers[0].kernel.assign(np.full((2, 1), float(epoch), "float32"))  # weights tell epochs apart
        callback.on_epoch_end(epoch, {"val_accuracy": score})
        if model.stop_training:
            return epoch
    return None


def test_warm_up_epochs_never_count_toward_patience():
    # Cosine with 3 warm-up epochs; the warm-up scores look great and then drop (a learning-rate spike).
    cfg = TrainConfig(
        epochs=20,
        early_stopping_patience=2,
        optimizer=OptimizerConfig(schedule="cosine", warmup_epochs=3),
    )
    scores = [0.9, 0.5, 0.4, 0.60, 0.61, 0.62, 0.55, 0.55, 0.55, 0.55]
    callback = build_early_stopping(cfg)
    assert callback.start_from_epoch == 3
    assert _stopping_epoch(callback, scores) == 7  # best 0.62 at epoch 5, two epochs of patience after it
    assert callback.best_epoch == 5  # the warm-up's 0.9 (epoch 0) was never the "best" to go back to

    plain = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=2)
    assert _stopping_epoch(plain, scores) == 2  # what Keras' default does: stops inside the warm-up


def test_onecycle_warm_up_defaults_to_a_quarter_of_the_run():
    cfg = TrainConfig(epochs=12, early_stopping_patience=4, optimizer=OptimizerConfig(schedule="onecycle"))
    assert build_early_stopping(cfg).start_from_epoch == 3


@pytest.mark.parametrize("schedule", ["cosine", "onecycle", "step", "exponential"])
def test_auto_is_off_for_scheduled_runs_and_the_best_checkpoint_stays(schedule, tmp_path):
    cfg = TrainConfig(optimizer=OptimizerConfig(schedule=schedule))
    assert cfg.early_stopping_patience == "auto"
    callbacks = build_callbacks(cfg, tmp_path)
    assert not any(isinstance(c, keras.callbacks.EarlyStopping) for c in callbacks)
    checkpoint = next(c for c in callbacks if isinstance(c, keras.callbacks.ModelCheckpoint))
    assert checkpoint.save_best_only


def test_auto_keeps_patience_12_for_a_constant_learning_rate():
    callback = build_early_stopping(TrainConfig())
    assert callback.patience == 12
    assert callback.start_from_epoch == 0


def test_the_fit_outcome_knows_which_callback_stopped_the_run(tmp_path):
    from pipelines.training.fit import stop_reason
    from pipelines.training.time_budget import TimeBudget

    cfg = TrainConfig(epochs=20, early_stopping_patience=2, time_budget_minutes=5)
    callbacks = build_callbacks(cfg, tmp_path)
    assert stop_reason(callbacks) == ""  # nothing stopped it: it ran all its epochs
    stopping = next(c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping))
    assert _stopping_epoch(stopping, [0.5, 0.6, 0.55, 0.55, 0.55]) == 3
    assert stop_reason(callbacks) == "early stop"

    budget_only = build_callbacks(TrainConfig(epochs=20, early_stopping_patience=None, time_budget_minutes=5), tmp_path)
    budget = next(c for c in budget_only if isinstance(c, TimeBudget))
    budget.set_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    budget.on_train_begin()
    budget.started -= 299.5  # a first epoch of 299.5 s, 0.5 s of the 5 minutes left: the run stops
    budget.last_epoch_end -= 299.5
    budget.on_epoch_end(0)
    assert stop_reason(budget_only) == "time budget"
