"""The README's MLflow UI walkthrough (tests/docs_mlflow_screenshots.py, run in full by `make docs`)
still clicks through today's MLflow UI: here on two runs that already exist, no training of its own.

The script checks at each step what a person should see (the group rows with their "(max)"
aggregate, the val_ charts and no others, the parallel-coordinates axes it chose); the pictures it
writes are looked at: full size, not blank, and the same file names the README shows.
"""

import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from tests.docs_mlflow_screenshots import HEIGHT, SHOTS, WIDTH
from tests.helpers import CHROMIUM, FAST, PYTHON, ROOT, train

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian chromium not at /usr/bin/chromium (make test installs it)"
    ),
]


def test_the_walkthrough_is_clicked_through_and_its_screenshots_are_real(shared_run_store, mlflow_store, tmp_path):
    # The shared run (default MLP, Adam) and one that differs the way a person's does: width, optimizer.
    other = ["model.hidden_units=[64]", "train.optimizer.name=sgd", "train.optimizer.learning_rate=0.05"]
    trained = train(mlflow_store, tmp_path / "out", *FAST, *other, "tracking.register_model=false")
    assert trained.returncode == 0, trained.stderr[-3000:]

    shots = tmp_path / "shots"
    command = [PYTHON, "-m", "tests.docs_mlflow_screenshots", "--store", mlflow_store, "--out", str(shots)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in SHOTS:
        pixels = np.asarray(Image.open(shots / name).convert("L"), dtype=float)
        assert pixels.shape == (HEIGHT, WIDTH), name
        # A page that failed to render is one flat colour; a real one has text, controls and charts
        # (the sparsest, a table of two runs, has ~3% of its pixels off the background).
        assert pixels.std() > 10, name
        assert (abs(pixels - np.median(pixels)) > 30).mean() > 0.01, name


def test_the_readme_shows_every_walkthrough_screenshot():
    readme = (ROOT / "README.md").read_text()
    docs = "\n".join(page.read_text() for page in (ROOT / "docs").glob("*.md"))
    shown = set(re.findall(r"\((?:docs/)?(mlflow-[\w-]+\.png)\)", readme + docs))
    assert shown == set(SHOTS)
    assert all((ROOT / "docs" / name).is_file() for name in SHOTS)


def test_the_web_page_script_runs_its_own_steps(tmp_path):
    """tests/docs_screenshots.py (`make docs-web-screenshots`) uses the browser helpers test_web_page.py
    runs; here its own parts: the command line, and the six digits plus one non-image it uploads."""
    from tests.docs_screenshots import sample_files

    files = sample_files(tmp_path)
    assert [Image.open(f).size for f in files[:6]] == [(8, 8)] * 6
    assert files[6].read_text().startswith("a text file")
    shown = subprocess.run([PYTHON, "-m", "tests.docs_screenshots", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "--epochs" in shown.stdout
    assert "--out" in shown.stdout
