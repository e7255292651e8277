"""Processes we start and wait for (tests, benchmarks, the serve command's temp folder): free
ports, readiness, stopping a process group, and private temp folders swept after a kill -9."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve_env() -> dict[str, str]:
    """This environment, with the virtualenv's bin/ first on PATH (mlflow execs its tools from PATH)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def owned_temp_dir(prefix: str) -> str:
    """A fresh private temp folder named by this process (`PREFIX<pid>-xxxx`), after removing the
    folders of earlier processes that died without cleaning up (kill -9): their PID is gone."""
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{prefix}*-*"):
        pid = folder.name.removeprefix(prefix).split("-", 1)[0]
        if pid.isdigit() and folder.is_dir() and folder.stat().st_uid == os.getuid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")


def remove_owned_temp_dir(folder: str, attempts: int = 100) -> None:
    """Remove `folder` until it stays removed. A signal can stop the main thread while MLflow's
    download threads still write into it; once the folder is gone their writes fail instead."""
    for _ in range(attempts):
        shutil.rmtree(folder, ignore_errors=True)
        if not os.path.exists(folder):
            return
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def wait_until_up(url: str, process: subprocess.Popen | None = None, timeout: float = 180.0, token: str = "") -> None:
    """Poll `url` until it answers 200; raise at once if `process` exits first.

    With `token`, only an answer carrying it in X-Server-Instance counts (app.limits): the
    server was started with SERVER_INSTANCE_TOKEN=token, and another process on the port has none.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200 and (not token or response.headers.get("X-Server-Instance") == token):
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Terminate the process group we started, then kill it if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, 15)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()
    except ProcessLookupError:
        pass
