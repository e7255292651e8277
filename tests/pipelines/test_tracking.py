"""Tracking against a real `mlflow server` over HTTP, and a server that is down."""

import re
import time

import pytest

from app.processes import free_port
from tests.helpers import app_command, env_for, mlflow_server, run_cli, run_id_of, train, using_store


@pytest.mark.slow
def test_training_against_a_real_tracking_server(tmp_path):
    with mlflow_server(tmp_path) as url:
        out = train(url, tmp_path / "outputs")
        assert out.returncode == 0, out.stderr[-3000:]
        run_id = run_id_of(out.stdout)
        with using_store(url) as mlflow:
            client = mlflow.MlflowClient()
            run = client.get_run(run_id)
            assert run.info.status == "FINISHED"
            assert client.get_experiment(run.info.experiment_id).name == "digits"  # one experiment per dataset
            tags = run.data.tags
            assert tags["model_family"] == "mlp"
            assert tags["dataset"] == "digits"
            assert len(tags["fingerprint"]) >= 8
            # Named by what sets it apart (family, its layers, optimizer, overrides); the hash is a tag.
            name = tags["mlflow.runName"]  # e.g. "digits mlp [512,256] adam lr=0.002 ep=1"
            assert name.startswith("digits mlp ["), name
            assert name.endswith(" ep=1"), name
            assert tags["config_hash"].startswith("digits-mlp-")
            # Only the MLP's own model fields are params: no other family's (vgg_depth, inception_*).
            params = run.data.params
            assert params["model.hidden_units"].startswith("[")
            assert not [p for p in params if p.startswith(("model.vgg_", "model.inception_", "model.aux_"))]
            assert len(client.get_metric_history(run_id, "val_accuracy")) == 1
            # Artifacts went through the server (proxied), not to a local path.
            assert run.info.artifact_uri.startswith("mlflow-artifacts:")
            config = mlflow.artifacts.load_dict(f"runs:/{run_id}/config/resolved_config.json")
            assert config["train"]["epochs"] == 1
            assert any((tmp_path / "server-artifacts").rglob("resolved_config.json"))
            version = client.get_model_version_by_alias("digits-classifier", "champion")
            assert version.run_id == run_id
            assert version.status == "READY"


def test_a_down_tracking_server_fails_fast_with_one_line(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    out = train(dead, tmp_path / "outputs", timeout=300)
    elapsed = time.monotonic() - started
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: MLflow tracking server"), out.stderr[-2000:]
    assert "unreachable" in last
    assert "Traceback" not in out.stderr
    assert elapsed < 90  # TensorFlow import and data loading included; the probe itself is 3 s at most


def test_compare_against_a_down_server_is_one_line_too():
    dead = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    out = run_cli(app_command("compare"), env=env_for(dead), timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("error: MLflow tracking server")
    assert time.monotonic() - started < 30


def test_the_epoch_callback_survives_a_server_that_stops_answering(monkeypatch):
    from pipelines.tracking.metrics_callback import MlflowMetrics

    with using_store(f"http://127.0.0.1:{free_port()}") as mlflow:
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        callback = MlflowMetrics(mlflow, lambda: 0.1)
        callback.on_epoch_end(0, {"loss": 1.0})  # must not raise: training goes on
        assert callback.failed
        callback.on_epoch_end(1, {"loss": 0.5})  # and stops trying


def test_run_names_say_what_differs_and_name_a_repeated_key_once():
    from pipelines.config.loading import load_config
    from pipelines.tracking.run_logging import run_name

    overrides = ["model.hidden_units=[64]", "train.optimizer.name=sgd", "train.epochs=1", "train.epochs=3"]
    overrides += ["output_dir=/tmp/x", "augment.preset=none"]
    name = run_name(load_config(None, overrides), overrides)
    # The family's own field and the optimizer lead; the epochs that won appear once; where the
    # run writes is not part of what it learns.
    assert name == "digits mlp [64] sgd lr=0.002 ep=3 preset=none"


def test_run_names_that_would_be_long_stay_short_and_apart():
    from pipelines.config.loading import load_config
    from pipelines.tracking.run_logging import MAX_RUN_NAME, run_name

    base = ["model.dropout=0.123456789", "train.optimizer.weight_decay=0.0001", "augment.preset=heavy"]
    base += ["train.batch_size=128", "train.epochs=50", "model.l2=0.0005"]
    names = [run_name(load_config(None, [*base, f"train.loss.label_smoothing={s}"]), [*base, f"train.loss.label_smoothing={s}"]) for s in (0.1, 0.2)]  # fmt: skip
    for name in names:
        assert len(name) <= MAX_RUN_NAME, name
        # What fits is shown, short; a hash of the full name stands for the rest.
        assert name.startswith("digits mlp [512,256] adam lr=0.002 dropout=0.1235 "), name
        assert re.fullmatch(r".* #[0-9a-f]{5}", name), name
    assert names[0] != names[1]  # they differ only in an override that did not fit


def test_a_folder_runs_name_holds_the_folders_name_not_its_path(tmp_path):
    import numpy as np
    from PIL import Image

    from app.dataset_choice import config_for
    from pipelines.config.loading import load_config
    from pipelines.tracking.run_logging import MAX_RUN_NAME, run_name

    photos = tmp_path / "holiday photos"
    for c, name in enumerate(("beach", "city")):
        (photos / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((80, 80, 3), 90 * c + i, np.uint8)).save(photos / name / f"{i}.jpg")
    config, chosen = config_for("vgg", str(photos), 2)
    overrides = [*chosen, "train.optimizer.learning_rate=0.1"]
    name = run_name(load_config(config, overrides), overrides)
    # Was: "vgg 11 nesterov lr=0.1 path=/.../flowers time_budget_minutes=2 image_size=[64,64] epochs=11".
    # A budget holding several schedules of a few photos: a snapshot ensemble, 'ep=<cycles>x<epochs>'.
    assert re.fullmatch(r"holiday photos vgg11 nesterov lr=0\.1 2min 64px ep=(\d+|\dx60)( bs=32)?", name), name
    assert len(name) <= MAX_RUN_NAME
    assert str(tmp_path) not in name


def test_a_snapshot_ensembles_epochs_read_as_cycles_times_epochs():
    from pipelines.config.loading import load_config
    from pipelines.tracking.run_logging import run_name

    overrides = ["train.optimizer.schedule=cosine", "train.epochs=240", "train.snapshot_cycles=4"]
    name = run_name(load_config(None, overrides), overrides)
    assert " ep=4x60" in name, name
    assert "snapshot_cycles" not in name
