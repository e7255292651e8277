"""The real training command, end to end, into a temporary MLflow store."""

import numpy as np
import pytest

from tests.helpers import app_command, run_cli, using_store
from tests.helpers import client as client_for


@pytest.mark.slow
def test_train_command_logs_a_finished_run_with_a_loadable_model(shared_run):
    # The session's shared run (tests/conftest.py): `python -m app train train.epochs=2`, once.
    mlflow_store, run_id = shared_run.uri, shared_run.run_id
    assert "test accuracy:" in shared_run.stdout

    client = client_for(mlflow_store)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["model.name"] == "mlp"
    for metric in ("accuracy", "val_accuracy", "loss", "test_accuracy", "test_loss", "learning_rate"):
        assert metric in run.data.metrics, metric
    val_history = client.get_metric_history(run_id, "val_accuracy")
    assert len(val_history) == 2  # one point per epoch
    # What the registry's alias policy compares: the best epoch, whose weights were kept.
    assert run.data.metrics["best_val_accuracy"] == max(point.value for point in val_history)
    artifacts = {a.path for a in client.list_artifacts(run_id, "config")}
    assert "config/resolved_config.json" in artifacts
    with using_store(mlflow_store) as mlflow:
        resolved = mlflow.artifacts.load_dict(f"runs:/{run_id}/config/resolved_config.json")
        report = mlflow.artifacts.load_dict(f"runs:/{run_id}/reports/metrics.json")
        model = mlflow.pyfunc.load_model("models:/digits-classifier@champion")
    assert resolved["train"]["epochs"] == 2
    # One top-k rule: the k is stored, and named in every top-k metric (validation, test, report).
    assert run.data.params["top_k"] == "5"
    assert report["top_k"] == 5
    assert {"val_top_5_accuracy", "test_top_5_accuracy"} <= set(run.data.metrics)
    assert "top_5_accuracy" in report
    assert not any("top_k_accuracy" in name for name in run.data.metrics)

    version = client.get_model_version_by_alias("digits-classifier", "champion")
    assert version.run_id == run_id

    example = model.input_example
    predictions = model.predict(example)
    probabilities = np.asarray(predictions["probabilities"].tolist())
    assert probabilities.shape == (len(example), 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert predictions["label"][0] in [str(d) for d in range(10)]


@pytest.mark.slow
def test_flip_tta_and_ema_reach_the_report_and_the_served_model(mlflow_store, tmp_path):
    """What the served model answers is what the report measured: the TTA averaging is in the served file."""
    overrides = ("train.epochs=2", "evaluate.tta=flip", "train.optimizer.ema=true", "tracking.register_model=false")
    out = run_cli(app_command("train", *overrides, f"output_dir={tmp_path / 'outputs'}"), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    run_id = out.stdout.split("run id:")[1].split()[0]

    metrics = client_for(mlflow_store).get_run(run_id).data.metrics
    assert {"test_accuracy", "test_accuracy_no_tta"} <= set(metrics)
    with using_store(mlflow_store) as mlflow:
        served = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
        meta = mlflow.artifacts.load_dict(f"runs:/{run_id}/model/artifacts/serving_meta.json")
    keras_model = served.unwrap_python_model().model
    assert keras_model.get_layer("mirror") is not None  # the averaging travels with the model
    assert "EMA weights swapped into the model" in out.stderr
    assert meta["tta"] == "flip"
