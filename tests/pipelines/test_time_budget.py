"""The wall-clock budget stops training before the next epoch would overrun it."""

import time

import keras
import numpy as np

from pipelines.training.time_budget import TimeBudget


class SlowEpochs(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.25)


def test_time_budget_stops_inside_the_budget():
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)  # trace the step first: the budget should time training only
    budget = TimeBudget(seconds=2.0)
    started = time.perf_counter()
    history = model.fit(x, y, epochs=100, verbose=0, callbacks=[SlowEpochs(), budget])
    elapsed = time.perf_counter() - started
    epochs = len(history.history["loss"])
    assert budget.exhausted
    assert 2 <= epochs < 100
    assert elapsed <= 2.0 + 0.2, f"overran the budget: {elapsed:.2f}s"
