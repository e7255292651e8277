"""compare, promote and the champion alias policy on runs trained here by the real `python -m app train`."""

import pytest
from PIL import Image

from tests.helpers import app_command, client, run_cli, run_id_of, train_command, using_store

NAME = "digits-classifier"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two real runs in one store: a decent MLP (registered first: champion) and a weak one."""
    workdir = tmp_path_factory.mktemp("compare-promote")
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}", "MLFLOW_EXPERIMENT_NAME": ""}

    def train(*overrides: str) -> tuple[str, str]:
        out = run_cli(train_command(f"output_dir={workdir / 'out'}", *overrides), env=env, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
        return run_id_of(out.stdout), out.stdout

    good, _ = train("train.epochs=3")
    weak, weak_output = train("train.epochs=1", "model.hidden_units=[2]", "train.optimizer.learning_rate=0.0001")
    return {"uri": env["MLFLOW_TRACKING_URI"], "env": env, "good": good, "weak": weak, "weak_output": weak_output}


def champion_run(uri: str) -> str:
    return client(uri).get_model_version_by_alias(NAME, "champion").run_id


@pytest.mark.slow
def test_training_registers_every_version_but_moves_the_alias_only_to_a_better_one(trained):
    uri = trained["uri"]
    versions = client(uri).search_model_versions(f"name = '{NAME}'")
    assert sorted(v.run_id for v in versions) == sorted([trained["good"], trained["weak"]])
    assert "(alias 'champion' stays: version 1 is better on best_val_accuracy" in trained["weak_output"]
    assert champion_run(uri) == trained["good"]
    metrics = {run: client(uri).get_run(trained[run]).data.metrics for run in ("good", "weak")}
    assert metrics["good"]["best_val_accuracy"] > metrics["weak"]["best_val_accuracy"]


@pytest.mark.slow
def test_compare_sorts_runs_and_logs_the_plot_when_asked(trained):
    from pipelines.tracking.compare import compare_runs

    with using_store(trained["uri"]) as mlflow:
        table = compare_runs(mlflow, "digits", "val_accuracy")
        assert table["run_id"].tolist() == [trained["good"], trained["weak"]]
        # The best epoch's value and epoch (what the champion uses), not the last epoch's.
        good = client(trained["uri"]).get_run(trained["good"]).data.metrics
        assert table.at[0, "best_val_accuracy"] == pytest.approx(good["best_val_accuracy"])
        assert table.at[0, "best_epoch"] == good["best_epoch"]
        assert table["architecture"].tolist() == [
            "hidden_units=[64] input_dropout=0.0",
            "hidden_units=[2] input_dropout=0.0",
        ]
        assert table.at[1, "run_name"].startswith("digits mlp [2] adam lr=0.0001")  # what sets it apart
        with pytest.raises(ValueError, match="not one of"):
            compare_runs(mlflow, "digits", "accuracy_typo")
        # Both runs share the default split: one table, ranked 1 and 2, no split headers.
        assert table["split"].nunique() == 1
        assert table["rank"].tolist() == [1, 2]
        out = run_cli(app_command("compare", "--sort-by", "train_seconds"), env=trained["env"], timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "2 run(s), best train_seconds first" in out.stdout
        assert "split " not in out.stdout
        assert max(len(line) for line in out.stdout.splitlines()) <= 120
        # Lower is better for time: the faster run comes first (usually the 1-epoch one, but a
        # loaded machine can make its first, tracing epoch the slower run: read what was logged).
        seconds = {
            run: client(trained["uri"]).get_run(trained[run]).data.metrics["train_seconds"] for run in ("good", "weak")
        }
        fast, slow = sorted(("good", "weak"), key=seconds.get)
        assert out.stdout.index(trained[fast][:8]) < out.stdout.index(trained[slow][:8])
        comparisons = "tags.`imgclf.kind` = 'comparison'"
        assert not mlflow.search_runs(experiment_names=["digits"], filter_string=comparisons, output_format="list")
        out = run_cli(app_command("compare", "--log"), env=trained["env"], timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        comparison = mlflow.search_runs(
            experiment_names=["digits"], filter_string="tags.`imgclf.kind` = 'comparison'", output_format="list"
        )
        assert len(comparison) == 1
        png = mlflow.artifacts.download_artifacts(f"runs:/{comparison[0].info.run_id}/comparison/comparison.png")
        assert Image.open(png).size[0] >= 1200  # wide enough for run names beside the bars
        assert len(compare_runs(mlflow, "digits")) == 2  # the comparison run is not a training run


@pytest.mark.slow
def test_promote_moves_the_alias_and_never_to_a_broken_version(trained):
    from pipelines.tracking.promote import promote
    from pipelines.tracking.registry import register

    uri, env = trained["uri"], trained["env"]
    out = run_cli(app_command("promote", "--name", NAME, "--run-id", trained["weak"]), env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert champion_run(uri) == trained["weak"]

    with using_store(uri) as mlflow:
        # A run scoring higher but with no model is passed over; the best run with a model wins.
        with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name("digits").experiment_id) as bare:
            mlflow.log_metric("val_accuracy", 0.999)
        best = promote(mlflow, NAME, experiment="digits")
        assert best.run_id == trained["good"]
        assert champion_run(uri) == trained["good"]
        assert len(client(uri).search_model_versions(f"name = '{NAME}'")) == 2  # reused, not re-registered

        with pytest.raises(ValueError, match="no logged model"):
            promote(mlflow, NAME, run_id=bare.info.run_id)
        with pytest.raises(ValueError, match="not found"):
            promote(mlflow, NAME, run_id="0" * 32)
        with pytest.raises(RuntimeError, match="left unchanged"):
            register(mlflow, f"runs:/{bare.info.run_id}/model", NAME, "champion")
        assert champion_run(uri) == trained["good"]

        # The champion really serves: it loads and predicts.
        loaded = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
        assert loaded.predict(loaded.input_example)["label"][0] in [str(d) for d in range(10)]


@pytest.mark.slow
def test_the_alias_policy_compares_in_the_metric_direction(trained):
    from pipelines.tracking.registry import Score, register

    uri = trained["uri"]
    (good_version,) = client(uri).search_model_versions(f"name = '{NAME}' and run_id = '{trained['good']}'")
    client(uri).set_registered_model_alias(NAME, "champion", good_version.version)
    good_seconds = client(uri).get_run(trained["good"]).data.metrics["train_seconds"]
    with using_store(uri) as mlflow:
        model_uri = f"runs:/{trained['weak']}/model"
        # Lower is better for time: a slower candidate does not take the alias from the holder.
        _, stays = register(mlflow, model_uri, NAME, "champion", Score("train_seconds", good_seconds + 100, False))
        assert stays.startswith("version")
        _, stays = register(mlflow, model_uri, NAME, "champion", Score("train_seconds", good_seconds / 2, False))
        assert stays is None
        assert champion_run(uri) == trained["weak"]
