"""Ctrl-C during training waits for the batch end: a write in progress is never cut in half."""

import os
import signal

import keras
import numpy as np
import pytest

from pipelines.training.interrupt import InterruptAtBatchEnd, interrupts_between_batches


class CtrlCDuringAWrite(keras.callbacks.Callback):
    """At batch 2, SIGINT arrives while a (simulated) write is running; the write must finish."""

    def __init__(self):
        super().__init__()
        self.batches = 0
        self.write_finished = False

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        if batch == 2:
            os.kill(os.getpid(), signal.SIGINT)
            total = sum(i * i for i in range(200_000))  # signal handlers run between these bytecodes
            self.write_finished = total > 0


def _tiny_fit(callbacks):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(64, 4)), np.zeros(64, dtype=int)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=callbacks)


def test_ctrl_c_waits_for_the_batch_end_then_stops_training():
    interrupt, writer = InterruptAtBatchEnd(), CtrlCDuringAWrite()
    with pytest.raises(KeyboardInterrupt), interrupts_between_batches(interrupt):
        _tiny_fit([interrupt, writer])
    assert writer.write_finished
    assert writer.batches == 3  # raised at the next batch end (the 4th), before this callback counted it
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler given back


def test_without_the_deferral_the_same_ctrl_c_cuts_the_write():
    writer = CtrlCDuringAWrite()
    with pytest.raises(KeyboardInterrupt):
        _tiny_fit([writer])
    assert not writer.write_finished  # what the deferral prevents
