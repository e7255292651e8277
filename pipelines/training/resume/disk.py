"""A full disk is one line naming the path and the space needed, not a traceback or a half-written file.

Each epoch ends by writing a checkpoint (best.keras) and a backup snapshot, each about the size of
the model's weights plus the optimizer's slots. The space is checked before those writes start,
so a disk that is filling up stops the run between two good backups; an ENOSPC that still happens
(something else filled the disk at the same moment) is turned into the same line.
"""

import errno
import logging
import math
import shutil
from pathlib import Path

import keras
import numpy as np

log = logging.getLogger(__name__)

MARGIN_BYTES = 1 << 20  # history.csv lines, metadata, file-system overhead


class DiskFullError(RuntimeError):
    """Not enough space where the run writes; the message names the path and the space needed."""


def state_bytes(model) -> int:
    """What one snapshot of the training state takes: weights plus the optimizer's variables."""
    variables = list(model.weights)
    if model.optimizer is not None:
        variables += list(model.optimizer.variables)
    return sum(math.prod(v.shape) * np.dtype(v.dtype).itemsize for v in variables)


def ensure_space(directory: Path, needed: int, what: str) -> None:
    """Raise DiskFullError unless `directory` has `needed` bytes (+ a margin) free."""
    free = shutil.disk_usage(directory).free
    if free < needed + MARGIN_BYTES:
        raise DiskFullError(disk_full_message(directory, needed + MARGIN_BYTES, free, what))


def disk_full_message(directory: Path, needed: int, free: int, what: str) -> str:
    need = f"needs {_mb(needed)}" if needed else "could not be written"
    return (
        f"disk full: {what} {need} but {directory} has {_mb(free)} free; free some space "
        "and run the same command again (it resumes from the last good backup)"
    )


def as_disk_full(err: BaseException, directory: Path, needed: int) -> DiskFullError | None:
    """The DiskFullError an ENOSPC (or a write that failed on a disk with no room left) really is."""
    if isinstance(err, DiskFullError):
        return err
    text = str(err)
    no_space = getattr(err, "errno", None) == errno.ENOSPC or "No space left" in text or "errno = 28" in text
    try:
        free = shutil.disk_usage(directory).free
    except OSError:
        return None
    if not no_space and not (isinstance(err, OSError) and free < needed):
        return None
    return DiskFullError(disk_full_message(directory, needed, free, f"a file of the run in {directory}"))


class DiskSpaceCheck(keras.callbacks.Callback):
    """First callback of every epoch end: stop before the checkpoint and backup writes if they cannot fit."""

    def __init__(self, directory: Path):
        super().__init__()
        self.directory = directory

    def on_epoch_end(self, epoch, logs=None):
        # best.keras and a backup snapshot: two copies of the training state.
        needed = 2 * state_bytes(self.model)
        ensure_space(self.directory, needed, f"epoch {epoch + 1}'s checkpoint and backup")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
