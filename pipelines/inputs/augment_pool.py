"""Albumentations in worker processes, so every core augments despite the GIL.

At 128 px albumentations spends most of its time in Python, so threads (tf.data's own
`numpy_function` parallelism) run one at a time: measured ~0.7x a plain one-process loop on
2 cores. Worker processes each hold the training images memory-mapped from one file, receive
only (batch indices, batch number) and write the augmented batch straight into a shared output
slot; the training process copies the slot out. Nothing large is pickled either way.

This module imports no TensorFlow: spawned workers import it and stay light.
"""

import ctypes
import logging
import os
import queue
import shutil
import signal
import tempfile
import threading
import weakref
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)
_PREFIX = "imgclf-augment-"
_OPEN: "weakref.WeakSet[AugmentPool]" = weakref.WeakSet()


def batch_seed(seed: int, step: int) -> int:
    """The augmentation seed of batch number `step`: the same whichever thread or process runs it."""
    return int(seed) * 1_000_003 + int(step)


def augment_batch(augmenter, images: np.ndarray, out: np.ndarray, seed: int, step: int) -> None:
    """Augment `images` into `out`, seeded by the batch number: the one definition of the stream."""
    augmenter.set_random_seed(batch_seed(seed, step))
    for i, image in enumerate(images):
        out[i] = augmenter(image=image)["image"].reshape(out.shape[1:])


class AugmentPool:
    """A pool of spawned processes that augment batches of the images given at creation."""

    def __init__(self, images: np.ndarray, augmenter, seed: int, workers: int, batch_size: int):
        self.workers = workers
        slots = 2 * workers + 2  # one running and one queued per worker, plus the copy-out
        shape = (slots, batch_size, *images.shape[1:])
        scratch = _scratch_dir(images.nbytes * 1.1)
        _remove_orphaned_dirs(Path(scratch or tempfile.gettempdir()))
        # The owner's pid in the name lets a later run clean up after one killed with SIGKILL.
        self._dir = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=scratch))
        np.save(self._dir / "images.npy", images)
        self._out = np.lib.format.open_memmap(self._dir / "out.npy", mode="w+", dtype=np.uint8, shape=shape)
        self._free: queue.Queue[int] = queue.Queue()
        for slot in range(slots):
            self._free.put(slot)
        self._closed = threading.Event()
        # spawn, not fork: forking a process that runs TensorFlow's threads can deadlock the child.
        self._executor = ProcessPoolExecutor(
            workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(str(self._dir), augmenter, seed),
        )
        # Shut the workers down and delete the files when the pipeline is garbage-collected,
        # at interpreter exit, or on close(), whichever comes first.
        self._finalizer = weakref.finalize(self, _shutdown, self._executor, self._dir)
        for _ in range(workers):  # start the workers now, while the model is being built
            self._executor.submit(_ready)
        _OPEN.add(self)
        log.info("augmenting in %d worker processes (%s)", workers, self._dir)

    def augment(self, indices: np.ndarray, step: np.int64) -> np.ndarray:
        """The augmented images at `indices`, seeded by batch number `step` (called by tf.data)."""
        if self._closed.is_set():
            raise RuntimeError("the augmentation pool is closed")
        slot = self._free.get()
        try:
            future = self._executor.submit(_augment_into_slot, np.asarray(indices), int(step), slot)
            try:
                count = future.result()
            except (BrokenProcessPool, CancelledError) as err:
                raise RuntimeError(
                    f"an augmentation worker died or the pool was closed ({type(err).__name__})"
                ) from None
            return np.array(self._out[slot, :count])
        finally:
            self._free.put(slot)

    def close(self) -> None:
        self._closed.set()
        self._finalizer()


def close_open_pools() -> None:
    """Close every pool of this process: its workers stop and its files go (at the end of a run)."""
    for pool in list(_OPEN):
        pool.close()


# Below this many bytes of training images an epoch's augmentation takes a thread a fraction of a
# second (~340 photos at 128 px), less than starting the worker processes (~0.8 s: each imports
# albumentations), which every run and every trial of a search would pay.
SMALL_SET_BYTES = 16 * 2**20


def resolve_workers(workers: int | str, image_bytes: int = SMALL_SET_BYTES) -> int:
    """ "auto": one process per core where there are several; 0 on a single core or a small set."""
    if workers == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return cores if cores > 1 and image_bytes >= SMALL_SET_BYTES else 0
    if not isinstance(workers, int) or workers < 0:
        raise ValueError(f"augment.workers {workers!r} must be 'auto' or a count >= 0")
    return workers


def _shutdown(executor: ProcessPoolExecutor, folder: Path) -> None:
    try:
        executor.shutdown(wait=True, cancel_futures=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _remove_orphaned_dirs(parent: Path) -> None:
    """Delete scratch folders left by pools whose process was killed before it could clean up."""
    for folder in parent.glob(f"{_PREFIX}*"):
        pid = folder.name.removeprefix(_PREFIX).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the training process dies, even by SIGKILL."""
    try:
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the executor's own broken-pipe handling still ends idle workers


def _scratch_dir(nbytes: float) -> str | None:
    """/dev/shm (memory) when it has room, else the temp dir: workers map the file either way."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        stats = os.statvfs(shm)
        if stats.f_bavail * stats.f_frsize > nbytes:
            return str(shm)
    return None


# ---- in the worker processes ----
_worker: dict = {}


def _init_worker(folder: str, augmenter, seed: int) -> None:
    _die_with_parent()

    # One OpenCV thread per process: the pool already uses every core.
    cv2.setNumThreads(1)
    _worker["images"] = np.load(Path(folder) / "images.npy", mmap_mode="r")
    _worker["out"] = np.load(Path(folder) / "out.npy", mmap_mode="r+")
    _worker["augmenter"] = augmenter
    _worker["seed"] = seed


def _ready() -> bool:
    return True


def _augment_into_slot(indices: np.ndarray, step: int, slot: int) -> int:
    images = _worker["images"][indices]
    augment_batch(_worker["augmenter"], images, _worker["out"][slot], _worker["seed"], step)
    return len(indices)
