"""Kill -9 mid-training, run the same command again: the same MLflow run continues and FINISHES."""

import signal
import subprocess

import pytest

from tests.conftest import ROOT
from tests.helpers import all_runs, client, run_cli, train_command, wait_for_backup

EPOCHS = 10


@pytest.mark.slow
def test_sigkill_then_same_command_resumes_the_same_run(mlflow_store, tmp_path):
    command = train_command(
        f"train.epochs={EPOCHS}", "train.early_stopping_patience=null", f"output_dir={tmp_path / 'out'}"
    )
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_after = wait_for_backup(first, tmp_path / "out", min_epoch=2)
    assert 2 <= killed_after < EPOCHS

    (run_before,) = all_runs(mlflow_store)
    assert run_before.info.status == "RUNNING"  # SIGKILL leaves no chance to end it

    second = run_cli(command)
    assert second.returncode == 0, second.stderr[-3000:]
    assert run_before.info.run_id in second.stdout  # the same run, not a new one

    (run,) = all_runs(mlflow_store)  # the first run finished whole: no snapshot went missing under it
    assert run.info.status == "FINISHED"
    history = client(mlflow_store).get_metric_history(run.info.run_id, "val_accuracy")
    assert {m.step for m in history} == set(range(1, EPOCHS + 1))
    assert int(run.data.tags["resumed_from_epoch"]) >= killed_after
    history = client(mlflow_store).get_metric_history(run.info.run_id, "val_accuracy")
    assert {m.step for m in history} == set(range(1, EPOCHS + 1))  # no epoch lost, none past the end
    # The restarted process trained only the remaining epochs.
    assert f"epoch {int(run.data.tags['resumed_from_epoch']) + 1}/{EPOCHS}: " in second.stderr
    assert "epoch 1/" not in second.stderr
    (run_dir,) = (tmp_path / "out").iterdir()
    assert not (run_dir / "backup").exists()  # a finished run needs no backup


@pytest.mark.slow
def test_sigterm_ends_the_run_killed_with_its_reason_and_the_same_command_resumes_it(mlflow_store, tmp_path):
    command = train_command(
        f"train.epochs={EPOCHS}", "train.early_stopping_patience=null", f"output_dir={tmp_path / 'out'}"
    )
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_backup(first, tmp_path / "out", min_epoch=2, kill=False)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 143, stderr[-2000:]  # 128 + SIGTERM, as a shell reports it
    assert "Traceback" not in stderr

    (run_before,) = all_runs(mlflow_store)
    assert run_before.info.status == "KILLED"  # not left RUNNING with no reason
    assert run_before.data.tags["stop_reason"] == "SIGTERM"

    second = run_cli(command)
    assert second.returncode == 0, second.stderr[-3000:]
    (run,) = all_runs(mlflow_store)
    assert run.info.run_id == run_before.info.run_id
    assert run.info.status == "FINISHED"
    history = client(mlflow_store).get_metric_history(run.info.run_id, "val_accuracy")
    assert {m.step for m in history} == set(range(1, EPOCHS + 1))


@pytest.mark.slow
def test_a_second_command_in_the_same_run_directory_is_refused_and_deletes_nothing(mlflow_store, tmp_path):
    # Many epochs: the first run is still training while the second loads TensorFlow and tries.
    command = train_command("train.epochs=2000", "train.early_stopping_patience=null", f"output_dir={tmp_path}")
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_backup(first, tmp_path, min_epoch=1, kill=False)

    second = run_cli([*command, "--restart"])  # would delete the backup, were the directory free
    assert second.returncode == 1, second.stderr[-2000:]
    lines = second.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ")
    assert f"in use by PID {first.pid}" in lines[-1]
    assert "Traceback" not in second.stderr
    assert first.poll() is None  # the first run trains on, undisturbed
    assert list(tmp_path.glob("*/backup/training_metadata.json"))  # and its backup is still there

    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 143, stderr[-2000:]
    (run,) = all_runs(mlflow_store)  # one run: the second command started none
    assert run.info.status == "KILLED"
    assert list(tmp_path.glob("*/backup/training_metadata.json"))  # resumable by the same command
