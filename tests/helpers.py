"""The one helper module of the tests: the real CLI in a subprocess, real servers, the MLflow store.

Servers run on free ports on 127.0.0.1 and are stopped afterwards; each server's output goes to
a log file in its temp dir, so a server that dies early fails with the tail of that log instead
of a bare timeout.
"""

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from app.processes import free_port, serve_env, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# Tiny but real: the embedded digits, a small MLP, no augmentation cost worth mentioning.
FAST = ["model.hidden_units=[64]", "augment.preset=none", "train.gradient_health.batch_size=32"]


def app_command(*args: str) -> list[str]:
    """`python -m app ARGS` with this interpreter."""
    return [PYTHON, "-m", "app", *args]


def train_command(*overrides: str) -> list[str]:
    return app_command("train", *FAST, *overrides)


def run_cli(args: list[str], env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command from the project root, output captured; `env` adds to (not replaces) os.environ."""
    return subprocess.run(
        args, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports, held open together so no two are the same."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def client(tracking_uri: str):
    """An MlflowClient bound to `tracking_uri`, leaving MLflow's global tracking URI alone."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def all_runs(tracking_uri: str):
    c = client(tracking_uri)
    return [r for e in c.search_experiments() for r in c.search_runs([e.experiment_id])]


def env_for(tracking_uri: str, **extra: str) -> dict[str, str]:
    env = serve_env()
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    env.update(extra)
    return env


@contextmanager
def running(command: list[str], health_url: str, log_path: Path, env: dict, timeout: float = 180.0, ours=True):
    """Start `command`, wait until `health_url` answers 200, stop the process group afterwards.

    For our servers (`ours`), only an answer carrying this start's token counts (app.limits),
    never another process's.
    """
    token = secrets.token_hex(8) if ours else ""
    env = {**env, "SERVER_INSTANCE_TOKEN": token}
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            try:
                wait_until_up(health_url, process, timeout, token=token)
            except RuntimeError as err:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{err}\n--- {log_path.name} ---\n{tail}") from None
            yield process
        finally:
            stop(process)


@contextmanager
def mlflow_server(workdir: Path, port: int | None = None):
    """`mlflow server` with a SQLite backend and proxied artifacts; yields its URL."""
    with mlflow_server_process(workdir, port) as (url, _):
        yield url


@contextmanager
def mlflow_server_process(workdir: Path, port: int | None = None):
    """`mlflow_server`, yielding (URL, process) for tests that kill it; the same `workdir` and
    `port` again is the same server restarted (same store, same URL)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(PYTHON).with_name("mlflow")), "server",
        "--backend-store-uri", f"sqlite:///{workdir / 'server.db'}",
        "--artifacts-destination", str(workdir / "server-artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with running(command, f"{url}/health", workdir / "mlflow-server.log", env_for(url), ours=False) as process:
        yield url, process


@contextmanager
def hardened_endpoint(model_uri: str, tracking_uri: str, workdir: Path, *extra_args: str):
    """`python -m app serve` on a free port: yields (its URL, the serve process)."""
    port = free_port()
    command = [PYTHON, "-m", "app", "serve", "--model", model_uri, "--port", str(port), *extra_args]
    with running(command, f"http://127.0.0.1:{port}/ping", workdir / "serve.log", env_for(tracking_uri)) as process:
        yield f"http://127.0.0.1:{port}", process


@contextmanager
def web_page(model_uri: str, tracking_uri: str, workdir: Path, *extra_args: str, max_upload_mb: float = 1.0):
    port = free_port()
    command = [PYTHON, "-m", "app", "web", "--model", model_uri, "--port", str(port)]
    command += ["--max-request-mb", str(max_upload_mb), *extra_args]
    with running(command, f"http://127.0.0.1:{port}/api/info", workdir / "web.log", env_for(tracking_uri)):
        yield f"http://127.0.0.1:{port}"


def train(tracking_uri: str, output_dir: Path, *overrides: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real training command on the default (digits) config, one epoch unless overridden."""
    command = app_command("train", "train.epochs=1", f"output_dir={output_dir}", *overrides)
    return subprocess.run(command, cwd=ROOT, env=env_for(tracking_uri), capture_output=True, text=True, timeout=timeout)


@contextmanager
def using_store(tracking_uri: str):
    """Point in-process MLflow at `tracking_uri`, then give the global (and env var) back.

    mlflow.set_tracking_uri also writes MLFLOW_TRACKING_URI: left set, it would send later
    tests' runs into this store.
    """
    import mlflow

    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    try:
        yield mlflow
    finally:
        mlflow.set_tracking_uri(None)
        if before is not None:
            os.environ["MLFLOW_TRACKING_URI"] = before


def run_id_of(train_output: str) -> str:
    return train_output.split("run id:")[1].split()[0]


def wait_for_backup(process: subprocess.Popen, out_dir, min_epoch: int, kill: bool = True) -> int:
    """Wait for a backup of `min_epoch` or later, then SIGKILL the run (unless `kill` is False)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, "training ended before it could be killed"
        for metadata in out_dir.glob("*/backup/training_metadata.json"):
            try:
                epoch = json.loads(metadata.read_text())["epoch"]
            except (ValueError, KeyError, OSError):
                continue
            if epoch >= min_epoch:
                if kill:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                return epoch
        time.sleep(0.05)
    process.kill()
    raise AssertionError("no backup appeared in time")


# --- a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) for the web page;
# shared by the browser tests and tests/docs_screenshots.py, so the README's screenshots show the page
# exactly as the tests see it.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTHS = {"phone": 360, "desktop": 1400}
# What the page's status line says while a file is being classified.
CLASSIFYING = "Classifying…"


def screenshot_script(doc: str, parse_extra) -> argparse.Namespace | None:
    """The command line of the README's screenshot scripts (--out, plus `parse_extra(parser)`'s own
    options); None, with one line said, when there is no Chromium to take them with."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the PNGs (default docs/)")
    parse_extra(parser)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        print(f"error: {CHROMIUM} not found; install it with `make chromium`", file=sys.stderr)
        return None
    args.out.mkdir(parents=True, exist_ok=True)
    return args


