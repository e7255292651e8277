"""`python -m app tune` end to end: nested runs under one parent, pruning, best.yaml, one registration, compare."""

import os
import signal
import subprocess
import time

import pytest
import yaml

from pipelines.config import load_config
from tests.helpers import FAST, ROOT, all_runs, app_command, client, run_cli

TINY = [*FAST, "model.hidden_units=[16]", "train.early_stopping_patience=null", "train.progress=epoch"]


def tune_command(tmp_path, space: dict, *args: str, study: str = "s") -> list[str]:
    path = tmp_path / f"space-{len(list(tmp_path.glob('space-*')))}.yaml"
    path.write_text(yaml.safe_dump(space))
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    return app_command(
        "tune", "--space", str(path), "--storage", storage, "--study", study, *args,
        *TINY, f"output_dir={tmp_path / 'out'}",
    )  # fmt: skip


def load_study(tmp_path, name: str = "s"):
    import optuna

    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}")


@pytest.mark.slow
def test_trials_nest_under_one_parent_bad_one_pruned_best_registered_once(tmp_path, mlflow_store):
    # Grid seed 1 runs 0.01 first; the hopeless 1e-6 then falls below the median after epoch 2: pruned.
    space = {"train.optimizer.learning_rate": {"choice": [0.01, 1e-6]}}
    prune_fast = ["--pruner-startup-trials", "1", "--pruner-warmup-epochs", "1", "--sampler", "grid", "--seed", "1"]
    out = run_cli(tune_command(tmp_path, space, "--trials", "2", *prune_fast, "train.epochs=4"))
    assert out.returncode == 0, out.stderr[-3000:]

    assert [t.state.name for t in load_study(tmp_path).trials] == ["COMPLETE", "PRUNED"]
    runs = all_runs(mlflow_store)
    parents = [r for r in runs if r.data.tags.get("tune_role") == "parent"]
    trials = sorted(
        (r for r in runs if r.data.tags.get("tune_role") == "trial"), key=lambda r: r.data.tags["trial_number"]
    )
    assert len(parents) == 1
    assert len(trials) == 2
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parents[0].info.run_id}
    assert [r.info.status for r in trials] == ["FINISHED", "FINISHED"]  # pruned is not FAILED
    assert [r.data.tags["trial_state"] for r in trials] == ["COMPLETE", "PRUNED"]
    epochs = [len(client(mlflow_store).get_metric_history(r.info.run_id, "val_accuracy")) for r in trials]
    assert epochs[0] == 4
    assert epochs[1] < 4
    # The pruned trial stopped at once: its epochs' metrics and the reason kept, no test report, no model.
    assert trials[1].data.tags["stop_reason"].startswith(f"pruned after epoch {epochs[1]}: val_accuracy")
    assert "test_accuracy" in trials[0].data.metrics
    assert "test_accuracy" not in trials[1].data.metrics
    logged = [{a.path for a in client(mlflow_store).list_artifacts(r.info.run_id)} for r in trials]
    assert "reports" in logged[0]
    assert "reports" not in logged[1]
    assert trials[0].outputs.model_outputs  # the served model, logged (MLflow 3: a LoggedModel of the run)
    assert not trials[1].outputs.model_outputs

    parent = parents[0]
    assert parent.data.metrics["best_val_accuracy"] == trials[0].data.metrics["best_val_accuracy"]
    assert parent.data.tags["best.train.optimizer.learning_rate"] == "0.01"
    plots = {a.path for a in client(mlflow_store).list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/optimization_history.png", "plots/parallel_coordinate.png", "plots/trials.png"} <= plots
    best = load_config(tmp_path / "out" / "tune" / "s" / "best.yaml")
    assert best.train.optimizer.learning_rate == 0.01
    assert best.tracking.register_model
    versions = client(mlflow_store).search_model_versions("name = 'digits-classifier'")
    assert [v.run_id for v in versions] == [trials[0].info.run_id]  # only the best, and only once

    shown = run_cli(app_command("compare", "--study", "s"))
    assert shown.returncode == 0, shown.stderr[-2000:]
    rows = [line.split() for line in shown.stdout.splitlines()[2:]]
    assert [(row[0], row[1]) for row in rows] == [("0", "COMPLETE"), ("1", "PRUNED")]


def start(command: list[str], log_path) -> subprocess.Popen:
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(command, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(condition, process: subprocess.Popen, log_path, timeout: float = 600) -> None:
    """Poll `condition` once the worker has made both stores (opening them earlier would race their creation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tune exited early:\n{log_path.read_text()[-3000:]}")
        if "parent MLflow run" in log_path.read_text(errors="replace") and condition():
            return
        time.sleep(1)
    raise AssertionError(f"timed out waiting:\n{log_path.read_text()[-3000:]}")


@pytest.mark.slow
def test_tune_killed_with_sigkill_continues_the_study_and_retries_the_killed_trial(tmp_path, mlflow_store):
    space = {"train.optimizer.learning_rate": {"log_float": [1e-3, 1e-2]}}
    command = tune_command(tmp_path, space, "--trials", "2", "--heartbeat", "1", "--pruner", "none", "train.epochs=15")
    log_path = tmp_path / "first.log"
    first = start(command, log_path)
    try:  # kill during trial 1, once it has trained an epoch: trial 0 is finished by then
        wait_for(lambda: len(load_study(tmp_path).trials) > 1 and load_study(tmp_path).trials[1].intermediate_values,
                 first, log_path)  # fmt: skip
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    time.sleep(3)  # the killed trial's heartbeat is now older than its grace period (2 x 1 s)

    second = run_cli(command, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    trials = load_study(tmp_path).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert trials[2].system_attrs["failed_trial"] == 1  # the killed trial, retried with its own parameters
    assert trials[2].params == trials[1].params
    assert trials[0].user_attrs["pid"] == first.pid  # finished before the kill: kept, not run again
    runs = all_runs(mlflow_store)
    assert len([r for r in runs if r.data.tags.get("tune_role") == "parent"]) == 1
    trial_runs = [r for r in runs if r.data.tags.get("tune_role") == "trial"]
    assert {r.info.status for r in trial_runs} <= {"FINISHED", "KILLED"}  # the killed one is not left RUNNING
    assert trials[2].user_attrs["mlflow_run_id"] in {r.info.run_id for r in trial_runs if r.info.status == "FINISHED"}

    changed = run_cli(tune_command(tmp_path, {"model.dropout": {"float": [0.0, 0.5]}}, "--trials", "3"))
    assert changed.returncode == 1
    assert changed.stderr.strip().splitlines()[-1] == (
        "error: study 's' was started with another search space (train.optimizer.learning_rate); "
        "pass a new --study name to search this one"
    )


@pytest.mark.slow
def test_two_workers_on_one_storage_share_the_trials(tmp_path, mlflow_store):
    command = tune_command(tmp_path, {"model.dropout": {"float": [0.0, 0.5]}}, "--trials", "4", "train.epochs=2")
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    workers = [start(command, logs[0])]
    try:  # the second joins once the first has made the stores (two processes creating one SQLite schema collide)
        wait_for(lambda: True, workers[0], logs[0])
        workers.append(start(command, logs[1]))
        for worker, log_path in zip(workers, logs, strict=True):
            assert worker.wait(timeout=900) == 0, log_path.read_text()[-3000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)

    done = [t for t in load_study(tmp_path).trials if t.state.name == "COMPLETE"]
    assert len(done) >= 4  # two workers may each start the last trial at once: 4 or 5
    assert {t.user_attrs["pid"] for t in done} == {w.pid for w in workers}  # both contributed
    run_ids = [t.user_attrs["mlflow_run_id"] for t in done]
    assert len(set(run_ids)) == len(done)  # no trial ran twice
    trial_runs = [r for r in all_runs(mlflow_store) if r.data.tags.get("tune_role") == "trial"]
    assert sorted(int(r.data.tags["trial_number"]) for r in trial_runs) == sorted(t.number for t in done)


@pytest.mark.slow
def test_ctrl_c_requeues_the_trial_and_the_restart_resumes_its_run(tmp_path, mlflow_store):
    command = tune_command(tmp_path, {"model.dropout": {"float": [0.0, 0.5]}}, "--trials", "2", "train.epochs=30")
    log_path = tmp_path / "first.log"
    first = start(command, log_path)
    try:
        wait_for(lambda: any(len(t.intermediate_values) >= 2 for t in load_study(tmp_path).trials), first, log_path)
    finally:
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=300) == 130
    trials = load_study(tmp_path).trials
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]  # queued again at once, same parameters
    interrupted = client(mlflow_store).get_run(trials[0].user_attrs["mlflow_run_id"])
    assert (interrupted.info.status, interrupted.data.tags["trial_state"]) == ("KILLED", "INTERRUPTED")

    second = run_cli(command, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    trials = load_study(tmp_path).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].params == trials[0].params
    resumed = client(mlflow_store).get_run(trials[1].user_attrs["mlflow_run_id"])
    assert resumed.info.run_id == interrupted.info.run_id  # the same run dir: training went on from its backup
    assert resumed.info.status == "FINISHED"
    assert int(resumed.data.tags["resumed_from_epoch"]) >= 1
