"""promote never moves the champion alias to a model that serving would refuse (a Lambda layer)."""

import base64
import io
import json

import numpy as np
import pandas as pd
from PIL import Image

from pipelines.tracking.export import log_served_model
from pipelines.tracking.store import setup_mlflow
from tests.helpers import app_command, client, run_cli

NAME = "digits-classifier"


def _log_run(mlflow, tmp_path, tag: str, with_lambda: bool) -> str:
    """A run whose served model is a tiny Keras net, with or without a Lambda layer."""
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    if with_lambda:
        x = keras.layers.Lambda(lambda t: t * 1.0)(x)  # arbitrary code: refused under safe_mode
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    keras.Model(inputs, outputs).save(tmp_path / f"{tag}.keras")
    meta = {"class_names": [str(d) for d in range(10)], "image_size": [8, 8], "channels": 1, "resize": "stretch"}
    meta |= {"top_k": 3, "max_bytes": 1 << 20, "max_pixels": 1 << 20, "max_images_per_request": 8}
    (tmp_path / f"{tag}.json").write_text(json.dumps(meta))
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="PNG")
    example = pd.DataFrame({"image": [base64.b64encode(buffer.getvalue()).decode()]})
    with mlflow.start_run(run_name=tag) as run:
        mlflow.log_metric("val_accuracy", 0.9)
        log_served_model(mlflow, tmp_path / f"{tag}.keras", tmp_path / f"{tag}.json", example)
    return run.info.run_id


def test_promote_refuses_a_model_that_cannot_load_and_leaves_the_alias(mlflow_store, tmp_path):
    mlflow = setup_mlflow("digits")
    good, bad = _log_run(mlflow, tmp_path, "good", False), _log_run(mlflow, tmp_path, "lambda", True)

    ok = run_cli(app_command("promote", "--run-id", good))
    assert ok.returncode == 0, ok.stderr[-2000:]
    champion = client(mlflow_store).get_model_version_by_alias(NAME, "champion")

    refused = run_cli(app_command("promote", "--run-id", bad))
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ")
    assert "cannot be served" in line
    assert "alias 'champion' left unchanged" in line
    assert "Traceback" not in refused.stderr
    after = client(mlflow_store).get_model_version_by_alias(NAME, "champion")
    assert (after.version, after.run_id) == (champion.version, good)
    # Nothing registered for the refused run either.
    assert not client(mlflow_store).search_model_versions(f"name = '{NAME}' and run_id = '{bad}'")


def test_registering_the_same_run_again_reuses_its_version_and_moves_the_alias(mlflow_store, tmp_path):
    """An interrupted registration (version created, alias not moved) completed by the rerun: no duplicate."""
    from pipelines.tracking.registry import register

    mlflow = setup_mlflow("digits")
    run_id = _log_run(mlflow, tmp_path, "good", False)
    experiment_id = client(mlflow_store).get_run(run_id).info.experiment_id
    (logged,) = client(mlflow_store).search_logged_models([experiment_id], f"source_run_id = '{run_id}'")
    model_uri = logged.model_uri
    mlflow.register_model(model_uri, NAME)  # the first try stopped here, before the alias

    version, stays = register(mlflow, model_uri, NAME, "champion")
    assert stays is None
    versions = client(mlflow_store).search_model_versions(f"name = '{NAME}'")
    assert [v.version for v in versions] == [version.version]  # the same version, not a second one
    assert client(mlflow_store).get_model_version_by_alias(NAME, "champion").run_id == run_id
