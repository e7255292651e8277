"""The capacity lesson: one hidden unit cannot separate circles, ten can; every cell a run with its PNG."""

import pytest

from tests.helpers import all_runs, app_command, client, run_cli


def test_unknown_toy_set_is_one_line(mlflow_store):
    out = run_cli(app_command("capacity-demo", "--datasets", "moons,blobs"))
    assert out.returncode == 1
    assert out.stderr.strip() == "error: unknown toy set 'blobs'; choose from moons, circles, spirals"


@pytest.mark.slow
def test_capacity_grid_logs_each_cell_and_the_grid(mlflow_store):
    out = run_cli(app_command("capacity-demo", "--datasets", "circles", "--units", "1,10", "--epochs", "200"))
    assert out.returncode == 0, out.stderr[-3000:]
    runs = all_runs(mlflow_store)
    cells = {r.data.params["hidden_units"]: r for r in runs if "hidden_units" in r.data.params}
    parent = next(r for r in runs if r.data.tags.get("tune_role") == "parent")
    assert {r.data.tags["mlflow.parentRunId"] for r in cells.values()} == {parent.info.run_id}
    assert cells["1"].data.metrics["val_accuracy"] < 0.75  # one line cannot cut a ring from a disc
    assert cells["10"].data.metrics["val_accuracy"] > 0.9
    for run in cells.values():
        assert [a.path for a in client(mlflow_store).list_artifacts(run.info.run_id)] == ["decision_regions.png"]
    grid = client(mlflow_store).list_artifacts(parent.info.run_id, "plots")
    assert [a.path for a in grid] == ["plots/decision_boundaries.png"]
