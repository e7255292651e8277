"""One trial = one normal training run (same split, callbacks and report as `train`), nested under the study.

The objective is the run's best validation accuracy, the figure champions are picked by. A pruned
trial stops at once, at the end of the epoch the pruner judged: no test report, no exported model
(a pruned trial is never registered, so both would be time spent for nothing). Its MLflow run ends
FINISHED with its epochs' metrics, tagged `trial_state=PRUNED` and `stop_reason`.
"""

import logging
import os
import socket
from dataclasses import dataclass

import keras
import mlflow
import optuna

from pipelines.config import validate
from pipelines.search.space import SearchSpace, suggest, with_values
from pipelines.tracking.registry import best_point
from pipelines.training.resume.run_state import EndedEarly
from pipelines.training.workflow import run_training

log = logging.getLogger(__name__)

OBJECTIVE_METRIC = "val_accuracy"  # maximized: best value over the run's epochs
STATE_TAG = "trial_state"


class PruningCallback(keras.callbacks.Callback):
    """Report validation accuracy per epoch to the Optuna trial; stop training when the pruner says so."""

    def __init__(self, trial, tags: dict, monitor: str = OBJECTIVE_METRIC):
        super().__init__()
        self.trial, self.tags, self.monitor = trial, tags, monitor
        self.pruned_at: int | None = None
        self.run_id: str | None = None

    def on_train_begin(self, logs=None):
        run = mlflow.active_run()
        if run is not None:  # lets a retried or failed trial find its MLflow run, and the UI show it live
            self.run_id = run.info.run_id
            self.trial.set_user_attr("mlflow_run_id", self.run_id)
            mlflow.set_tags({**self.tags, STATE_TAG: "RUNNING"})

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            # Out of fit, the report and the export at once (run_state.tracked_run ends the run FINISHED).
            raise EndedEarly(f"pruned after epoch {epoch + 1}: {self.monitor} {value:.4f} judged by the pruner")


@dataclass
class TrialSetup:
    base: dict  # the resolved config with the space's `fixed` values, registration off
    space: SearchSpace
    study_name: str
    parent_run_id: str


def make_objective(setup: TrialSetup):
    def objective(trial) -> float:
        values = suggest(trial, setup.space)
        cfg = validate(with_values(setup.base, values))
        trial.set_user_attr("pid", os.getpid())  # which worker ran it (several may share the study)
        trial.set_user_attr("host", socket.gethostname())
        pruning = PruningCallback(trial, trial_tags(setup.study_name, trial))
        try:
            result = run_training(cfg, parent_run_id=setup.parent_run_id, extra_callbacks=[pruning])
        except EndedEarly as pruned:
            _tag(mlflow, pruning.run_id, setup, trial, "PRUNED")
            raise optuna.TrialPruned(str(pruned)) from None
        except BaseException as err:  # Ctrl-C included: the run must not look RUNNING
            _tag(mlflow, pruning.run_id, setup, trial, "INTERRUPTED" if isinstance(err, KeyboardInterrupt) else "FAIL")
            raise
        client = mlflow.MlflowClient()
        best = best_point(client, result.run_id, OBJECTIVE_METRIC, higher_is_better=True)
        value = best[0] if best else None
        trial.set_user_attr("mlflow_run_id", result.run_id)
        trial.set_user_attr("model_uri", result.model_uri)  # registered at the end if this trial is best
        trial.set_user_attr("test_accuracy", result.test_accuracy)
        _tag(mlflow, result.run_id, setup, trial, "COMPLETE")
        if value is None:
            raise RuntimeError(f"run {result.run_id} logged no {OBJECTIVE_METRIC}")
        return value

    return objective


def trial_tags(study: str, trial) -> dict:
    """Who the run is in the study, and its point of the space as Optuna names it (`one_of` included)."""
    tags = {"study": study, "trial_number": str(trial.number), "tune_role": "trial"}
    tags["mlflow.runName"] = f"{study}-trial-{trial.number}"
    return {**tags, **{f"space.{k}": str(v) for k, v in trial.params.items()}}


def _tag(mlflow, run_id: str | None, setup: TrialSetup, trial, state: str) -> None:
    if not run_id:
        return
    client = mlflow.MlflowClient()
    for key, value in {**trial_tags(setup.study_name, trial), STATE_TAG: state}.items():
        client.set_tag(run_id, key, value)
