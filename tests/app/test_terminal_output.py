"""What a person sees in the terminal: the real default `make train` command, line by line."""

import re

import pytest

from tests.helpers import app_command, run_cli

# Each was seen in the default output before it was made quiet (issue 15).
NOISE = [
    r"absl::InitializeLog",
    r"oneDNN",
    r"cuInit|cuda|CUDA",
    r"^[IWEF]\d{4} ",  # TensorFlow's C++ log lines
    r"shuffle=True",
    r"Add type hints",
    r"Downloading artifacts",
    r"Successfully registered model|Created version",
    r"retracing",
    r"Creating initial MLflow database tables",
    r"UserWarning|Traceback",
]
# One line per stage, in this order: the logged ones (stderr, one per epoch too), then the summary (stdout).
LOGGED_STAGES = [
    r"^data: digits, 1169 train / 269 val / 359 test images of 8x8x1, 10 classes$",
    r"^model: mlp \(hidden_units=\[.*\], input_dropout=0.0\), [\d,]+ parameters$",
    r"^device: cpu, 1 replica\(s\) x 1 worker\(s\), float32",
    r"^epoch 1/2: loss \d\.\d{4}  accuracy 0\.\d{4}.* \| val_loss \d\.\d{4}  val_accuracy 0\.\d{4}.* \| lr [\d.e-]+  [\d.]+ s$",
    r"^epoch 2/2: ",
]
PRINTED_STAGES = [
    r"^test accuracy: 0\.\d{4}  \(cross-entropy \d\.\d{4}\)$",
    r"^best val:      val_accuracy 0\.\d{4} at epoch [12] of 2, trained in [\d.]+ s$",
    r"^run id:        [0-9a-f]{32}  \('digits mlp \[.*\] .* ep=2'\)$",
    r"^registered:    digits-classifier/1@champion$",
    # What goes on from THIS run: its experiment and its registered model, ready to copy.
    r'^next:          make compare ARGS="--experiment digits" +this run beside the others$',
    r"^               make serve MODEL_NAME=digits-classifier +HTTP API on 127.0.0.1:5001$",
    r"^               make web MODEL_NAME=digits-classifier +web page on 127.0.0.1:8000$",
    r'^               make predict MODEL_NAME=digits-classifier PATHS="photo.jpg folder/"$',
    r"^               make ui +MLflow UI on http://127.0.0.1:5000$",
]


def _lines(text: str) -> list[str]:
    # Keras' progress output may use carriage returns: every piece is a line a person sees.
    return [line for line in re.split(r"[\r\n]+", text) if line.strip()]


def _assert_in_order(stages: list[str], lines: list[str]) -> None:
    positions = []
    for stage in stages:
        matching = [i for i, line in enumerate(lines) if re.search(stage, line)]
        assert len(matching) == 1, f"{stage!r} matched {len(matching)} lines in:\n" + "\n".join(lines)
        positions.append(matching[0])
    assert positions == sorted(positions)


@pytest.mark.slow
def test_default_train_output_is_one_line_per_stage(shared_run):
    out = shared_run  # the real `python -m app train train.epochs=2`, run once per session (tests/conftest.py)
    lines = _lines(out.stdout + out.stderr)
    noisy = [line for line in lines if any(re.search(pattern, line) for pattern in NOISE)]
    assert noisy == [], noisy
    _assert_in_order(LOGGED_STAGES, _lines(out.stderr))
    _assert_in_order(PRINTED_STAGES, _lines(out.stdout))
    assert len([line for line in lines if "registered" in line]) == 1


@pytest.mark.slow
def test_early_stop_says_why_and_verbose_restores_the_rest(mlflow_store, tmp_path):
    # A learning rate too small to change any prediction, no batch norm: val_accuracy cannot improve.
    # No warm-up: patience is counted only after it (pipelines/training/callbacks.py).
    overrides = [
        "train.optimizer.learning_rate=1e-9",
        "model.batch_norm=false",
        "train.early_stopping_patience=1",
        "train.optimizer.warmup_epochs=0",
    ]
    command = app_command("train", "--verbose", "train.epochs=4", *overrides, f"output_dir={tmp_path / 'out'}")
    out = run_cli(command, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert re.search(
        r"early stop after epoch 2: val_accuracy did not improve for 1 epochs; best 0\.\d+ at epoch 1", text
    )
    assert "epoch 2/4: " in text
    assert "epoch 3/4" not in text
    # --verbose: the libraries' own messages and our INFO lines are back.
    assert "Successfully registered model 'digits-classifier'" in text
    assert "INFO pipelines.evaluation.report: evaluation report in" in text


@pytest.mark.slow
def test_a_photo_folder_run_measures_this_machine_quietly(tmp_path):
    """The folder defaults time a few training steps before the command loads TensorFlow itself:
    that first import is as quiet as the rest, and the measurement is one line."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(
                tmp_path / "photos" / name / f"{i}.png"
            )
    out = run_cli(app_command("show-config", "--family", "vgg", "--data", str(tmp_path / "photos")), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = _lines(out.stderr)
    noisy = [line for line in lines if any(re.search(pattern, line) for pattern in NOISE)]
    assert noisy == [], noisy
    assert len(lines) == 1, lines
    assert re.fullmatch(r"folder defaults: vgg at 40 px trains \d+ images/s here \(3 timed steps\)", lines[0])
