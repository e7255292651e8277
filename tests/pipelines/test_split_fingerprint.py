"""Real runs on folders of handwritten digits: the split fingerprint each run is tagged with, and
top-k metrics named with their k (4 classes: top-2; 3 classes: none)."""

import numpy as np
import pytest
from PIL import Image

from pipelines.config import load_config
from tests.helpers import FAST, client, using_store

pytestmark = pytest.mark.slow  # four real (one-epoch) trainings


def _digit_folder(root, classes: int, per_class: int = 40):
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(classes):
        (root / str(label)).mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == label][:per_class]):
            pixels = np.clip(image * 255.0 / 16.0 + 0.5, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / str(label) / f"{i}.png")
    return root


def _train(folder, out, *overrides):
    from pipelines.training.workflow import run_training

    args = [*FAST, "train.epochs=1", "data.source=folder", f"data.path={folder}", f"output_dir={out}"]
    return run_training(load_config(None, [*args, "tracking.register_model=false", *overrides]))


def test_runs_share_a_split_fingerprint_exactly_when_scored_on_the_same_images(mlflow_store, tmp_path):
    from pipelines.tracking.compare import compare_runs, split_groups

    folder = _digit_folder(tmp_path / "four", classes=4)
    first = _train(folder, tmp_path / "out", "data.test_fraction=0.2")
    other_split = _train(folder, tmp_path / "out", "data.test_fraction=0.3")
    same_split = _train(folder, tmp_path / "out", "data.test_fraction=0.2", "train.optimizer.learning_rate=0.01")
    runs = {name: client(mlflow_store).get_run(r.run_id) for name, r in
            [("first", first), ("other", other_split), ("same", same_split)]}  # fmt: skip
    split = {name: run.data.tags["split_fingerprint"] for name, run in runs.items()}
    assert split["first"] == split["same"] != split["other"]
    assert len(split["first"]) == 12

    # 4 classes: top-2, and every name says so (Keras' history, MLflow, the report).
    metrics = runs["first"].data.metrics
    assert {"top_2_accuracy", "val_top_2_accuracy", "test_top_2_accuracy"} <= set(metrics)
    assert not any("top_k" in name or "top_5" in name for name in metrics)
    assert runs["first"].data.params["top_k"] == "2"
    with using_store(mlflow_store) as mlflow:
        report = mlflow.artifacts.load_dict(f"runs:/{first.run_id}/reports/metrics.json")
        table = compare_runs(mlflow, client(mlflow_store).get_experiment(first.experiment_id).name)
    assert report["top_k"] == 2
    assert report["top_2_accuracy"] == pytest.approx(metrics["test_top_2_accuracy"])
    groups = {s: set(group["run_id"]) for s, group in split_groups(table)}
    assert groups == {split["first"]: {first.run_id, same_split.run_id}, split["other"]: {other_split.run_id}}


def test_three_classes_have_no_top_k_metric_under_any_name(mlflow_store, tmp_path):
    folder = _digit_folder(tmp_path / "three", classes=3)
    result = _train(folder, tmp_path / "out")
    run = client(mlflow_store).get_run(result.run_id)
    assert not any(name.startswith(("top_", "val_top_", "test_top_")) for name in run.data.metrics)
    assert run.data.params["top_k"] == "none"
    assert "split_fingerprint" in run.data.tags
    with using_store(mlflow_store) as mlflow:
        report = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/reports/metrics.json")
    assert "top_k" not in report
    assert not any(key.startswith("top_") for key in report)
