"""Ctrl-C during training stops at the next batch boundary, never inside a write.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives.
Inside the SQLite transaction of an MLflow metric write, that leaves the store locked, and the
run's own failure can then not be recorded ("database is locked": seen when a tuning study was
interrupted on a loaded machine). So while the model trains, the first Ctrl-C only sets a flag
and `InterruptAtBatchEnd` raises KeyboardInterrupt at the next batch end, where nothing is
half-written; a second Ctrl-C interrupts at once, as usual.
"""

import logging
import signal
import threading
from contextlib import contextmanager

import keras

log = logging.getLogger(__name__)


class InterruptAtBatchEnd(keras.callbacks.Callback):
    """Raises the KeyboardInterrupt a deferred Ctrl-C asked for, between two batches."""

    def __init__(self):
        super().__init__()
        self.requested = False

    def request(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("Ctrl-C: stopping at the end of this batch (Ctrl-C again to stop at once)")

    def _raise_if_requested(self, *_args, **_kwargs):
        if self.requested:
            raise KeyboardInterrupt

    on_train_batch_end = on_test_batch_end = on_epoch_begin = _raise_if_requested


@contextmanager
def interrupts_between_batches(callback: InterruptAtBatchEnd):
    """Route SIGINT to `callback` while the block runs (main thread, default handler only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:  # ignored, or someone else's handler: leave it
        yield
        return
    signal.signal(signal.SIGINT, callback.request)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
