"""`python -m app predict` on what real disks hold: FIFOs, huge files, broken links, locked folders."""

import csv
import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.app.conftest import MODEL_URI
from tests.app.test_serving import digit_pixels, png_bytes
from tests.helpers import ROOT, env_for

pytestmark = pytest.mark.slow
# Runs the CLI and reports its own peak memory, so the test can check reads are bounded.
WITH_PEAK_RSS = (
    "import resource, sys; from app.cli import main; rc = main(sys.argv[1:]); "
    "print('peak_rss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
    "print('read_bytes', open('/proc/self/io').read().split()[1], file=sys.stderr); sys.exit(rc)"
)


def _without_root_file_access() -> None:
    """Root reads chmod-000 folders anyway; drop the two capabilities that allow it (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def predict(trained_model, tmp_path, *paths, timeout=240):
    out_csv = tmp_path / "out.csv"
    command = [sys.executable, "-c", WITH_PEAK_RSS, "predict", "--model", MODEL_URI, *map(str, paths)]
    command += ["--output", str(out_csv)]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env=env_for(trained_model[0]),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_without_root_file_access if os.geteuid() == 0 else None,
    )
    rows = {Path(r["file"]).name: r for r in csv.DictReader(out_csv.open())} if out_csv.exists() else {}
    # Bytes the process read through read() calls (/proc/self/io rchar): the 1 GiB file read would count
    # whole. Peak memory varied with the machine's load (0.9 to 2.4 GiB, the file never read).
    read = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("read_bytes")]
    return done, rows, (read[0] if read else None)


def test_a_fifo_and_a_1_gib_file_are_refused_without_reading_them(trained_model, tmp_path):
    fifo = tmp_path / "camera.png"
    os.mkfifo(fifo)  # before: opened and read, waiting forever for a writer
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as f:
        f.truncate(2**30)  # a real 1 GiB file (sparse: no disk used); before: read whole and base64-encoded
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(digit_pixels(1)[0]))
    done, rows, read = predict(trained_model, tmp_path, fifo, huge, good, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert rows["camera.png"]["error"] == "not a regular file (FIFO)"
    assert rows["huge.png"]["error"] == "1,073,741,824 bytes, over the 10,485,760-byte limit"
    assert rows["good.png"]["label"]
    assert not rows["good.png"]["error"]
    # Reading the 1 GiB file would count 1 GiB; the libraries and the model read far less.
    assert read is not None, done.stderr[-2000:]
    assert read < 2**30, f"read {read / 2**20:.0f} MiB"


def test_links_fifos_and_locked_folders_inside_a_folder_each_get_a_row(trained_model, tmp_path):
    folder = tmp_path / "photos"
    (folder / "ok").mkdir(parents=True)
    (folder / "ok" / "digit.png").write_bytes(png_bytes(digit_pixels(1)[0]))
    os.symlink("loop_b.png", folder / "loop_a.png")
    os.symlink("loop_a.png", folder / "loop_b.png")
    os.symlink("gone.png", folder / "dangling.png")
    os.mkfifo(folder / "pipe.png")
    locked = folder / "locked"
    locked.mkdir()
    (locked / "inside.png").write_bytes(png_bytes(digit_pixels(1)[0]))
    locked.chmod(0)
    try:
        done, rows, _ = predict(trained_model, tmp_path, folder, locked / "inside.png")
    finally:
        locked.chmod(0o755)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert rows["digit.png"]["label"]
    assert not rows["digit.png"]["error"]
    assert rows["loop_a.png"]["error"] == "symlink loop"
    assert rows["loop_b.png"]["error"] == "symlink loop"
    assert rows["dangling.png"]["error"] == "dangling symlink"
    assert rows["pipe.png"]["error"] == "not a regular file (FIFO)"
    assert rows["locked"]["error"] == "folder not readable (permission denied)"
    assert rows["inside.png"]["error"] == "permission denied"  # before: a PermissionError traceback
    assert "1 predicted, 6 unreadable" in done.stderr
