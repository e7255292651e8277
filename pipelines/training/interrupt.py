"""Ctrl-C during training stops at the next batch boundary, never inside a write.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives.
Inside the SQLite transaction of an MLflow metric write, that leaves the store locked, and the
run's own failure can then not be recorded ("database is locked": seen when a tuning study was
interrupted on a loaded machine). So while the model trains, the first Ctrl-C only sets a flag
and `InterruptAtBatchEnd` raises KeyboardInterrupt at the next batch end, where nothing is
half-written; a second Ctrl-C interrupts at once, as usual. SIGTERM is deferred the same way
and raises `Terminated` (a KeyboardInterrupt), so the run is recorded KILLED and resumes.
"""

import logging
import signal
import threading
from contextlib import contextmanager

import keras

from data.errors import Terminated, raise_terminated

log = logging.getLogger(__name__)


class InterruptAtBatchEnd(keras.callbacks.Callback):
    """Raises the KeyboardInterrupt a deferred Ctrl-C asked for, between two batches."""

    def __init__(self):
        super().__init__()
        self.requested: BaseException | None = None
        self.request_message = "stopping at the end of this batch"

    def request(self, signum, frame):
        stop = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if self.requested:
            raise stop
        self.requested = stop
        name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
        log.warning("%s: %s (Ctrl-C again to stop at once)", name, self.request_message)

    def _raise_if_requested(self, *_args, **_kwargs):
        if self.requested:
            raise self.requested

    on_train_batch_end = on_test_batch_end = on_epoch_begin = _raise_if_requested


@contextmanager
def interrupts_between_batches(callback: InterruptAtBatchEnd):
    """Route SIGINT and SIGTERM to `callback` while the block runs (main thread; only signals whose
    handler is Python's default or the CLI's `raise_terminated`, never one that is ignored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # Ignored signals and other people's handlers are left alone.
    routable = {signal.SIGINT: (signal.default_int_handler,), signal.SIGTERM: (signal.SIG_DFL, raise_terminated)}
    previous = {sig: signal.getsignal(sig) for sig in routable}
    routed = [sig for sig, handlers in routable.items() if previous[sig] in handlers]
    for sig in routed:
        signal.signal(sig, callback.request)
    try:
        yield
    finally:
        for sig in routed:
            signal.signal(sig, previous[sig])


@contextmanager
def finish_before_stopping(what: str):
    """Ctrl-C or SIGTERM inside the block waits for its end (a second Ctrl-C stops at once).

    For the steps that must not stop halfway, such as registering a model version and moving its
    alias: stopped between the two, a run ended with a version nobody points at, and its rerun
    registered a duplicate.
    """
    pending = InterruptAtBatchEnd()
    pending.request_message = f"finishing {what} first"
    with interrupts_between_batches(pending):
        yield
    if pending.requested:
        raise pending.requested
