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
    second epoch has been timed, or a 3-minute budget would end an 18-epoch run after 8. An
    epoch is timed from the previous epoch's end, so the callbacks that run after this one (the
    backup, the MLflow logging) count toward it too.

    The stop is said in `on_train_end`, after every callback of the last epoch (its epoch line
    included) has run, so the terminal reads in the order things happened.
    """

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = float(seconds)
        self.started = None
        self.slowest_epoch = 0.0  # of the epochs after this fit's first
        self.first_epoch = None
        self.last_epoch_end = None
        self.exhausted = False
        self.stopped_epoch = None  # 1-based, when the budget stopped the run
        self.left = self.seconds  # seconds left at the last epoch's end (negative once overrun)

    def on_train_begin(self, logs=None):
        self.started = self.last_epoch_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if self.first_epoch is None:
            self.first_epoch = now - self.last_epoch_end
        else:
            self.slowest_epoch = max(self.slowest_epoch, now - self.last_epoch_end)
        self.last_epoch_end = now
        self.left = self.seconds - (now - self.started)
        if self.left < (self.slowest_epoch or self.first_epoch):
            self.exhausted = True
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if not self.exhausted:
            return
        total = self.params.get("epochs") if self.params else None
        of = f" of {total}" if total else ""
        budget = f"the time budget of {duration(self.seconds)}"
        epoch = duration(self.slowest_epoch or self.first_epoch)
        why = (
            f"{budget} has {duration(self.left)} left, less than an epoch ({epoch})"
            if self.left > 0
            else f"{budget} is used up"
        )
        log.info("stopped after epoch %d%s: %s", self.stopped_epoch, of, why, extra={"stage": True})


def duration(seconds: float) -> str:
    """Seconds as a person reads them on a progress line: 0.6s, 41s, 3m12s, 1h05m."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f}s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class FollowTheBudget(keras.callbacks.Callback):
    """After every batch, tell a FollowsBudget schedule how much of the budget is used (0..1).

    The budget's end, for the schedule, is where TimeBudget will stop: the budget less one epoch
    (the slowest so far), so the last epoch trains at the schedule's annealed end. Goes after the
    TimeBudget in the callback list (it reads that one's clock).
    """

    def __init__(self, budget: TimeBudget):
        super().__init__()
        self.budget = budget

    def on_train_batch_end(self, batch, logs=None):
        schedule = getattr(self.model.optimizer, "_learning_rate", None)
        progress = getattr(schedule, "time_progress", None)
        if progress is None or self.budget.started is None:
            return
        epoch = self.budget.slowest_epoch or self.budget.first_epoch or 0.0
        horizon = max(self.budget.seconds - epoch, 1e-3)
        progress.assign(min(1.0, (time.perf_counter() - self.budget.started) / horizon))