@contextmanager
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, width: int, height: int = 900):
    """A fresh page at `width` px; returns it once the model's details are shown."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_function("() => !document.getElementById('model').textContent.startsWith('Loading')", timeout=30_000)
    return page


# Installed before an upload: remembers every status text any card showed, so a state that
# lasts only a few milliseconds ("Classifying…") is still seen.
RECORD_STATUSES = """() => {
  window.seenStatuses = new Set();
  new MutationObserver(() => {
    for (const s of document.querySelectorAll('#results .status')) window.seenStatuses.add(s.textContent);
  }).observe(document.getElementById('results'), {childList: true, subtree: true, characterData: true});
}"""


def classify_files(page, files, timeout_ms: float = 60_000) -> list[str]:
    """Choose `files` through the labelled file input; wait until every card has its outcome.

    Returns the status texts the cards showed on the way.
    """
    page.evaluate(RECORD_STATUSES)
    page.get_by_label("Choose images…").set_input_files(files)
    page.wait_for_function(
        "n => document.querySelectorAll('#results .card').length === n"
        " && !document.querySelector('#results .card[aria-busy=true]')",
        arg=len(files),
        timeout=timeout_ms,
    )
    return page.evaluate("Array.from(window.seenStatuses)")


def box(locator) -> dict:
    """The element's bounding box in page (not viewport) coordinates."""
    return locator.evaluate(
        "e => { const r = e.getBoundingClientRect();"
        " return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; }"
    )


def overlap(a: dict, b: dict) -> bool:
    """True when two boxes share an area (touching edges do not count)."""
    return (
        min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"]) > 0.5
        and min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"]) > 0.5
    )


def inside(inner: dict, outer: dict) -> bool:
    return (
        inner["x"] >= outer["x"] - 0.5
        and inner["y"] >= outer["y"] - 0.5
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5
    )
