"""One seed controls everything: two runs with the same seed on the CPU give identical metrics."""

import pytest

from pipelines.config import load_config
from tests.helpers import FAST


def _train(tmp_path, name: str, seed: int):
    from pipelines.training.workflow import run_dir_for, run_training

    cfg = load_config(
        None,
        [
            *FAST,
            "augment.preset=light",
            "train.epochs=2",
            f"seed={seed}",
            "tracking.register_model=false",
            f"output_dir={tmp_path / name}",
        ],
    )
    result = run_training(cfg)
    return result, (run_dir_for(cfg) / "history.csv").read_text()


@pytest.mark.slow
def test_same_seed_same_metrics_different_seed_different_metrics(mlflow_store, tmp_path):
    first, first_history = _train(tmp_path, "a", seed=7)
    second, second_history = _train(tmp_path, "b", seed=7)
    assert first_history == second_history  # every epoch's loss and accuracy, to the last digit
    assert first.test_accuracy == second.test_accuracy
    assert first.test_loss == second.test_loss
    _third, third_history = _train(tmp_path, "c", seed=8)
    assert third_history != first_history
