"""The training workflow, five steps: prepare the data, build the model, fit, report and log, export and register."""

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import ExperimentConfig, flatten

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_id: str
    experiment_id: str
    test_accuracy: float
    test_loss: float
    epochs: int
    model_uri: str
    registered: str | None  # "name/version@alias", or "name/version (alias 'x' stays: why)"
    role: str = "chief"  # "worker" for the non-chief processes of a multi-worker run (they log nothing)
    untracked: str | None = None  # why the finished run is not (fully) logged: the server died
    run_dir: str = ""


def run_dir_for(cfg: ExperimentConfig) -> Path:
    """A directory named by the config's hash: the same command finds the same checkpoints."""
    digest = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:10]
    return Path(cfg.output_dir) / f"{cfg.dataset_name()}-{cfg.model.name}-{digest}"


def run_training(cfg: ExperimentConfig, backup: str = "latest") -> TrainResult:
    """Train, report, log, register. `backup`: "latest", "previous" or "restart" (see training.backup)."""
    from models import inference_model
    from models.optimizers import current_learning_rate
    from pipelines.evaluation.report import write_run_report
    from pipelines.inputs.preprocess import with_preprocessing
    from pipelines.tracking import run_logging
    from pipelines.tracking.guard import Tracking
    from pipelines.tracking.metrics_callback import MlflowMetrics
    from pipelines.tracking.store import setup_mlflow
    from pipelines.training import run_state
    from pipelines.training.backup import choose_snapshot, write_snapshot
    from pipelines.training.distributed.strategy import build_placement
    from pipelines.training.fit import FitSetup, train_model
    from pipelines.training.prepare import build_compiled_model, prepare_inputs
    from pipelines.training.seeding import seed_everything

    placement = build_placement(cfg.runtime)  # first: logical devices must be set before TF uses any
    seed_everything(cfg.seed, cfg.runtime.deterministic)
    run_dir = run_dir_for(cfg)
    # A verified backup of an unfinished run: continue, don't start over; a corrupt one raises.
    snapshot = choose_snapshot(run_dir, backup, may_modify=placement.is_chief)
    start_epoch = snapshot.epoch if snapshot else 0

    # 1. data -> tf.data inputs; 2. the model.
    inputs = prepare_inputs(cfg.data, cfg.augment, cfg.train, cfg.seed, placement, start_epoch)
    network, model = build_compiled_model(cfg.model, cfg.train, cfg.data.normalization, cfg.runtime.jit_compile, inputs)
    fit_args = (cfg.train, placement, run_dir, start_epoch, cfg.model.task, cfg.runtime.jit_compile, snapshot)
    setup = FitSetup(*fit_args)
    if not placement.is_chief:
        # Other workers train in lockstep with the chief but write nothing: no MLflow, no files.
        outcome = train_model(model, inputs, setup)
        return TrainResult("", "", float("nan"), float("nan"), outcome.last_epoch, "", None, role="worker")

    run_dir.mkdir(parents=True, exist_ok=True)
    tracking = Tracking(setup_mlflow(cfg.tracking.experiment or cfg.dataset_name()))
    with run_state.tracked_run(tracking, run_dir, start_epoch) as run:
        tracking.set_tags(
            {
                "model_family": cfg.model.name,
                "dataset": cfg.dataset_name(),
                "fingerprint": inputs.splits.fingerprint,
                # dataset-model-confighash: stable across resumes, readable in the UI's run list.
                "mlflow.runName": run_dir.name,
            }
        )
        mlflow = tracking.mlflow
        tracking.call("log inputs", run_logging.log_run_inputs, mlflow, flatten(cfg), cfg.model_dump(mode="json"),
                      inputs, model, placement)  # fmt: skip
        if start_epoch:  # epochs a dead server missed, from history.csv
            tracking.call("log missed epochs", run_logging.log_missed_epochs, mlflow, run.info.run_id,
                          run_dir / "history.csv")  # fmt: skip

        # 3. fit, every epoch logged; then the trained state is kept until it is safely logged.
        metrics_callback = MlflowMetrics(tracking, lambda: current_learning_rate(model.optimizer))
        outcome = train_model(
            model, inputs, setup, extra_callbacks=[metrics_callback], log_metrics=tracking.log_metrics
        )
        model = outcome.model  # multi-worker: the chief's plain copy
        write_snapshot(model, run_dir / "backup", outcome.last_epoch, complete=True)

        # 4. the test report (confusion matrix, curves, ...); 5. the served model: main output only
        # (no auxiliary classifiers), raw pixels in. Both written locally first, then logged.
        test = write_run_report(model, inputs.splits, run_dir, outcome, cfg.train.misclassified_examples)
        served = with_preprocessing(inference_model(network), cfg.data.normalization, inputs.mean, inputs.std)
        run_logging.save_served_model(served, cfg.data, inputs, run_dir)
        example = inputs.splits.test.images[0]
        logged = tracking.call("log the model", _log_outputs, mlflow, cfg, run_dir, outcome, test, example)

    if logged is None or not tracking.online:  # the server died, at the latest while ending the run
        return TrainResult(run.info.run_id, run.info.experiment_id, float(test["test_accuracy"]),
                           float(test["test_loss"]), outcome.last_epoch, "", None, untracked=tracking.lost,
                           run_dir=str(run_dir))  # fmt: skip
    shutil.rmtree(run_dir / "backup", ignore_errors=True)  # the model is logged: the backup has served
    return TrainResult(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        test_accuracy=float(test["test_accuracy"]),
        test_loss=float(test["test_loss"]),
        epochs=outcome.last_epoch,
        model_uri=logged[0],
        registered=logged[1],
        run_dir=str(run_dir),
    )


def _log_outputs(mlflow, cfg: ExperimentConfig, run_dir: Path, outcome, test: dict, example_image):
    """Test metrics, the validation score, reports, the served model, the registry: (model URI, registered)."""
    from pipelines.tracking import run_logging
    from pipelines.tracking.registry import validation_score

    mlflow.log_metrics(test)
    if outcome.epochs_run:  # a process that only uploads a finished run has no timing of its own
        mlflow.log_metrics(
            {"train_seconds": outcome.train_seconds, "train_images_per_second": outcome.images_per_second}
        )
    run_id = mlflow.active_run().info.run_id
    score = validation_score(mlflow.MlflowClient(), run_id, cfg.train.monitor)
    if score:
        mlflow.log_metric(score.metric, score.value)
    mlflow.log_artifacts(str(run_dir / "reports"), "reports")
    info = run_logging.export_served_model(mlflow, run_dir, example_image)
    registered = run_logging.register_served_model(
        mlflow, info.model_uri, cfg.tracking, f"{cfg.dataset_name()}-classifier", score
    )
    return info.model_uri, registered
