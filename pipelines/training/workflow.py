"""The training workflow, five steps: prepare the data, build the model, fit, report and log, export and register."""

import hashlib
import logging
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
    test_note: str = ""  # what the test split is, when not a test/ folder (data.sources)
    final_val_accuracy: float | None = None  # the report's figure when there is no test split


def run_dir_for(cfg: ExperimentConfig) -> Path:
    """A directory named by the config's hash: the same command finds the same checkpoints."""
    digest = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:10]
    return Path(cfg.output_dir) / f"{cfg.dataset_name()}-{cfg.model.name}-{digest}"


def run_training(cfg: ExperimentConfig) -> TrainResult:
    from models import inference_model
    from models.optimizers import current_learning_rate
    from models.tta import with_tta
    from pipelines.evaluation.report import write_run_report
    from pipelines.inputs.preprocess import with_preprocessing
    from pipelines.tracking import run_logging
    from pipelines.tracking.metrics_callback import MlflowMetrics
    from pipelines.tracking.registry import validation_score
    from pipelines.tracking.store import setup_mlflow
    from pipelines.training import run_state
    from pipelines.training.distributed.strategy import build_placement
    from pipelines.training.fit import FitSetup, train_model
    from pipelines.training.prepare import build_compiled_model, prepare_inputs
    from pipelines.training.seeding import seed_everything

    placement = build_placement(cfg.runtime)  # first: logical devices must be set before TF uses any
    seed_everything(cfg.seed, cfg.runtime.deterministic)
    run_dir = run_dir_for(cfg)
    start_epoch = run_state.resume_epoch(run_dir)  # > 0 after a kill: continue, don't start over

    # 1. data -> tf.data inputs; 2. the model.
    inputs = prepare_inputs(cfg.data, cfg.augment, cfg.train, cfg.seed, placement, start_epoch)
    network, model = build_compiled_model(cfg.model, cfg.train, cfg.data.normalization, cfg.runtime.jit_compile, inputs)
    setup = FitSetup(cfg.train, placement, run_dir, start_epoch, cfg.model.task, cfg.runtime.jit_compile)
    if not placement.is_chief:
        # Other workers train in lockstep with the chief but write nothing: no MLflow, no files.
        outcome = train_model(model, inputs, setup)
        return TrainResult("", "", float("nan"), float("nan"), outcome.last_epoch, "", None, role="worker")

    run_dir.mkdir(parents=True, exist_ok=True)
    mlflow = setup_mlflow(cfg.tracking.experiment or cfg.dataset_name())
    with run_state.tracked_run(mlflow, run_dir, start_epoch) as run:
        mlflow.set_tags(
            {
                "model_family": cfg.model.name,
                "dataset": cfg.dataset_name(),
                "fingerprint": inputs.splits.fingerprint,
                # dataset-model-confighash: stable across resumes, readable in the UI's run list.
                "mlflow.runName": run_dir.name,
            }
        )
        run_logging.log_run_inputs(mlflow, flatten(cfg), cfg.model_dump(mode="json"), inputs, model, placement)

        # 3. fit, every epoch logged.
        metrics_callback = MlflowMetrics(mlflow, lambda: current_learning_rate(model.optimizer))
        outcome = train_model(model, inputs, setup, extra_callbacks=[metrics_callback], log_metrics=mlflow.log_metrics)
        model = outcome.model  # multi-worker: the chief's plain copy

        # 4. the test report (confusion matrix, curves, ...) and the validation score champions are chosen by.
        test = write_run_report(
            model, inputs.splits, run_dir, outcome, cfg.train.misclassified_examples, tta=cfg.evaluate.tta
        )
        mlflow.log_metrics(test)
        mlflow.log_metrics(
            {"train_seconds": outcome.train_seconds, "train_images_per_second": outcome.images_per_second}
        )
        score = validation_score(mlflow.MlflowClient(), run.info.run_id, cfg.train.monitor)
        if score:
            mlflow.log_metric(score.metric, score.value)
        mlflow.log_artifacts(str(run_dir / "reports"), "reports")

        # 5. the served model: main output only (no auxiliary classifiers), raw pixels in; then the registry.
        # With evaluate.tta the averaging is part of the saved file: the served answer is what the report measured.
        served = with_tta(
            with_preprocessing(inference_model(network), cfg.data.normalization, inputs.mean, inputs.std),
            cfg.evaluate.tta,
        )
        info = run_logging.export_served_model(mlflow, served, cfg.data, inputs, run_dir, tta=cfg.evaluate.tta)
        registered = run_logging.register_served_model(
            mlflow, info.model_uri, cfg.tracking, f"{cfg.dataset_name()}-classifier", score
        )

    return TrainResult(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        test_accuracy=float(test.get("test_accuracy", float("nan"))),
        test_loss=float(test.get("test_loss", float("nan"))),
        test_note=inputs.splits.test_note,
        final_val_accuracy=test.get("final_val_accuracy"),
        epochs=outcome.last_epoch,
        model_uri=info.model_uri,
        registered=registered,
    )
