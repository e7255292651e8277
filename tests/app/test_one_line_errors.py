"""serve, web and predict as a newcomer meets them: a missing model or a locked store is one line,
a running server prints only its own lines, and an EPS file named like a photo never reaches Ghostscript."""

import base64
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.app.conftest import MODEL_URI
from tests.data.test_decode import EPS, fake_ghostscript
from tests.helpers import ROOT, app_command, env_for, hardened_endpoint, web_page

pytestmark = pytest.mark.slow
# What a quiet server must not print: TensorFlow's absl/oneDNN/CUDA lines, MLflow's coloured warnings, uvicorn's INFO.
NOISE = ("absl", "oneDNN", "cuda", "\x1b[", "UserWarning", "INFO:", "Traceback")


def run(args: list[str], tracking_uri: str, timeout: float = 300, **extra_env) -> subprocess.CompletedProcess:
    return subprocess.run(
        app_command(*args),
        cwd=ROOT,
        env=env_for(tracking_uri, **extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "0", "--model", "models:/flowers-classifier@champion"],
        ["web", "--port", "0", "--model", "models:/flowers-classifier@champion"],
        ["predict", "--model", "models:/flowers-classifier@champion", "photo.jpg"],
    ],
    ids=["serve", "web", "predict"],
)
def test_a_model_that_does_not_exist_yet_is_one_line_naming_what_does(trained_model, command):
    done = run(command, trained_model[0])
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: no registered model 'flowers-classifier' in {trained_model[0]} ")
    assert "registered there: digits-classifier" in line
    assert "make train-vgg DATA=" in line


def test_a_missing_alias_names_the_versions_and_how_to_promote(trained_model):
    done = run(["serve", "--port", "0", "--model", "models:/digits-classifier@best"], trained_model[0])
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: registered model 'digits-classifier' has no alias 'best' in {trained_model[0]} ")
    assert "aliases champion=" in line
    assert line.endswith("set it with python -m app promote --experiment digits --alias best")


def hold_exclusive(db: Path, seconds: float) -> threading.Event:
    """BEGIN EXCLUSIVE on `db` in a thread for `seconds` (or until the returned event is set)."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        connection = sqlite3.connect(db, isolation_level=None)
        connection.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(seconds)
        connection.execute("ROLLBACK")
        connection.close()

    threading.Thread(target=hold, daemon=True).start()
    assert locked.wait(10)
    return release


def copy_store(trained_model, tmp_path) -> str:
    """The trained store copied (database only): these tests lock it without holding up the others."""
    source = Path(trained_model[0].removeprefix("sqlite:///"))
    shutil.copy(source, tmp_path / "mlflow.db")
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_serve_predict_and_promote_wait_for_a_locked_store_then_say_so_in_one_line(trained_model, tmp_path):
    uri = copy_store(trained_model, tmp_path)
    release = hold_exclusive(tmp_path / "mlflow.db", 300)
    commands = {
        "serve": ["serve", "--port", "0"],
        "predict": ["predict", "--model", MODEL_URI, str(tmp_path / "photo.png")],
        "promote": ["promote"],
    }
    started = time.monotonic()
    try:
        processes = {
            name: subprocess.Popen(
                app_command(*args),
                cwd=ROOT,
                env=env_for(uri),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, args in commands.items()
        }
        results = {name: (p.wait(timeout=240), p.stderr.read()) for name, p in processes.items()}
    finally:
        release.set()
    elapsed = time.monotonic() - started
    for name, (code, err) in results.items():
        assert code == 1, f"{name}: {err[-3000:]}"
        assert "Traceback" not in err, f"{name}: {err[-3000:]}"
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, f"{name}: {err[-3000:]}"
        assert lines[0].startswith(f"error: the MLflow store {tmp_path / 'mlflow.db'} is locked by another process")
    assert elapsed < 200  # bounded: the busy timeout (20 s) after each command's start, not the 300 s lock


def post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def post_bytes(url: str, data: bytes) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_servers_are_quiet_and_eps_never_reaches_ghostscript(trained_model, tmp_path, monkeypatch):
    bin_dir, calls = fake_ghostscript(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")  # the servers' and predict's PATH
    uri = trained_model[0]
    photo = tmp_path / "photo.png"
    photo.write_bytes(EPS)
    accepted = "not an image (EPS is not accepted"

    with hardened_endpoint(MODEL_URI, uri, tmp_path) as (url, _):
        body = {"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(EPS).decode()]]}}
        status, answer = post_json(url + "/invocations", body)
        assert status == 400
        assert accepted in answer["message"]
    serve_log = (tmp_path / "serve.log").read_text(errors="replace")
    lines = serve_log.splitlines()
    assert lines[0].startswith("serving models:/digits-classifier@champion (version ")
    assert not [word for word in NOISE if word in serve_log], serve_log[-3000:]

    with web_page(MODEL_URI, uri, tmp_path) as page:
        status, answer = post_bytes(page + "/api/predict", EPS)
        assert status == 400
        assert answer["message"].startswith(accepted)
    web_log = (tmp_path / "web.log").read_text(errors="replace")
    assert not [word for word in NOISE if word in web_log], web_log[-3000:]

    done = run(["predict", "--model", MODEL_URI, str(photo), "--output", str(tmp_path / "out.csv")], uri)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = csv.DictReader((tmp_path / "out.csv").open())
    assert row["error"].startswith(accepted)
    assert not [word for word in NOISE if word in done.stderr], done.stderr[-3000:]

    assert not calls.exists(), f"Ghostscript ran: {calls.read_text()}"


def test_verbose_serve_still_shows_the_model_servers_own_lines(trained_model, tmp_path):
    with hardened_endpoint(MODEL_URI, trained_model[0], tmp_path, "--verbose"):
        pass
    assert "Application startup complete" in (tmp_path / "serve.log").read_text(errors="replace")
