"""Long work shows progress: the real `train` command on a budgeted photo folder, as a person reads it.

Stage lines while the data loads and after training, each epoch line with the budget's time left,
the stop line after the epoch it follows, and a report that names the files it got wrong.
"""

import csv
import re

import numpy as np
import pytest
from PIL import Image

from tests.helpers import FAST, app_command, run_cli

# The default terminal output of a budgeted folder run, in this order (stderr, one line each).
STAGES = [
    r"^loading data: 30 image files in 2 class folders under .*/noise$",
    r"^decoding 30 images to 32x32x3 \(data\.cache=disk would keep them\)$",
    r"^data: noise, \d+ train / \d+ val / \d+ test images of 32x32x3, 2 classes$",
    r"^model: mlp ",
    r"^device: cpu",
    r"^tracking: starting a run in MLflow experiment 'noise'$",
    r"^training: up to 400 epochs of \d+ steps? \(batch \d+\) in a time budget of 30s; the first epoch also builds",
    r"^epoch 1/400: loss \d\.\d{4} .* \| lr [\d.e-]+  [\d.]+ s \| [\d.]+s left$",
    r"^stopped after epoch \d+ of 400: the time budget of 30s ",
    r"^evaluating on the test split: \d+ images$",
    r"^writing the report \(.*\) to .*/reports$",
    r"^saving the served model",
    r"^logging metrics, report and model to MLflow$",
    r"^registering the model as 'noise-classifier'$",
]


def _noise_folder(root):
    """Two classes of random pixels: nothing to learn, so the test split surely has mistakes."""
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)
        for i in range(15):
            Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(root / name / f"{name}_{i:02d}.png")
    return root


@pytest.mark.slow
def test_a_budgeted_folder_run_shows_progress_in_order(mlflow_store, tmp_path):
    folder = _noise_folder(tmp_path / "noise")
    out_dir = tmp_path / "out"
    overrides = [*FAST, "train.time_budget_minutes=0.5", "train.epochs=400", f"output_dir={out_dir}"]
    out = run_cli(app_command("train", "--family", "mlp", "--data", str(folder), *overrides), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line for line in out.stderr.splitlines() if line.strip()]

    positions = []
    for stage in STAGES:
        matching = [i for i, line in enumerate(lines) if re.search(stage, line)]
        assert len(matching) == 1, f"{stage!r} matched {len(matching)} lines in:\n" + "\n".join(lines)
        positions.append(matching[0])
    assert positions == sorted(positions), "\n".join(lines)

    epochs = [line for line in lines if line.startswith("epoch ")]
    assert epochs  # a loaded machine may spend the whole budget on the first epoch (tracing)
    assert all(re.search(r" \| [\d.hms]+ left$", line) for line in epochs)  # every epoch line: time left
    stop = next(i for i, line in enumerate(lines) if line.startswith("stopped after epoch"))
    last_epoch = max(i for i, line in enumerate(lines) if line.startswith("epoch "))
    assert stop > last_epoch  # the stop line follows the epoch it ends with, never before it
    last = re.match(r"epoch (\d+)/400", lines[last_epoch]).group(1)
    assert lines[stop].startswith(f"stopped after epoch {last} of 400: ")

    # The report names the photos it got wrong by their files; the curves are drawn.
    (reports,) = out_dir.glob("*/reports")
    with (reports / "misclassified.csv").open(newline="") as f:
        wrong = list(csv.DictReader(f))
    assert wrong
    assert all(re.fullmatch(r"(cats|dogs)/\1_\d\d\.png", row["image"]) for row in wrong)
    assert (reports / "training_curves.png").stat().st_size > 0
