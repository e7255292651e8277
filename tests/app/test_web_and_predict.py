"""The web page's upload limit and API, and the batch `predict` command (the page in a browser: test_web_page.py)."""

import csv
import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from tests.app.conftest import MODEL_URI
from tests.app.test_serving import b64, digit_pixels, png_bytes
from tests.helpers import ROOT, env_for, web_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def page_url(trained_model, tmp_path_factory):
    with web_page(MODEL_URI, trained_model[0], tmp_path_factory.mktemp("web"), max_upload_mb=1.0) as url:
        yield url


def test_uploads_over_the_limit_are_refused(page_url):
    request = urllib.request.Request(page_url + "/api/predict", data=b"x" * (2 * 1024 * 1024), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert "limit" in json.loads(refused.value.read())["message"]


def _status(url: str, data: bytes | None = None, **headers: str):
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers, refused.read()


def test_the_page_answers_only_its_own_host_and_origin(page_url):
    """DNS rebinding (a foreign Host) and cross-site POSTs (a text/plain POST needs no preflight) are refused."""
    status, _, body = _status(page_url + "/api/info", Host="attacker.example")
    assert status == 421
    assert b"attacker" not in body  # nothing of the request is echoed
    assert _status(page_url + "/api/info")[0] == 200
    port = page_url.rsplit(":", 1)[1]
    assert _status(page_url + "/api/info", Host=f"localhost:{port}")[0] == 200

    image = png_bytes(digit_pixels(1)[0])
    foreign = _status(
        page_url + "/api/predict", image, Origin="http://attacker.example", **{"Content-Type": "text/plain"}
    )
    assert foreign[0] == 403
    assert _status(page_url + "/api/predict", image, **{"Sec-Fetch-Site": "cross-site"})[0] == 403
    own, _, answer = _status(page_url + "/api/predict", image, Origin=page_url)
    assert own == 200, answer
    assert "label" in json.loads(answer)

    _, headers, _ = _status(page_url + "/")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_predict_writes_a_csv_and_reports_unreadable_files(trained_model, pyfunc_model, tmp_path):
    folder = tmp_path / "images" / "nested"
    folder.mkdir(parents=True)
    pixels = digit_pixels(3)
    for i, p in enumerate(pixels):
        (folder / f"digit{i}.png").write_bytes(png_bytes(p))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / "readme.txt").write_text("not an image, and not an image suffix: ignored")
    missing = tmp_path / "missing.png"
    single = tmp_path / "single.png"
    single.write_bytes(png_bytes(pixels[0]))
    out_csv = tmp_path / "predictions.csv"

    command = [sys.executable, "-m", "app", "predict", "--model", MODEL_URI, str(tmp_path / "images"), str(single)]
    command += [str(missing), "--output", str(out_csv), "--batch-size", "2"]
    done = subprocess.run(command, cwd=ROOT, env=env_for(trained_model[0]), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "4 predicted, 2 unreadable" in done.stderr

    rows = {Path(r["file"]).name: r for r in csv.DictReader(out_csv.open())}
    assert set(rows) == {"digit0.png", "digit1.png", "digit2.png", "broken.jpg", "single.png", "missing.png"}
    assert "image" in rows["broken.jpg"]["error"]
    assert not rows["broken.jpg"]["label"]
    assert rows["missing.png"]["error"]
    assert not rows["missing.png"]["label"]
    expected = pyfunc_model.predict(pd.DataFrame({"image": [b64(png_bytes(p)) for p in pixels]}))
    assert [rows[f"digit{i}.png"]["label"] for i in range(3)] == expected["label"].tolist()
    assert rows["single.png"]["label"] == rows["digit0.png"]["label"]
    top = rows["digit0.png"]["top_k"].split(";")
    assert len(top) == 3
    assert top[0].startswith(rows["digit0.png"]["label"] + ":")
    assert 0 < float(rows["digit0.png"]["probability"]) <= 1


def test_make_predict_prints_only_the_csv_on_stdout(trained_model, tmp_path):
    """`make predict PATHS=... > out.csv`: the CSV header is the first line, no echoed command."""
    images = [tmp_path / f"digit{i}.png" for i in range(2)]
    for path, pixels in zip(images, digit_pixels(2), strict=True):
        path.write_bytes(png_bytes(pixels))
    # -o: never (re)build the venv stamp from a test, whatever the lock file's timestamp.
    command = [
        "make",
        "-o",
        ".venv/.installed",
        "predict",
        f"PATHS={images[0]} {images[1]}",
        "MODEL_NAME=digits-classifier",
    ]
    # As a person runs it from a shell: not as a sub-make of `make test` (which would print "Entering directory").
    env = {k: v for k, v in env_for(trained_model[0]).items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "file,label,probability,top_k,error"
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [Path(r["file"]).name for r in rows] == ["digit0.png", "digit1.png"]
    assert all(r["label"] and not r["error"] for r in rows)
