"""`python -m app tune` end to end: nested runs under one parent, pruning, best.yaml, one registration, compare."""

import pytest
import yaml

from pipelines.config import load_config
from tests.helpers import FAST, all_runs, app_command, client, run_cli

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
