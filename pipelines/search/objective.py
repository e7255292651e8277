"""One trial = one normal training run (same split, callbacks and report as `train`), nested under the study.

The objective is the run's best validation accuracy, the figure champions are picked by. A pruned
trial stops training early but still ends as a FINISHED MLflow run, tagged `trial_state=PRUNED`.
"""

import logging
import os
import socket
from dataclasses import dataclass

import keras

from pipelines.config import validate
from pipelines.search.space import SearchSpace, suggest, with_values

log = logging.getLogger(__name__)

OBJECTIVE_METRIC = "val_accuracy"  # maximized: best value over the run's epochs
STATE_TAG = "trial_state"


class PruningCallback(keras.callbacks.Callback):
    """Report validation accuracy per epoch to the Optuna trial; stop training when the pruner says so."""

    def __init__(self, trial, monitor: str = OBJECTIVE_METRIC):
        super().__init__()
        self.trial, self.monitor = trial, monitor
        self.pruned_at: int | None = None
        self.run_id: str | None = None

    def on_train_begin(self, logs=None):
        import mlflow

        run = mlflow.active_run()
        if run is not None:  # lets a retried or failed trial find its MLflow run
            self.run_id = run.info.run_id
            self.trial.set_user_attr("mlflow_run_id", self.run_id)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True
            log.info("trial %d pruned after epoch %d (%s %.4f)", self.trial.number, epoch + 1, self.monitor, value)


@dataclass
class TrialSetup:
    base: dict  # the resolved config with the space's `fixed` values, registration off
    space: SearchSpace
    study_name: str
    parent_run_id: str


def make_objective(setup: TrialSetup):
    def objective(trial) -> float:
        import mlflow
        import optuna

        from pipelines.tracking.registry import best_of_run
        from pipelines.training.workflow import run_training

        values = suggest(trial, setup.space)
        cfg = validate(with_values(setup.base, values))
        trial.set_user_attr("pid", os.getpid())  # which worker ran it (several may share the study)
        trial.set_user_attr("host", socket.gethostname())
        pruning = PruningCallback(trial)
        try:
            result = run_training(cfg, setup.parent_run_id, [pruning])
        except Exception:
            _tag(mlflow, pruning.run_id, setup, trial.number, "FAIL")
            raise
        client = mlflow.MlflowClient()
        value = best_of_run(client, result.run_id, OBJECTIVE_METRIC, higher_is_better=True)
        trial.set_user_attr("mlflow_run_id", result.run_id)
        trial.set_user_attr("model_uri", result.model_uri)  # registered at the end if this trial is best
        trial.set_user_attr("test_accuracy", result.test_accuracy)
        state = "PRUNED" if pruning.pruned_at else "COMPLETE"
        _tag(mlflow, result.run_id, setup, trial.number, state)
        if value is None:
            raise RuntimeError(f"run {result.run_id} logged no {OBJECTIVE_METRIC}")
        if pruning.pruned_at:
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at}")
        return value

    return objective


def _tag(mlflow, run_id: str | None, setup: TrialSetup, number: int, state: str) -> None:
    if not run_id:
        return
    client = mlflow.MlflowClient()
    tags = {"study": setup.study_name, "trial_number": str(number), STATE_TAG: state, "tune_role": "trial"}
    tags["mlflow.runName"] = f"{setup.study_name}-trial-{number}"
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
