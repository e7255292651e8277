"""The README's MLflow UI walkthrough, followed in the real `mlflow ui` by tests/docs_mlflow_screenshots.py.

The script checks at each step what a person should see (the group rows with their "(max)"
aggregate, the val_ charts and no others, the parallel-coordinates axes it chose); here it runs
on three short MLP runs into a temp folder, and the pictures it writes are looked at: full
size, not blank, and the same file names the README shows.
"""

import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from tests.docs_mlflow_screenshots import HEIGHT, SHOTS, WIDTH
from tests.helpers import CHROMIUM, PYTHON, ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian chromium not at /usr/bin/chromium (make test installs it)"
    ),
]


def test_the_walkthrough_is_clicked_through_and_its_screenshots_are_real(tmp_path):
    command = [PYTHON, "-m", "tests.docs_mlflow_screenshots", "--quick", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in SHOTS:
        pixels = np.asarray(Image.open(tmp_path / name).convert("L"), dtype=float)
        assert pixels.shape == (HEIGHT, WIDTH), name
        # A page that failed to render is one flat colour; a real one has text, controls and charts
        # (the sparsest, a table of three runs, has ~3% of its pixels off the background).
        assert pixels.std() > 10, name
        assert (abs(pixels - np.median(pixels)) > 30).mean() > 0.01, name


def test_the_tracking_guide_shows_every_walkthrough_screenshot():
    guide = (ROOT / "docs" / "tracking.md").read_text()
    shown = set(re.findall(r"\((mlflow-[\w-]+\.png)\)", guide))
    assert shown == set(SHOTS)
    assert all((ROOT / "docs" / name).is_file() for name in SHOTS)
