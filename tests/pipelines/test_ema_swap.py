"""EMA of the weights: at the end of training the model holds the optimizer's average, not the last step."""

import keras
import numpy as np
import pytest

from models.config import OptimizerConfig
from models.optimizers import build_optimizer
from pipelines.training.fit import use_ema_weights


def _trained(ema: bool, steps: int = 6):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    cfg = OptimizerConfig(name="sgd", learning_rate=0.5, ema=ema, ema_momentum=0.8)
    model.compile(build_optimizer(cfg, steps, 1), keras.losses.CategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8 * steps, 4)).astype("float32"), np.eye(3, dtype="float32")[rng.integers(0, 3, 8 * steps)]
    for i in range(steps):  # train_on_batch: unlike fit, it does not swap the average in at the end
        model.train_on_batch(x[8 * i : 8 * i + 8], y[8 * i : 8 * i + 8])
    return model


def test_swap_puts_the_moving_average_into_the_weights():
    model = _trained(ema=True)
    raw = [v.numpy().copy() for v in model.trainable_variables]
    average = [v.numpy().copy() for v in model.optimizer._model_variables_moving_average]
    assert not all(np.allclose(r, a) for r, a in zip(raw, average, strict=True))  # they differ before

    assert use_ema_weights(model)
    for variable, expected in zip(model.trainable_variables, average, strict=True):
        np.testing.assert_allclose(variable.numpy(), expected)
    assert not np.allclose(model.trainable_variables[0].numpy(), raw[0])


def test_no_swap_without_ema_or_after_early_stopping_restored_the_best_epoch():
    plain = _trained(ema=False)
    before = [v.numpy().copy() for v in plain.trainable_variables]
    assert not use_ema_weights(plain)
    np.testing.assert_array_equal(plain.trainable_variables[0].numpy(), before[0])

    model = _trained(ema=True)
    stopped = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", restore_best_weights=True)
    stopped.stopped_epoch, stopped.best_epoch = 5, 2
    stopped.best_weights = [np.full(w.shape, 0.25, "float32") for w in model.get_weights()]
    assert not use_ema_weights(model, [stopped])
    np.testing.assert_array_equal(model.trainable_variables[0].numpy(), 0.25)  # its choice, not the average


class _Recorder(keras.callbacks.Callback):
    """What the epoch-end callbacks (checkpoint, early stopping) see, and the average at that time."""

    def __init__(self):
        super().__init__()
        self.seen, self.average = [], []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(self.model.trainable_variables[0].numpy().copy())
        self.average.append(self.model.optimizer._model_variables_moving_average[0].numpy().copy())


def test_each_epoch_is_validated_and_checkpointed_on_the_average_then_training_resumes_raw():
    from pipelines.training.callbacks import EmaForValidation, RawWeightsBack

    model = _trained(ema=True, steps=1)  # compiled, built
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(48, 4)).astype("float32"), np.eye(3, dtype="float32")[rng.integers(0, 3, 48)]
    ema, recorder = EmaForValidation(), _Recorder()
    raw_at_epoch_start = []
    track = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: raw_at_epoch_start.append(model.trainable_variables[0].numpy().copy())
    )
    history = model.fit(
        x, y, batch_size=8, epochs=3, validation_data=(x, y), callbacks=[track, ema, recorder, RawWeightsBack(ema)]
    )
    for seen, average in zip(recorder.seen, recorder.average, strict=True):
        np.testing.assert_allclose(seen, average)  # the checkpoint sees the average
    # Training went on from the raw weights, not from the average it was shown.
    assert not np.allclose(raw_at_epoch_start[1], recorder.seen[0])
    # The logged val_loss is the average's: evaluate the final (averaged) weights and compare.
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-4)
    np.testing.assert_allclose(model.trainable_variables[0].numpy(), recorder.average[-1])
