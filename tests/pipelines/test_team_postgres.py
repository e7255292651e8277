"""A team's setup, for real: PostgreSQL (initdb in a temp folder, a free port), `mlflow server` on it,
tune workers and a multi-worker training as separate processes with their own folders ("machines")."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from app import postgres
from tests.helpers import FAST, PYTHON, ROOT, app_command, env_for, free_port, free_ports, running, train_command

pytestmark = pytest.mark.slow
TINY = [*FAST, "model.hidden_units=[16]", "train.early_stopping_patience=null", "train.progress=epoch"]


@pytest.fixture(scope="module")
def team():
    """(MLflow server URL, Optuna storage URI): a PostgreSQL cluster and an MLflow server on its `mlflow` database."""
    try:
        postgres.binaries()
    except RuntimeError as err:
        pytest.fail(f"{err} (make test installs it)")
    # Not under pytest's 0700 temp root: the server runs as the `postgres` user, which must reach its folder.
    folder = Path(tempfile.mkdtemp(prefix="team-pg-"))
    os.chmod(folder, 0o755)
    try:
        uris = postgres.start(folder / "cluster", free_port())
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            str(Path(PYTHON).with_name("mlflow")), "server", "--backend-store-uri", uris["mlflow"],
            "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1",
        ]  # fmt: skip
        with running(command, f"{url}/health", folder / "mlflow-server.log", env_for(url), timeout=240, ours=False):
            yield url, uris["optuna"]
    finally:
        postgres.stop(folder / "cluster")
        shutil.rmtree(folder, ignore_errors=True)


def machine(tmp_path, name: str) -> Path:
    """A worker's own working folder: nothing shared with the others but the two servers."""
    path = tmp_path / name
    path.mkdir()
    return path


def tune_worker(folder: Path, space: Path, storage: str, study: str, *args: str) -> list[str]:
    return app_command(
        "tune", "--space", str(space), "--storage", storage, "--study", study, *args, *TINY,
        f"output_dir={folder / 'out'}", f"tracking.experiment={study}",
    )  # fmt: skip


def start(command: list[str], cwd: Path, env: dict, log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log_file:
        return subprocess.Popen(
            command, cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)}, stdout=log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def study_of(storage: str, name: str):
    import optuna

    return optuna.load_study(study_name=name, storage=storage)


def runs_of(url: str, experiment: str):
    from mlflow import MlflowClient

    client = MlflowClient(url)
    found = client.get_experiment_by_name(experiment)
    return client, client.search_runs([found.experiment_id]) if found else []


def test_two_tune_workers_share_one_study_and_one_mlflow_server(team, tmp_path):
    url, storage = team
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"model.dropout": {"float": [0.0, 0.5]}}))
    env = env_for(url)
    workers, logs = [], []
    for name in ("laptop", "desktop"):
        folder = machine(tmp_path, name)
        logs.append(folder / "tune.log")
        command = tune_worker(
            folder, space, storage, "team-tune", "--trials", "4", "--pruner", "none", "train.epochs=2"
        )
        workers.append(start(command, folder, env, logs[-1]))
    try:
        for worker, log_path in zip(workers, logs, strict=True):
            assert worker.wait(timeout=900) == 0, log_path.read_text()[-3000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)

    done = [t for t in study_of(storage, "team-tune").trials if t.state.name == "COMPLETE"]
    assert len(done) >= 4
    assert {t.user_attrs["pid"] for t in done} == {w.pid for w in workers}  # both machines worked
    client, runs = runs_of(url, "team-tune")
    parents = [r for r in runs if r.data.tags.get("tune_role") == "parent"]
    trials = [r for r in runs if r.data.tags.get("tune_role") == "trial"]
    assert len(parents) == 1
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parents[0].info.run_id}
    assert sorted(int(r.data.tags["trial_number"]) for r in trials) == sorted(t.number for t in done)  # none twice
    versions = client.search_model_versions("name = 'digits-classifier'")
    assert len(versions) == 1  # the best, registered once though both workers finished the study
    assert client.get_run(parents[0].info.run_id).data.tags["registered_run_id"] == versions[0].run_id


def test_a_killed_workers_trial_is_retried_by_another_worker(team, tmp_path):
    url, storage = team
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({"train.optimizer.learning_rate": {"log_float": [1e-3, 1e-2]}}))
    env = env_for(url)
    args = ("--trials", "2", "--heartbeat", "1", "--pruner", "none", "train.epochs=12")
    first_folder = machine(tmp_path, "killed")
    first = start(
        tune_worker(first_folder, space, storage, "team-kill", *args), first_folder, env, first_folder / "tune.log"
    )
    try:  # kill it once its first trial has trained an epoch
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            assert first.poll() is None, (first_folder / "tune.log").read_text()[-3000:]
            try:
                trials = study_of(storage, "team-kill").trials
            except KeyError:  # not created yet
                trials = []
            if trials and trials[0].intermediate_values:
                break
            time.sleep(1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    time.sleep(3)  # its heartbeat is now older than the grace period (2 x 1 s)

    second_folder = machine(tmp_path, "other")
    second = subprocess.run(
        tune_worker(second_folder, space, storage, "team-kill", *args), cwd=second_folder,
        env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-3000:]
    trials = study_of(storage, "team-kill").trials
    assert trials[0].state.name == "FAIL"
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == 0]
    assert len(retried) == 1
    assert retried[0].state.name == "COMPLETE"
    assert retried[0].params == trials[0].params
    assert retried[0].user_attrs["pid"] != first.pid  # run by the other worker


def test_a_multi_worker_training_logs_one_run_from_the_chief(team, tmp_path):
    url, _ = team
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    experiment = "team-multiworker"
    workers, folders = [], []
    for index in range(2):
        folder = machine(tmp_path, f"worker{index}")
        folders.append(folder)
        command = train_command(
            "train.epochs=2", "train.batch_size=32", "tracking.register_model=false",
            f"tracking.experiment={experiment}", f"output_dir={folder / 'out'}",
        )  # fmt: skip
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(start(command, folder, env_for(url, TF_CONFIG=tf_config), folder / "train.log"))
    try:
        for worker, folder in zip(workers, folders, strict=True):
            assert worker.wait(timeout=600) == 0, (folder / "train.log").read_text()[-3000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)

    _, runs = runs_of(url, experiment)
    assert len(runs) == 1  # one run for the training, the chief's
    (run,) = runs
    assert run.info.status == "FINISHED"
    assert run.data.params["strategy"] == "multi_worker"
    assert run.data.params["num_workers"] == "2"
    assert run.info.run_id in (folders[0] / "train.log").read_text()
    assert run.info.run_id not in (folders[1] / "train.log").read_text()
    assert not (folders[1] / "out").exists()  # the other worker wrote nothing of its own
