"""Where an epoch's time goes: training steps, validation, and the callbacks after it.

A run's images/s (images / wall time of the fit) mixes the training step with everything an
epoch does around it: the validation pass, the gradient-health probe, the checkpoint, the
backup and the MLflow logging. This callback times each part of every epoch, so the report can
give the training step's own rate (what the benchmark compares with a matmul) and say what the
rest costs. Epoch 1 is left out of the medians when there are others: it includes the tracing.
"""

import statistics
import time

import keras


class EpochClock(keras.callbacks.Callback):
    """Per epoch: seconds in training steps, in validation, and from validation's end to the next epoch."""

    def __init__(self, probe=None):
        super().__init__()
        self.probe = probe  # the GradientHealth callback: its own seconds are split out of "after"
        self.epochs: list[dict[str, float]] = []
        self._marks: dict[str, float] = {}

    def on_epoch_begin(self, epoch, logs=None):
        self._close_previous()
        now = time.perf_counter()
        self._marks = {"begin": now, "steps_end": now, "test_begin": now, "test_end": now}
        self._probe_seconds = self._probe_total()

    def on_train_batch_end(self, batch, logs=None):
        self._marks["steps_end"] = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._marks["test_begin"] = time.perf_counter()

    def on_test_end(self, logs=None):
        self._marks["test_end"] = time.perf_counter()

    def on_train_end(self, logs=None):
        self._close_previous()

    def _probe_total(self) -> float:
        return getattr(self.probe, "seconds", 0.0) if self.probe is not None else 0.0

    def _close_previous(self) -> None:
        if not self._marks:
            return
        marks, now = self._marks, time.perf_counter()
        end_of_work = max(marks["steps_end"], marks["test_end"])
        probe = self._probe_total() - self._probe_seconds
        self.epochs.append(
            {
                "steps": marks["steps_end"] - marks["begin"],
                "validation": max(0.0, marks["test_end"] - marks["test_begin"]),
                "gradient_probe": probe,
                "other_callbacks": max(0.0, now - end_of_work - probe),
            }
        )
        self._marks = {}

    def medians(self) -> dict[str, float]:
        """Median seconds per part over the epochs after the first (all of them if only one)."""
        timed = self.epochs[1:] or self.epochs
        if not timed:
            return {}
        return {part: round(statistics.median(e[part] for e in timed), 3) for part in timed[0]}
