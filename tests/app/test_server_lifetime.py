"""The server leaves nothing behind however it stops: a closed terminal (SIGHUP), kill -9, or a
SIGHUP while the model is still loading. One process: no child to outlive it."""

import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.app.conftest import MODEL_URI
from tests.helpers import PYTHON, ROOT, env_for, free_port, running

pytestmark = pytest.mark.slow


@pytest.fixture
def tmp_path():
    """The server's TMPDIR: this test sees everything it writes there."""
    folder = Path(tempfile.mkdtemp(prefix="life-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _left_in(tmp: Path) -> list[Path]:
    return [p for p in tmp.iterdir() if not p.name.endswith(".log")]


def _serve(trained_model, tmp: Path):
    port = free_port()
    command = [PYTHON, "-m", "app", "serve", "--model", MODEL_URI, "--port", str(port)]
    env = {**env_for(trained_model[0]), "TMPDIR": str(tmp)}
    return running(command, f"http://127.0.0.1:{port}/ping", tmp / f"serve-{port}.log", env)


@pytest.mark.parametrize("how", [signal.SIGHUP, signal.SIGKILL], ids=["closed terminal", "kill -9"])
def test_once_serving_nothing_is_on_disk_and_no_process_is_left(trained_model, tmp_path, how):
    with _serve(trained_model, tmp_path) as server:
        assert psutil.Process(server.pid).children(recursive=True) == []
        assert _left_in(tmp_path) == []  # the model's copy was removed once it was in memory
        server.send_signal(how)
        server.wait(timeout=60)
    assert not psutil.pid_exists(server.pid) or psutil.Process(server.pid).status() == psutil.STATUS_ZOMBIE
    assert _left_in(tmp_path) == []


def test_closing_the_terminal_while_the_model_loads_also_leaves_nothing(trained_model, tmp_path):
    """SIGHUP while the model is being copied and loaded: the same clean stop as SIGTERM."""
    command = [PYTHON, "-m", "app", "serve", "--model", MODEL_URI, "--port", str(free_port())]
    env = {**env_for(trained_model[0]), "TMPDIR": str(tmp_path)}
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(f"served-model-{server.pid}-*")):  # its private copy, made right before loading
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        server.send_signal(signal.SIGHUP)
        assert server.wait(timeout=60) == 143  # as SIGTERM: handled, so the `finally` ran
        assert _left_in(tmp_path) == []
    finally:
        server.kill()
        server.wait()


def test_a_copy_left_by_a_kill_during_loading_is_swept_by_the_next_start(trained_model, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = tmp_path / f"served-model-{dead.pid}-abcd"  # a folder of a process that no longer exists
    left.mkdir()
    with _serve(trained_model, tmp_path):
        assert not left.exists()
