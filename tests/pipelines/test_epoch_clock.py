"""The epoch clock splits each epoch into steps, validation, the gradient probe and the other callbacks."""

import time

import keras
import numpy as np
import pytest

from pipelines.training.epoch_clock import EpochClock


class _Probe(keras.callbacks.Callback):
    """Stands for GradientHealth: spends 0.1 s per epoch end and counts it in `seconds`."""

    seconds = 0.0

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.1)
        self.seconds += 0.1


class _SlowSave(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.2)


def test_each_part_of_an_epoch_is_timed_where_it_happens():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    x, y = np.random.rand(64, 4).astype("float32"), np.eye(2, dtype="float32")[np.arange(64) % 2]
    probe = _Probe()
    clock = EpochClock(probe)
    model.fit(x, y, validation_data=(x, y), epochs=4, batch_size=16, verbose=0, callbacks=[clock, probe, _SlowSave()])

    assert len(clock.epochs) == 4
    medians = clock.medians()
    assert set(medians) == {"steps", "validation", "gradient_probe", "other_callbacks"}
    assert medians["gradient_probe"] == pytest.approx(0.1, abs=0.01)
    assert 0.2 <= medians["other_callbacks"] < 0.5  # the slow save, not the probe's 0.1 s
    assert medians["steps"] > 0
    assert medians["validation"] > 0


def test_no_epochs_no_medians_and_one_epoch_is_its_own_median():
    clock = EpochClock()
    assert clock.medians() == {}
    clock.on_epoch_begin(0)
    clock.on_train_batch_end(0)
    clock.on_train_end()
    assert len(clock.epochs) == 1
    assert clock.medians()["steps"] >= 0
