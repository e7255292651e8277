"""A model server never outlives its front: closed terminal (SIGHUP) or kill -9, nothing is left running."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.app.conftest import MODEL_URI
from tests.helpers import PYTHON, ROOT, env_for, free_port, running

pytestmark = pytest.mark.slow

OURS = ("served-model-", "model-server-")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # the field after the state is the parent's PID
            found.append(int(stat.parent.name))
    return found


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or " Z " in Path(f"/proc/{pid}/stat").read_text():
            return True
        time.sleep(0.2)
    return False


def _temp_dirs(tmp: Path, pid: int) -> list[Path]:
    return [p for prefix in OURS for p in tmp.glob(f"{prefix}{pid}-*")]


@pytest.fixture
def tmp_path():
    """A short temp folder: the model server's Unix socket path must stay under 108 bytes."""
    folder = Path(tempfile.mkdtemp(prefix="life-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _serve(trained_model, tmp: Path):
    port = free_port()
    command = [PYTHON, "-m", "app", "serve", "--model", MODEL_URI, "--port", str(port)]
    env = {**env_for(trained_model[0]), "TMPDIR": str(tmp)}  # its temp folders where this test can see them
    return running(command, f"http://127.0.0.1:{port}/ping", tmp / f"serve-{port}.log", env)


def test_closing_the_terminal_stops_the_model_server_and_removes_its_folders(trained_model, tmp_path):
    with _serve(trained_model, tmp_path) as front:
        (child,) = _children(front.pid)
        assert _temp_dirs(tmp_path, front.pid)  # its model copy and socket folder
        front.send_signal(signal.SIGHUP)
        front.wait(timeout=60)
        assert _gone(child)
        assert not _temp_dirs(tmp_path, front.pid)


def test_kill_9_of_the_front_takes_the_model_server_with_it_and_the_next_start_sweeps_its_folders(
    trained_model, tmp_path
):
    with _serve(trained_model, tmp_path) as front:
        (child,) = _children(front.pid)
        front.kill()  # SIGKILL: no handler of ours runs
        front.wait(timeout=30)
        assert _gone(child)  # the kernel told it (PR_SET_PDEATHSIG): not left under PID 1
        left = _temp_dirs(tmp_path, front.pid)
        assert left  # nothing could remove them at that moment
    with _serve(trained_model, tmp_path) as second:
        assert not any(p.exists() for p in left)  # swept: their owner is gone
        assert _temp_dirs(tmp_path, second.pid)  # a fresh folder of its own, never the old socket
    assert os.path.isdir(tmp_path)


def test_closing_the_terminal_while_the_model_loads_also_leaves_nothing(trained_model, tmp_path):
    """SIGHUP before the front serves (the model server is starting): the same clean stop as SIGTERM."""
    command = [PYTHON, "-m", "app", "serve", "--model", MODEL_URI, "--port", str(free_port())]
    env = {**env_for(trained_model[0]), "TMPDIR": str(tmp_path)}
    with open(tmp_path / "serve.log", "wb") as log:
        front = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        # The model server was just started: its socket folder is made right before it, then the child.
        while not (list(tmp_path.glob(f"model-server-{front.pid}-*")) and (children := _children(front.pid))):
            assert front.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        front.send_signal(signal.SIGHUP)
        assert front.wait(timeout=60) == 143  # as SIGTERM: handled, so the `finally` ran
        assert all(_gone(child) for child in children)
        assert not _temp_dirs(tmp_path, front.pid)
    finally:
        front.kill()
        front.wait()
