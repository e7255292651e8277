"""Evaluation reports: logged with every run, and the same report from `python -m app evaluate`."""

import csv
import io
import json
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT
from tests.helpers import client, run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def trained(shared_run_store, mlflow_store):
    """The session's 2-epoch digits run (tests/conftest.py) in a copy of its store: evaluate writes there."""
    return shared_run_store, mlflow_store


def _confusion(path) -> np.ndarray:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    return np.array([[int(v) for v in row[1:]] for row in rows])


@pytest.mark.slow
def test_every_run_logs_a_complete_report(trained, tmp_path):
    result, store = trained
    import mlflow

    local = tmp_path / "downloaded"
    mlflow.artifacts.download_artifacts(run_id=result.run_id, artifact_path="reports", dst_path=str(local))
    reports = local / "reports"
    for name in ("confusion_matrix.png", "misclassified.png", "training_curves.png", "gradient_norms.png"):
        assert (reports / name).read_bytes()[:8] == PNG_MAGIC, name

    manifest = mlflow.artifacts.load_text(f"runs:/{result.run_id}/data/manifest.csv")
    test_size = sum(1 for row in csv.reader(io.StringIO(manifest)) if row[1] == "test")
    metrics = json.loads((reports / "metrics.json").read_text())
    confusion = _confusion(reports / "confusion_matrix.csv")
    assert confusion.shape == (10, 10)
    assert confusion.sum() == metrics["num_images"] == test_size == 359
    assert np.trace(confusion) / confusion.sum() == pytest.approx(metrics["accuracy"])
    assert metrics["accuracy"] == pytest.approx(result.test_accuracy)
    assert [row["class"] for row in metrics["per_class"]] == [str(d) for d in range(10)]
    assert [row["support"] for row in metrics["per_class"]] == confusion.sum(axis=1).tolist()
    assert metrics["top_k"] == 5  # 10 digits: top-5, and the name says so
    assert metrics["top_5_accuracy"] >= metrics["accuracy"]
    assert metrics["training"]["epochs"] == 2
    assert metrics["training"]["images_per_second"] > 0
    # The step's own rate leaves out validation, the probe and the callbacks: it is the higher one.
    assert metrics["training"]["step_images_per_second"] > metrics["training"]["images_per_second"]
    parts = metrics["training"]["median_epoch_seconds"]
    assert set(parts) == {"steps", "validation", "gradient_probe", "other_callbacks"}
    assert parts["gradient_probe"] > 0  # the probe runs every epoch by default
    summary = (reports / "model_summary.txt").read_text()
    assert "dense1" in summary
    assert "Trainable params" in summary
    assert metrics["param_count"] > 0

    run_metrics = client(store).get_run(result.run_id).data.metrics
    for key in ("test_accuracy", "test_top_5_accuracy", "test_loss", "test_macro_f1", "train_images_per_second"):
        assert key in run_metrics


@pytest.mark.slow
def test_evaluate_command_on_a_folder_gives_the_same_report(trained, tmp_path):
    from sklearn.datasets import load_digits

    from pipelines.evaluation.logged_model import run_evaluation

    result, _ = trained
    folder = tmp_path / "digits_folder"
    digits = load_digits()
    for i in range(60):  # 6 per class, as 8x8 grayscale PNGs
        label = digits.target[i]
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        pixels = np.round(digits.images[i] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(folder / str(label) / f"{i}.png")
    (folder / "3" / "broken.png").write_bytes(b"not an image")

    metrics = run_evaluation(result.run_id, str(folder), tmp_path / "report")
    confusion = _confusion(tmp_path / "report" / "confusion_matrix.csv")
    assert confusion.sum() == metrics["num_images"] == 60  # the broken file is listed, not counted
    assert "broken.png" in (tmp_path / "report" / "skipped_files.csv").read_text()
    assert (tmp_path / "report" / "misclassified.png").read_bytes()[:8] == PNG_MAGIC
    assert metrics["accuracy"] > 0.5

    # The CLI on the registered model and the training config: the run's own test split.
    out = run_cli(
        [
            *[sys.executable, "-m", "app", "evaluate", "--model", "models:/digits-classifier@champion"],
            *["--data", str(ROOT / "pipelines/configs/digits_mlp.yaml"), "--output", str(tmp_path / "cli")],
        ]
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"accuracy:       {result.test_accuracy:.4f} on 359 images" in out.stdout
    assert json.loads((tmp_path / "cli" / "metrics.json").read_text())["num_images"] == 359


def test_evaluate_command_rejects_a_bad_model_reference_in_one_line():
    out = run_cli([sys.executable, "-m", "app", "evaluate", "--model", "champion", "--data", "x"], timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("error: --model 'champion' is not a models:/ URI")


@pytest.mark.slow
def test_a_failed_evaluate_leaves_no_experiment_behind(trained, tmp_path):
    """A real model but data it cannot use, then a model that does not exist: one line each, and the
    store's experiments are what they were (evaluate only reads; it used to create 'evaluations')."""
    from tests.helpers import env_for

    _, store = trained
    before = {e.name for e in client(store).search_experiments()}
    other_classes = tmp_path / "cats-and-dogs"
    for name in ("cat", "dog"):
        (other_classes / name).mkdir(parents=True)
        Image.new("L", (8, 8)).save(other_classes / name / "0.png")
    attempts = {
        "unusable data": ("models:/digits-classifier@champion", str(other_classes), "classes ['cat', 'dog']"),
        "missing model": ("models:/flowers-classifier@champion", str(other_classes), "cannot load model"),
    }
    for what, (model, data, message) in attempts.items():
        out = run_cli([sys.executable, "-m", "app", "evaluate", "--model", model, "--data", data], env=env_for(store))
        assert out.returncode == 1, (what, out.stderr[-2000:])
        assert message in out.stderr.strip().splitlines()[-1], (what, out.stderr[-2000:])
    assert {e.name for e in client(store).search_experiments()} == before
    assert "evaluations" not in before
