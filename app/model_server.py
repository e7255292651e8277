"""Start `mlflow models serve` as a child process and wait until it answers /ping."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# Seconds the scoring server gives one request before answering 504.
DEFAULT_REQUEST_TIMEOUT = 30


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def serve_command(model_uri: str, host: str, port: int, workers: int = 1) -> list[str]:
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    command = [str(mlflow_cli), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    return [*command, "-h", host, "-p", str(port), "-w", str(workers)]


def serve_env(request_timeout: int = DEFAULT_REQUEST_TIMEOUT) -> dict[str, str]:
    env = dict(os.environ)
    # mlflow execs `uvicorn` from PATH: the virtualenv's bin/ must come first.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(request_timeout)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def start_model_server(model_uri: str, host: str, port: int, workers: int = 1, log_file=None) -> subprocess.Popen:
    return subprocess.Popen(
        serve_command(model_uri, host, port, workers),
        env=serve_env(),
        stdout=log_file or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its uvicorn workers go down with it
    )


def wait_until_up(url: str, process: subprocess.Popen | None = None, timeout: float = 180.0) -> None:
    """Poll `url` until it answers 200; raise at once if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
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
