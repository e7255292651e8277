"""One command at a time in a run directory.

Two `make train` with the same config share one run directory (it is named by the config's
hash): without a lock the second restored or deleted the backup the first was writing, and the
first then died on a missing snapshot. The lock is an advisory `flock` on a file in the run
directory: the kernel releases it when its process ends, however it ends (kill -9 included), so
a stale lock never blocks the next run. The file names its holder for the one-line refusal.
"""

import fcntl
import json
import os
import shlex
import sys
import time
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "run.lock"


class RunDirectoryInUse(RuntimeError):
    """Another process holds the run directory; the message names it."""


@contextmanager
def run_directory_lock(run_dir: Path):
    """Hold run_dir for this process, or raise RunDirectoryInUse naming the holder (PID, start, command)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunDirectoryInUse(f"{run_dir} is in use by {_holder(path)}; wait for it to end") from None
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())
        handle.write(json.dumps({"pid": os.getpid(), "started": started, "command": shlex.join(sys.argv[1:])[:160]}))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)  # released: the next holder writes its own name


def _holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return f"PID {holder['pid']} (started {holder['started']}: `{holder['command']}`)"
    except (OSError, ValueError, KeyError):  # written between our open and its write: no name yet
        return "another process"
