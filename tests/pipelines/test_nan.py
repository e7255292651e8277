"""An absurd learning rate: the run stops with one line, ends FAILED with the reason, registers nothing."""

import sys

import pytest

from tests.helpers import all_runs, client, run_cli

ABSURD = [
    "train.optimizer.name=sgd",
    "train.optimizer.learning_rate=10",
    "train.optimizer.schedule=constant",
    "train.optimizer.warmup_epochs=0",
    "model.batch_norm=false",
    "model.dropout=0",
    "train.loss.label_smoothing=0",
    "train.epochs=3",
]


@pytest.mark.slow
def test_nan_loss_fails_the_run_with_reason_and_registers_nothing(mlflow_store, tmp_path):
    # The default (wide) MLP: at this rate its weights overflow within the first epoch.
    out = run_cli([sys.executable, "-m", "app", "train", *ABSURD, f"output_dir={tmp_path / 'out'}"])
    assert out.returncode == 1, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: loss became nan") or last.startswith("error: loss became inf"), last
    assert "Traceback" not in out.stderr

    runs = all_runs(mlflow_store)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_type"] == "NonFiniteLossError"
    assert "lower the learning rate" in run.data.tags["failure_reason"]
    assert client(mlflow_store).search_registered_models() == []
    # The run directory (and any backup in it) stays for inspection.
    (run_dir,) = (tmp_path / "out").iterdir()
    assert (run_dir / "mlflow_run.json").is_file()
