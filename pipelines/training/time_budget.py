"""Stop training before a wall-clock budget runs out, so models can be compared at equal cost."""

import logging
import time

import keras

log = logging.getLogger(__name__)


class TimeBudget(keras.callbacks.Callback):
    """Stop at the end of an epoch when the next one would not fit in `seconds`.

    Predicting with the slowest epoch so far (not stopping after overshooting) keeps every
    model inside the same budget, which is what a side-by-side comparison needs. The first epoch
    of a fit also traces the graphs (a minute for an Inception net): it predicts only until a
    second epoch has been timed, or a 3-minute budget would end an 18-epoch run after 8.
    """

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = float(seconds)
        self.started = None
        self.slowest_epoch = 0.0  # of the epochs after this fit's first
        self.first_epoch = None
        self.epoch_started = None
        self.exhausted = False

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if self.first_epoch is None:
            self.first_epoch = now - self.epoch_started
        else:
            self.slowest_epoch = max(self.slowest_epoch, now - self.epoch_started)
        if now - self.started + (self.slowest_epoch or self.first_epoch) > self.seconds:
            self.exhausted = True
            self.model.stop_training = True
            log.info(
                "stopped: time budget of %.0f s reached after epoch %d", self.seconds, epoch + 1, extra={"stage": True}
            )
