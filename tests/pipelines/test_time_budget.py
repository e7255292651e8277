"""The wall-clock budget stops training before the next epoch would overrun it."""

import re
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


class SimulatedClock(keras.callbacks.Callback):
    """Stands in for time.perf_counter: each epoch "takes" its seconds, the first one 60 s
    (graph tracing, as an Inception net's does on 2 cores), the others 8 s. Deterministic, so a
    loaded test machine cannot change the answer."""

    def __init__(self):
        super().__init__()
        self.now = 0.0

    def perf_counter(self):
        return self.now

    def on_epoch_end(self, epoch, logs=None):
        self.now += 60.0 if epoch == 0 else 8.0


def test_the_first_epochs_tracing_does_not_shorten_the_run(monkeypatch):
    from pipelines.training import time_budget

    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    clock = SimulatedClock()
    monkeypatch.setattr(time_budget, "time", clock)
    budget = TimeBudget(seconds=180.0)
    history = model.fit(x, y, epochs=100, verbose=0, callbacks=[clock, budget])  # the clock ticks first
    # After epoch n the clock reads 60 + 8 (n - 1). Predicting with the 8 s epochs, the run goes
    # on while that + 8 <= 180: 16 epochs, ending at 180 s. Predicting with the 60 s first epoch
    # (the bug) it stopped once past 120 s: after 9.
    assert budget.exhausted
    assert len(history.history["loss"]) == 16
    assert clock.now <= 180.0


def test_epoch_lines_show_time_left_and_the_stop_line_follows_the_last_one(monkeypatch, caplog):
    import logging

    from pipelines.training import time_budget
    from pipelines.training.callbacks import EpochLine

    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy")
    clock = SimulatedClock()
    monkeypatch.setattr(time_budget, "time", clock)
    budget = TimeBudget(seconds=180.0)
    with caplog.at_level(logging.INFO):
        # The order of build_callbacks: the budget decides, then the epoch line reports.
        model.fit(x, y, epochs=100, verbose=0, callbacks=[clock, budget, EpochLine(budget)])
    lines = [r.getMessage() for r in caplog.records if getattr(r, "stage", False)]
    assert re.fullmatch(r"epoch 1/100: loss \d\.\d{4} \| [\d.]+ s \| 2m00s left", lines[0])  # 180 - 60 s
    assert lines[1].endswith(" | 1m52s left")
    assert re.fullmatch(r"epoch 16/100: .* \| 0\.0s left", lines[-2])
    assert lines[-1] == "stopped after epoch 16 of 100: the time budget of 3m00s is used up"
    assert len(lines) == 17  # one line per epoch, then the stop
    assert budget.stopped_epoch == 16


def test_the_stop_line_says_what_was_left_and_what_an_epoch_takes(monkeypatch, caplog):
    import logging

    from pipelines.training import time_budget

    x = np.zeros((8, 4), "float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    clock = SimulatedClock()
    monkeypatch.setattr(time_budget, "time", clock)
    budget = TimeBudget(seconds=190.0)  # after 16 epochs (180 s) 10 s are left, an epoch takes 8 s: one more
    with caplog.at_level(logging.INFO):
        model.fit(x, x[:, :1], epochs=100, verbose=0, callbacks=[clock, budget])
    assert caplog.records[-1].getMessage() == (
        "stopped after epoch 17 of 100: the time budget of 3m10s has 2.0s left, less than an epoch (8.0s)"
    )


def test_durations_read_like_a_clock():
    from pipelines.training.time_budget import duration

    assert [duration(s) for s in (-3, 0.44, 9.94, 41.4, 60, 192, 3599.6, 3900)] == [
        "0.0s",
        "0.4s",
        "9.9s",
        "41s",
        "1m00s",
        "3m12s",
        "1h00m",
        "1h05m",
    ]
