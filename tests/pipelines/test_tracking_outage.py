"""The tracking server dies mid-run: training finishes locally, the same command later completes the run."""

import json
import os
import signal
import subprocess
from urllib.parse import urlparse

import pytest

from tests.conftest import ROOT
from tests.helpers import (
    all_runs,
    client,
    env_for,
    mlflow_server,
    mlflow_server_process,
    run_cli,
    train_command,
    wait_for_backup,
)

EPOCHS = 12


@pytest.mark.slow
def test_server_killed_mid_run_then_same_command_logs_the_finished_run(tmp_path):
    out, store = tmp_path / "out", tmp_path / "server"
    store.mkdir()
    command = train_command(f"train.epochs={EPOCHS}", "train.early_stopping_patience=null", f"output_dir={out}")
    with mlflow_server_process(store) as (url, server), open(tmp_path / "train.log", "w+") as log:
        training = subprocess.Popen(command, cwd=ROOT, env=env_for(url), stdout=log, stderr=subprocess.STDOUT)
        wait_for_backup(training, out, min_epoch=2, kill=False)
        os.killpg(server.pid, signal.SIGKILL)  # the server dies, no goodbye
        assert training.wait(timeout=600) == 75
        log.seek(0)
        first = log.read()
    assert "Traceback" not in first
    (line,) = [x for x in first.splitlines() if x.startswith("not logged:")]
    assert "logs them to run" in line
    assert "--restart" not in line
    (run_dir,) = out.iterdir()
    assert (run_dir / "model.keras").is_file()
    assert (run_dir / "reports" / "metrics.json").is_file()
    assert json.loads((run_dir / "backup" / "training_metadata.json").read_text())["complete"]

    port = urlparse(url).port
    with mlflow_server(store, port=port) as url:  # the same server, back on the same store and URL
        second = run_cli(command, env=env_for(url))
        assert second.returncode == 0, second.stderr[-3000:]
        (run,) = all_runs(url)
        assert run.info.status == "FINISHED"
        assert run.info.run_id in line
        assert run.info.run_id in second.stdout
        history = client(url).get_metric_history(run.info.run_id, "val_accuracy")
        assert {m.step for m in history} == set(range(1, EPOCHS + 1))  # the epochs the server missed, uploaded
        assert "test_accuracy" in run.data.metrics
        models = client(url).search_logged_models([run.info.experiment_id])
        assert [m.source_run_id for m in models] == [run.info.run_id]
    assert "epoch 1/" not in second.stderr  # nothing trained again
    assert not (run_dir / "backup").exists()  # logged: the backup has served


def test_the_guard_switches_tracking_off_only_when_the_server_is_gone(mlflow_store, monkeypatch):
    from app.processes import free_port
    from pipelines.tracking.guard import Tracking
    from tests.helpers import using_store

    with using_store(mlflow_store) as mlflow:
        guard = Tracking(mlflow)
        with pytest.raises(Exception, match="not found"):  # a real error of a working store is raised
            guard.log_metrics({"loss": 1.0}, run_id="0" * 32)
        assert guard.online
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with using_store(f"http://127.0.0.1:{free_port()}") as mlflow:
        guard = Tracking(mlflow)
        assert guard.log_metrics({"loss": 1.0}, run_id="0" * 32) is None  # the server is gone: skipped
        assert "log_metrics" in guard.lost
        assert guard.call("anything", lambda: 1 / 0) is None  # and from now on nothing is tried
