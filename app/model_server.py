"""Start MLflow's scoring server as a child process on a private Unix socket; wait for /ping.

`mlflow models serve` can only listen on TCP, where any process on the machine can reach it
and bypass the front's limits (and MLflow answers invalid JSON by quoting it). What it runs is
`uvicorn mlflow.pyfunc.scoring_server.app:app` with the model URI in an environment variable
(mlflow.pyfunc.scoring_server.get_cmd); we run that same command with `--uds` instead of
`--host/--port`. The socket lives in a folder made by mkdtemp (mode 0700): other users cannot
connect, and no port is open. (A secret header would not do better against processes of the
same user, who can read the front's memory anyway.)
"""

import collections
import ctypes
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

# mlflow.pyfunc.scoring_server._SERVER_MODEL_PATH: where its app module reads the model URI.
MODEL_URI_VARIABLE = "__pyfunc_model_path__"
SCORING_APP = "mlflow.pyfunc.scoring_server.app:app"
QUIET_SCORING_APP = "app.scoring_app:app"  # the same app, TensorFlow and MLflow start-up noise off
PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): a signal for the child when its parent dies
PROJECT_ROOT = Path(__file__).resolve().parents[1]

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
    """The bare `mlflow models serve` on TCP (benchmarks compare against it)."""
    return subprocess.Popen(
        serve_command(model_uri, host, port, workers),
        env=serve_env(),
        stdout=log_file or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its uvicorn workers go down with it
    )


def private_socket_path() -> str:
    """A socket path in a fresh folder only this user can enter."""
    return os.path.join(owned_temp_dir("model-server-"), "model.sock")


def start_private_model_server(
    model_uri: str, socket_path: str, workers: int = 1, log_file=None, verbose: bool = True
) -> subprocess.Popen:
    """MLflow's scoring server for `model_uri` on the Unix socket `socket_path` (no TCP port).

    `verbose=False`: uvicorn says only warnings and errors, and TensorFlow and MLflow start quietly.
    `log_file=subprocess.PIPE` leaves its output to the caller (`ServerOutput`).
    """
    uvicorn = Path(sys.executable).with_name("uvicorn")
    command = [str(uvicorn), "--uds", socket_path, "--workers", str(workers), "--no-access-log"]
    if verbose:
        command.append(SCORING_APP)
    else:
        command += ["--log-level", "warning", "--app-dir", str(PROJECT_ROOT), QUIET_SCORING_APP]
    env = serve_env()
    env[MODEL_URI_VARIABLE] = model_uri
    # glibc gives each decoding thread its own malloc arena and keeps freed image buffers in
    # them, and after freeing one large buffer it serves the next ones (up to 32 MB) from the
    # heap: two arenas and a fixed 1 MB mmap threshold give decoded images back to the system.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(1024 * 1024))
    return subprocess.Popen(
        command,
        env=env,
        stdout=log_file or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers go down with it
        preexec_fn=_end_with_parent,  # only a prctl call in the child
    )


def _end_with_parent() -> None:
    """In the child, before exec: SIGTERM it when the front dies, however it dies (kill -9 included).

    Without it a killed front left the ~1 GB model server running under PID 1. Linux only; the
    signal is tied to the forking thread, which is the front's main thread.
    """
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def owned_temp_dir(prefix: str) -> str:
    """A fresh private temp folder named by this process (`PREFIX<pid>-xxxx`), after removing the
    folders of earlier fronts that died without cleaning up (kill -9): their PID is gone."""
    root = Path(tempfile.gettempdir())
    for folder in root.glob(f"{prefix}*-*"):
        pid = folder.name.removeprefix(prefix).split("-", 1)[0]
        if pid.isdigit() and folder.is_dir() and folder.stat().st_uid == os.getuid() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class ServerOutput:
    """The model server's output: held while it starts (its last lines explain a failed start), then passed on.

    A start that works prints nothing of the server's own; once it answers, its warnings and
    errors go to `sink` as they come.
    """

    def __init__(self, stream, sink):
        self.stream, self.sink = stream, sink
        self.started = False
        self.held: collections.deque[str] = collections.deque(maxlen=200)
        self.thread = threading.Thread(target=self._pump, name="model-server-output", daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        for raw in self.stream:
            line = raw.decode("utf-8", errors="replace")
            if self.started:
                self.sink.write(line)
                self.sink.flush()
            else:
                self.held.append(line)

    def reason(self, wait: float = 5.0) -> str:
        """The last exception line the server printed ('ValueError: ...'), or its last line."""
        self.thread.join(timeout=wait)  # the process has exited: read to the end of its output
        lines = [line.strip() for line in self.held if line.strip()]
        errors = [line for line in lines if EXCEPTION_LINE.match(line)]
        return (errors or lines or ["no output"])[-1][:300]


EXCEPTION_LINE = re.compile(r"^[\w.]+(Error|Exception|Exit)\b.*:")


def unix_get(socket_path: str, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET `path` over the Unix socket: (status, body)."""

    class Connection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(socket_path)

    connection = Connection("model-server", timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_socket_up(socket_path: str, process: subprocess.Popen, timeout: float = 180.0) -> None:
    """Poll /ping on our own socket until 200; raise at once if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited with code {process.returncode} before answering /ping")
        try:
            if unix_get(socket_path, "/ping")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the model server did not answer /ping within {timeout:.0f} s")


def wait_until_up(url: str, process: subprocess.Popen | None = None, timeout: float = 180.0, token: str = "") -> None:
    """Poll `url` until it answers 200; raise at once if `process` exits first.

    With `token`, only an answer carrying it in X-Server-Instance counts (app.http_limits): the
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
