"""The web page in a real headless Chromium, and the batch `predict` command."""

import csv
import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.app.conftest import MODEL_URI
from tests.app.test_serving import b64, digit_pixels, png_bytes
from tests.helpers import ROOT, env_for, web_page

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
BAR_RGB = (0x2A, 0x6F, 0xDB)  # .bar in app/web/index.html
pytestmark = pytest.mark.slow


def big_digit_png(path: Path) -> Path:
    """A real handwritten digit, scaled up as a photo of one would be."""
    Image.fromarray(digit_pixels(1)[0]).resize((160, 160), Image.Resampling.NEAREST).save(path)
    return path


@pytest.fixture(scope="module")
def page_url(trained_model, tmp_path_factory):
    with web_page(MODEL_URI, trained_model[0], tmp_path_factory.mktemp("web"), max_upload_mb=1.0) as url:
        yield url


def test_the_page_shows_the_label_and_bars_for_an_uploaded_image(page_url, pyfunc_model, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed at /usr/bin/chromium (make test installs it)")
    from playwright.sync_api import sync_playwright

    image = big_digit_png(tmp_path / "digit.png")
    expected = pyfunc_model.predict(pd.DataFrame({"image": [b64(image.read_bytes())]}), params={"top_k": 5})
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 520})
        page.goto(page_url)
        page.set_input_files("#file", str(image))
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        label = page.inner_text("#label")
        names = page.locator(".bar-name").all_inner_texts()
        shot = page.screenshot(path=str(tmp_path / "page.png"))
        # A file that is not an image: the page says so instead of showing a result.
        page.set_input_files("#file", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}])
        page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=30_000)
        error_text = page.inner_text("#error")
        browser.close()
    assert label.startswith(f"{expected['label'][0]} (")
    assert names == [t["label"] for t in expected["top_k"][0]]
    # The screenshot shows the bar chart: a solid block of the bar colour, top bar widest.
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)
    is_bar = np.abs(pixels - BAR_RGB).sum(axis=2) < 30
    assert is_bar.sum() > 500, "no bar chart in the screenshot"
    assert "image" in error_text
    assert "Traceback" not in error_text


def test_uploads_over_the_limit_are_refused(page_url):
    request = urllib.request.Request(page_url + "/api/predict", data=b"x" * (2 * 1024 * 1024), method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert "limit" in json.loads(refused.value.read())["error"]


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
