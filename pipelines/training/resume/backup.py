"""The run's backup: the last two training states, written so that a crash never leaves a bad one.

Keras' BackupAndRestore overwrites one weights file in place: a full disk or a kill in the middle
of a write leaves a half-written file that the next run either fails to load (h5py "addr
overflow") or, with garbled metadata, silently ignores to start a new run. Here every snapshot
is a new weights file written under a temporary name, flushed and renamed; its metadata (epoch,
size, sha256) is written the same way, last, so `training_metadata.json` only ever names a
complete file. The snapshot before it is kept (`previous_metadata.json`), so a latest one that
was damaged afterwards still leaves a good one to resume from, by choice, never silently.
"""

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras

from pipelines.training.resume.disk import ensure_space, state_bytes

log = logging.getLogger(__name__)

LATEST = "training_metadata.json"
PREVIOUS = "previous_metadata.json"
CHOICES = ("latest", "previous", "restart")


class CorruptBackupError(RuntimeError):
    """The backup cannot be trusted; the message names it and the two ways forward."""


@dataclass(frozen=True)
class Snapshot:
    epoch: int  # epochs completed when it was written
    weights: Path
    record: dict  # the metadata as written
    complete: bool  # written after the fit: the run needs no more training, only logging


def write_snapshot(model, backup_dir: Path, epoch: int, batch: int = 0, complete: bool = False) -> None:
    """Write the model's (and optimizer's) state as a new snapshot; the latest one becomes the previous."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    latest = _read_record(backup_dir / LATEST)
    seq = int(latest.get("seq", 0)) + 1 if latest else 1
    name = f"snapshot-{seq:05d}.weights.h5"
    temp = backup_dir / f".tmp-{name}"  # Keras wants the .weights.h5 suffix
    ensure_space(backup_dir, state_bytes(model), f"the backup {backup_dir / name}")
    try:
        model.save_weights(str(temp), overwrite=True)
        _flush(temp)
        os.replace(temp, backup_dir / name)
    finally:
        temp.unlink(missing_ok=True)
    record = {"epoch": epoch, "batch": batch, "seq": seq, "complete": complete, "weights": name}
    record |= {"bytes": (backup_dir / name).stat().st_size, "sha256": _sha256(backup_dir / name)}
    if latest:
        _write_atomically(backup_dir / PREVIOUS, json.dumps(latest))
    _write_atomically(backup_dir / LATEST, json.dumps(record))  # last: the snapshot now exists
    keep = {record["weights"], (latest or {}).get("weights")}
    for stale in backup_dir.glob("*.weights.h5"):
        if stale.name not in keep:
            stale.unlink(missing_ok=True)


def choose_snapshot(run_dir: Path, choice: str = "latest", may_modify: bool = True) -> Snapshot | None:
    """The verified snapshot to resume from, None to start fresh; a bad one raises with the way out.

    `choice`: "latest" (the default), "previous" (skip a latest one found corrupt) or "restart"
    (delete the backup and start over). Non-chief workers read the chief's backup but never change it.
    """
    if choice not in CHOICES:
        raise ValueError(f"backup choice '{choice}' is not one of {', '.join(CHOICES)}")
    backup_dir = run_dir / "backup"
    if not backup_dir.is_dir():
        return None
    if choice == "restart":
        if may_modify:
            shutil.rmtree(backup_dir)
            log.info("--restart: deleted the backup in %s; training starts over", backup_dir)
        return None
    if choice == "previous":
        snapshot = verify(backup_dir / PREVIOUS)  # raises when it is bad too
        if may_modify:  # from now on it is the latest: the next snapshot keeps it as previous
            _write_atomically(backup_dir / LATEST, json.dumps(snapshot.record))
        return snapshot
    if not (backup_dir / LATEST).exists() and not (backup_dir / PREVIOUS).exists():
        return None  # a backup directory with no snapshot yet: nothing was trained
    try:
        return verify(backup_dir / LATEST)
    except CorruptBackupError as err:
        raise CorruptBackupError(f"{err}; {_way_out(backup_dir)}") from None


def verify(metadata: Path) -> Snapshot:
    """Parse the metadata and check the weights file it names: present, same size, same sha256."""
    try:
        record = json.loads(metadata.read_text())
        weights = metadata.parent / record["weights"]
        epoch, size, digest = int(record["epoch"]), int(record["bytes"]), str(record["sha256"])
    except FileNotFoundError:
        raise CorruptBackupError(f"backup metadata {metadata} is missing") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CorruptBackupError(f"backup metadata {metadata} is unreadable ({type(err).__name__})") from None
    if not weights.is_file():
        raise CorruptBackupError(f"backup {weights} named by {metadata.name} is missing")
    if weights.stat().st_size != size:
        raise CorruptBackupError(f"backup {weights} is {weights.stat().st_size} bytes, not {size} (truncated?)")
    if _sha256(weights) != digest:
        raise CorruptBackupError(f"backup {weights} fails its sha256 check (corrupt)")
    return Snapshot(epoch, weights, record, bool(record.get("complete")))


def _way_out(backup_dir: Path) -> str:
    try:
        previous = verify(backup_dir / PREVIOUS)
    except CorruptBackupError:
        return "no good previous backup: run the same command with --restart to start over"
    return (
        f"run the same command with --resume-previous to resume from epoch {previous.epoch} "
        "(the previous backup, verified) or with --restart to start over"
    )


class RunBackup(keras.callbacks.Callback):
    """Restore `snapshot` when training begins; write a snapshot every epoch (or every `save_freq` steps).

    Unlike Keras' BackupAndRestore the backup is not deleted when `fit` ends: the workflow
    deletes it once the model is safely logged. Non-chief workers of a multi-worker run pass
    their scratch directory as `backup_dir` (saving is a collective: everyone saves) and restore
    from the chief's snapshot.
    """

    def __init__(self, backup_dir: Path, snapshot: Snapshot | None = None, save_freq: int | str = "epoch"):
        super().__init__()
        self.backup_dir, self.snapshot, self.save_freq = Path(backup_dir), snapshot, save_freq
        self._epoch, self._steps = 0, 0

    def on_train_begin(self, logs=None):
        if self.snapshot is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)  # its slots must exist to be loaded
        self.model.load_weights(str(self.snapshot.weights))
        log.info("restored the backup of epoch %d (%s)", self.snapshot.epoch, self.snapshot.weights.name)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._steps += 1
        if self._steps % self.save_freq == 0:
            write_snapshot(self.model, self.backup_dir, self._epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        write_snapshot(self.model, self.backup_dir, epoch + 1)


def _read_record(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "weights" in record else None


def _write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(f".tmp-{path.name}")
    try:
        temp.write_text(text)
        _flush(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _flush(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
