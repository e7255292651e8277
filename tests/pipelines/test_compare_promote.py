"""compare and promote on runs made here: real Keras models logged as the real served pyfunc."""

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipelines import tracking

NAME = "digits-classifier"


def log_training_run(mlflow, tmp_path, tag: str, val_accuracy: float, with_model: bool = True) -> str:
    """A finished run shaped like `train`'s: tags, params, metrics and (optionally) the served model."""
    import keras

    with mlflow.start_run(run_name=f"run-{tag}") as run:
        mlflow.set_tags({"model_family": "mlp", "dataset": "digits", "fingerprint": "f" * 16})
        mlflow.log_params({"model.hidden_units": "[32]", "train.optimizer.name": "adam", "param_count": 650})
        mlflow.log_metrics({"val_accuracy": val_accuracy, "test_accuracy": val_accuracy - 0.01, "train_seconds": 3.0})
        if with_model:
            inputs = keras.Input((8, 8, 1))
            outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs))
            keras_path = tmp_path / f"{tag}.keras"
            keras.Model(inputs, outputs).save(keras_path)
            meta = {"class_names": [str(d) for d in range(10)], "image_size": [8, 8], "channels": 1}
            meta |= {"resize": "stretch", "top_k": 3, "max_bytes": 1 << 20, "max_pixels": 1 << 20}
            meta |= {"max_images_per_request": 8}
            (tmp_path / f"{tag}.json").write_text(json.dumps(meta))
            buffer = io.BytesIO()
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="PNG")
            example = pd.DataFrame({"image": [base64.b64encode(buffer.getvalue()).decode()]})
            tracking.log_served_model(mlflow, keras_path, tmp_path / f"{tag}.json", example)
    return run.info.run_id


@pytest.fixture
def runs(mlflow_store, tmp_path):
    mlflow = tracking.setup_mlflow("digits")
    ids = {
        "middle": log_training_run(mlflow, tmp_path, "middle", 0.80),
        "best": log_training_run(mlflow, tmp_path, "best", 0.90),
        "worst": log_training_run(mlflow, tmp_path, "worst", 0.70),
        "best-no-model": log_training_run(mlflow, tmp_path, "nomodel", 0.95, with_model=False),
    }
    return mlflow, ids


def test_compare_sorts_runs_and_logs_the_plot(runs, capsys):
    from app.cli import main
    from pipelines.tracking.compare import compare_runs

    mlflow, ids = runs
    table = compare_runs(mlflow, "digits", "val_accuracy")
    assert table["run_id"].tolist() == [ids["best-no-model"], ids["best"], ids["middle"], ids["worst"]]
    for column in ("model", "hidden_units", "val_accuracy", "test_accuracy", "param_count", "train_seconds"):
        assert column in table.columns
    assert table["param_count"].tolist() == [650] * 4

    assert main(["compare", "--sort-by", "test_accuracy"]) == 0
    printed = capsys.readouterr().out
    assert "4 run(s), best test_accuracy first" in printed
    assert printed.index(ids["best"][:8]) < printed.index(ids["worst"][:8])
    comparison = mlflow.search_runs(filter_string="tags.`imgclf.kind` = 'comparison'", output_format="list")
    assert len(comparison) == 1
    png = mlflow.artifacts.download_artifacts(f"runs:/{comparison[0].info.run_id}/comparison/comparison.png")
    assert Image.open(png).size[0] > 400
    # The comparison run itself is not a training run: it never shows up in the table.
    assert len(compare_runs(mlflow, "digits")) == 4
    # `--data` finds the experiment that training on that data logs to (make train-all).
    assert main(["compare", "--data", "digits", "--no-log"]) == 0
    assert "experiment 'digits': 4 run(s)" in capsys.readouterr().out

    with pytest.raises(ValueError, match="not one of"):
        compare_runs(mlflow, "digits", "accuracy_typo")


def test_promote_moves_the_alias_and_never_to_a_broken_version(runs):
    from mlflow import MlflowClient

    from pipelines.tracking.promote import promote

    mlflow, ids = runs
    client = MlflowClient()
    # Best run *with a model*: the higher-scoring run without one is passed over.
    first = promote(mlflow, NAME, experiment="digits")
    assert first.run_id == ids["best"]
    assert first.previous_version is None
    assert client.get_model_version_by_alias(NAME, "champion").run_id == ids["best"]

    second = promote(mlflow, NAME, run_id=ids["worst"])
    assert client.get_model_version_by_alias(NAME, "champion").run_id == ids["worst"]
    assert second.previous_version == first.version

    # Promoting an already registered run reuses its version.
    again = promote(mlflow, NAME, run_id=ids["best"])
    assert again.version == first.version
    assert len(client.search_model_versions(f"name = '{NAME}'")) == 2

    # Failures leave the alias where it was.
    with pytest.raises(ValueError, match="no logged model"):
        promote(mlflow, NAME, run_id=ids["best-no-model"])
    with pytest.raises(ValueError, match="not found"):
        promote(mlflow, NAME, run_id="0" * 32)
    with pytest.raises(RuntimeError, match="left unchanged"):
        tracking.register(mlflow, f"runs:/{ids['best-no-model']}/model", NAME, "champion")
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == first.version
    assert len(client.search_model_versions(f"name = '{NAME}'")) == 2

    # The champion really serves: it loads and predicts.
    loaded = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    assert loaded.predict(loaded.input_example)["label"][0] in [str(d) for d in range(10)]


def test_training_registers_every_version_but_moves_the_alias_only_to_a_better_one(runs):
    from mlflow import MlflowClient

    mlflow, ids = runs
    client = MlflowClient()

    def register(run: str, value: float, higher_is_better: bool = True, metric: str = "val_accuracy"):
        score = tracking.Score(metric, value, higher_is_better)
        return tracking.register(mlflow, f"runs:/{ids[run]}/model", NAME, "champion", score)

    def champion_run() -> str:
        return client.get_model_version_by_alias(NAME, "champion").run_id

    first, stays = register("middle", 0.80)  # no champion yet: it takes the alias
    assert stays is None
    assert champion_run() == ids["middle"]

    worse, stays = register("worst", 0.70)
    assert worse.version != first.version  # registered all the same
    assert stays.startswith(f"version {first.version} is better on val_accuracy (0.8000 vs 0.7000)")
    assert champion_run() == ids["middle"]

    _better, stays = register("best", 0.90)
    assert stays is None
    assert champion_run() == ids["best"]

    # Lower is better for a loss: "middle" logged train_seconds 3.0; 2.0 beats it, 4.0 does not.
    client.set_registered_model_alias(NAME, "champion", first.version)
    _, stays = register("worst", 4.0, higher_is_better=False, metric="train_seconds")
    assert "3.0000 vs 4.0000" in stays
    assert champion_run() == ids["middle"]
    _, stays = register("worst", 2.0, higher_is_better=False, metric="train_seconds")
    assert stays is None
    assert champion_run() == ids["worst"]

    # Without a score (alias_policy: always, and promote) the newest always takes it.
    _, stays = tracking.register(mlflow, f"runs:/{ids['middle']}/model", NAME, "champion")
    assert stays is None
    assert champion_run() == ids["middle"]
