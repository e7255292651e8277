"""Batch prediction over files and folders: one CSV row per file, unreadable files reported.

Only regular files are opened, without blocking (a FIFO would wait forever for a writer), and
their size is checked with fstat before one byte is read; reads stop at the limit, so a file
that grows while being read cannot take more. Everything that cannot be read (a symlink loop,
a dangling link, a FIFO, a folder without permission, a path inside one) gets a row that
says why, instead of being left out or ending the run with a traceback.
"""

import base64
import errno
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from data.folder import IMAGE_SUFFIXES
from data.printable import printable

log = logging.getLogger(__name__)

CSV_COLUMNS = ["file", "label", "probability", "top_k", "error"]
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # the served model's own per-image limit (meta max_bytes)
REASONS = {
    errno.ELOOP: "symlink loop",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a path component is not a folder",
    errno.ENAMETOOLONG: "file name too long",
}


def expand_paths(paths: list[str]) -> Iterator[tuple[Path, str]]:
    """(path, "") for each file to read; (path, reason) for each that cannot be.

    Files are yielded as given; folders expand to the image files inside them, recursively,
    sorted, without following symlinked folders (a link to a parent would never end).
    """
    for raw in paths:
        path = Path(raw)
        try:
            is_dir = stat.S_ISDIR(os.stat(path).st_mode)
        except OSError as err:
            yield path, _reason(path, err)
            continue
        if is_dir:
            yield from _walk(path)
        else:
            yield path, ""  # opened later; a FIFO or device becomes an error row there


def _walk(folder: Path) -> Iterator[tuple[Path, str]]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as err:
        yield folder, f"folder not readable ({_reason(folder, err)})"
        return
    for entry in entries:
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(path)
                continue
            mode = os.stat(path).st_mode  # follows file symlinks: a link to an image is fine
        except OSError as err:
            yield path, _reason(path, err)
            continue
        if stat.S_ISDIR(mode):
            yield path, "symlink to a folder (not followed)"
        elif not stat.S_ISREG(mode):
            yield path, f"not a regular file ({_kind(mode)})"
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            yield path, ""


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, or OSError/ValueError with a one-line reason; never more than max_bytes read."""
    # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting forever.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb", buffering=0) as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > max_bytes:
            raise ValueError(f"{info.st_size:,} bytes, over the {max_bytes:,}-byte limit")
        chunks, total = [], 0
        while chunk := f.read(min(1 << 20, max_bytes + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # it grew since fstat
                raise ValueError(f"over the {max_bytes:,}-byte limit")
        return b"".join(chunks)


def predict_files(
    model, paths: list[str], batch_size: int = 32, top_k: int = 3, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[dict]:
    """Rows of CSV_COLUMNS. A batch that fails is retried file by file to name the bad one."""
    rows: list[dict] = []
    batch: list[tuple[Path, str]] = []
    for path, problem in expand_paths(paths):
        if problem:
            rows.append(_error_row(path, problem))
            continue
        try:
            batch.append((path, base64.b64encode(read_bounded(path, max_bytes)).decode("ascii")))
        except OSError as err:
            rows.append(_error_row(path, _reason(path, err)))
        except ValueError as err:
            rows.append(_error_row(path, str(err)))
        if len(batch) == batch_size:
            rows.extend(_predict_batch(model, batch, top_k))
            batch = []
    if batch:
        rows.extend(_predict_batch(model, batch, top_k))
    return rows


def _reason(path: Path, err: OSError) -> str:
    if err.errno == errno.ENOENT:
        return "dangling symlink" if os.path.islink(path) else "no such file"
    return REASONS.get(err.errno, err.strerror or type(err).__name__)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _predict_batch(model, batch: list[tuple[Path, str]], top_k: int) -> list[dict]:
    from mlflow.exceptions import MlflowException

    frame = pd.DataFrame({"image": [encoded for _, encoded in batch]})
    try:
        predictions = model.predict(frame, params={"top_k": top_k})
    except MlflowException as err:
        if len(batch) == 1:
            # "image 0: not a readable image (...)" -> "not a readable image (...)"
            return [_error_row(batch[0][0], err.message.split(": ", 1)[-1])]
        return [row for item in batch for row in _predict_batch(model, [item], top_k)]
    return [
        {
            "file": display_name(path),
            "label": printable(str(row["label"]), keep_lines=False),
            "probability": round(float(row["probability"]), 6),
            "top_k": printable(
                ";".join(f"{t['label']}:{t['probability']:.4f}" for t in row["top_k"]), keep_lines=False
            ),
            "error": "",
        }
        for (path, _), (_, row) in zip(batch, predictions.iterrows(), strict=True)
    ]


def _error_row(path: Path, reason: str) -> dict:
    log.warning("%s: %s", display_name(path), reason)
    return {"file": display_name(path), "label": "", "probability": "", "top_k": "", "error": reason}


def display_name(path: Path) -> str:
    """The path as text for the CSV (often on a terminal): bytes that are not UTF-8 and control
    characters (an ANSI escape in a file name) shown escaped ('\\xff', '\\x1b'). Formula-like
    names ('=1+2.png') are made inert by the CSV writer (data/tables.py)."""
    return printable(os.fsencode(path).decode("utf-8", errors="backslashreplace"), keep_lines=False)
