"""The training workflow, five steps: prepare the data, build the model, fit, report and log, export and register."""

import hashlib
import logging
import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import ExperimentConfig, flatten

log = logging.getLogger(__name__)
STAGE = {"stage": True}  # a line the default terminal output shows (app/output.py)


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
    best: object = None  # registry.Score: best validation value of train.monitor and its epoch
    train_seconds: float = 0.0
    run_name: str = ""
    untracked: str | None = None  # why the finished run is not (fully) logged: the server died
    run_dir: str = ""


def run_dir_for(cfg: ExperimentConfig) -> Path:
    """A directory named by the config's hash: the same command finds the same checkpoints."""
    digest = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:10]
    return Path(cfg.output_dir) / f"{cfg.dataset_name()}-{cfg.model.name}-{digest}"


def run_training(
    cfg: ExperimentConfig, overrides=(), backup: str = "latest", parent_run_id: str | None = None, extra_callbacks=()
) -> TrainResult:
    """Train, report, log and register one experiment.

    `overrides` (the command line's) name the run; `backup`: "latest", "previous" or "restart"
    (see training/resume/backup.py). A search passes its study's `parent_run_id` and a pruning callback.
    """
    from pipelines.inputs.augment_pool import close_open_pools
    from pipelines.training.distributed.strategy import build_placement
    from pipelines.training.resume.run_lock import run_directory_lock

    placement = build_placement(cfg.runtime)  # first: logical devices must be set before TF uses any
    run_dir = run_dir_for(cfg)
    # One command at a time in a run directory (the other workers of a multi-worker run write nothing there).
    try:
        with run_directory_lock(run_dir) if placement.is_chief else nullcontext():
            return _train(cfg, overrides, backup, parent_run_id, extra_callbacks, placement, run_dir)
    finally:
        # tf.data keeps its numpy_function (and so the pool) alive past the run: a search runs
        # many trials in one process, and each would leave its worker processes behind.
        close_open_pools()


# Longer than our ~50-line guide on purpose: the five steps of a run stay in one function so it reads
# top to bottom; 17 of its lines are the lazy imports that keep `python -m app --help` fast.
def _train(cfg: ExperimentConfig, overrides, backup, parent_run_id, extra_callbacks, placement, run_dir) -> TrainResult:  # noqa: PLR0915
    """The five steps, by the process that holds run_dir."""
    from models import inference_model
    from models.optimizers import current_learning_rate
    from models.tta import with_tta
    from pipelines.evaluation.report import write_run_report
    from pipelines.inputs.preprocess import with_preprocessing
    from pipelines.tracking import run_logging
    from pipelines.tracking.guard import Tracking
    from pipelines.tracking.metrics_callback import MlflowMetrics
    from pipelines.tracking.store import experiment_name, setup_mlflow
    from pipelines.training.fit import FitSetup, train_model
    from pipelines.training.interrupt import finish_before_stopping
    from pipelines.training.prepare import build_compiled_model, prepare_inputs
    from pipelines.training.resume import run_state
    from pipelines.training.resume.backup import choose_snapshot, write_snapshot
    from pipelines.training.seeding import seed_everything

    seed_everything(cfg.seed, cfg.runtime.deterministic)
    # A verified backup of an unfinished run: continue, don't start over; a corrupt one raises.
    snapshot = choose_snapshot(run_dir, backup, may_modify=placement.is_chief)
    start_epoch = snapshot.epoch if snapshot else 0

    # 1. data -> tf.data inputs; 2. the model.
    inputs = prepare_inputs(cfg.data, cfg.augment, cfg.train, cfg.seed, placement, start_epoch)
    network, model, pretrained = build_compiled_model(
        cfg.model, cfg.train, cfg.data.normalization, cfg.runtime.jit_compile, inputs
    )
    _log_model_and_device(cfg, model, placement)
    train_cfg = cfg.train
    if pretrained is not None:  # phase 1 of fine-tuning: the new head alone; phase 2 is the fit below
        from pipelines.training.fine_tune import head_phase

        train_cfg = head_phase(model, network, cfg.model, cfg.train, cfg.runtime.jit_compile, inputs, start_epoch)
    fit_args = (train_cfg, placement, run_dir, start_epoch, cfg.model.task, cfg.runtime.jit_compile, snapshot)
    setup = FitSetup(*fit_args)
    if not placement.is_chief:
        # Other workers train in lockstep with the chief but write nothing: no MLflow, no files.
        outcome = train_model(model, inputs, setup)
        return TrainResult("", "", float("nan"), float("nan"), outcome.last_epoch, "", None, role="worker")

    run_dir.mkdir(parents=True, exist_ok=True)
    experiment = experiment_name(cfg.tracking.experiment or cfg.dataset_name())
    log.info("tracking: starting a run in MLflow experiment '%s'", experiment, extra=STAGE)
    tracking = Tracking(setup_mlflow(experiment))
    with run_state.tracked_run(tracking, run_dir, start_epoch, parent_run_id) as run:
        name = run_logging.run_name(cfg, overrides)
        _log_run_start(tracking, cfg, name, run_dir, inputs, model, placement, start_epoch, run.info.run_id)
        if pretrained is not None:  # where the weights came from: the UI links back to the source run
            tracking.set_tags(pretrained.tags())

        # 3. fit, every epoch logged; then the trained state is kept until it is safely logged.
        metrics_callback = MlflowMetrics(tracking, lambda: current_learning_rate(model.optimizer))
        served_network = inference_model(network)  # main output only: what the report scores and the file holds
        keeper = _snapshot_keeper(cfg.train, served_network, run_dir, start_epoch)
        callbacks = [metrics_callback, *extra_callbacks, *([keeper] if keeper else [])]
        outcome = train_model(model, inputs, setup, extra_callbacks=callbacks, log_metrics=tracking.log_metrics)
        model = outcome.model  # multi-worker: the chief's plain copy
        write_snapshot(model, run_dir / "backup", outcome.last_epoch, complete=True)
        if keeper is not None:  # the kept cycles, their average or the best alone: what validation prefers
            served_network, model = _choose_snapshots(tracking, cfg, keeper, served_network, model, inputs)

        # 4. the test report (confusion matrix, curves, ...); 5. the served model: main output only
        # (no auxiliary classifiers), raw pixels in. Both written locally first, then logged.
        # With evaluate.tta the averaging is part of the saved file: the served answer is what the report measured.
        test = write_run_report(
            model,
            inputs.splits,
            run_dir,
            outcome,
            cfg.train.misclassified_examples,
            run_name=name,
            tta=cfg.evaluate.tta,
        )
        image_shape = inputs.splits.train.images.shape[1:]  # fixed, also for a network trained at several sizes
        served = with_tta(
            with_preprocessing(served_network, cfg.data.normalization, inputs.mean, inputs.std, image_shape),
            cfg.evaluate.tta,
        )
        log.info("saving the served model (raw pixels in, class probabilities out)", extra=STAGE)
        run_logging.save_served_model(served, cfg.data, inputs, run_dir, tta=cfg.evaluate.tta)
        example = (inputs.splits.test if len(inputs.splits.test) else inputs.splits.val).images[0]  # test_fraction=0
        log.info("logging metrics, report and model to MLflow", extra=STAGE)
        with finish_before_stopping("logging and registering the model"):  # never a version without its alias
            logged = tracking.call("log the model", _log_outputs, tracking.mlflow, cfg, run_dir, outcome, test, example)

    result = TrainResult(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        test_accuracy=float(test.get("test_accuracy", float("nan"))),
        test_loss=float(test.get("test_loss", float("nan"))),
        test_note=inputs.splits.test_note,
        final_val_accuracy=test.get("final_val_accuracy"),
        epochs=outcome.last_epoch,
        model_uri="",
        registered=None,
        train_seconds=outcome.train_seconds,
        run_name=name,
        run_dir=str(run_dir),
    )
    if logged is None or not tracking.online:  # the server died, at the latest while ending the run
        result.untracked = tracking.lost
        return result
    for kept in ("backup", "snapshots"):  # the model is logged: the backup and the kept cycles have served
        shutil.rmtree(run_dir / kept, ignore_errors=True)
    result.model_uri, result.registered, result.best = logged
    return result


def _snapshot_keeper(train_cfg, served_network, run_dir: Path, start_epoch: int):
    """The callback keeping each learning-rate cycle's weights (train.snapshot_cycles > 1), else None."""
    if train_cfg.snapshot_cycles < 2:
        return None
    from pipelines.training.snapshots import SnapshotKeeper

    cycles = train_cfg.snapshot_cycles
    folder, restart = run_dir / "snapshots", train_cfg.snapshot_restart
    return SnapshotKeeper(served_network, cycles, train_cfg.epochs, folder, start_epoch, restart)


def _choose_snapshots(tracking, cfg: ExperimentConfig, keeper, network, model, inputs):
    """(served network, model the report scores): the ensemble of the kept cycles, or the best one alone."""
    from pipelines.inputs.preprocess import with_preprocessing
    from pipelines.training.snapshots import choose_served_network

    members = [*keeper.members, network.get_weights()]  # the trained network is the last cycle's end
    if len(members) < 2:  # the budget ended inside the first cycle
        return network, model

    def with_pixels(net):
        return with_preprocessing(net, cfg.data.normalization, inputs.mean, inputs.std)

    served, figures = choose_served_network(network, members, inputs.splits.val, with_pixels)
    tracking.call("log snapshot figures", tracking.mlflow.log_metrics, figures)
    return served, with_pixels(served)


def _log_run_start(tracking, cfg, name, run_dir, inputs, model, placement, start_epoch, run_id) -> None:  # noqa: PLR0913 - the run's pieces, each logged
    """Tags, params and inputs of the run; after a tracking outage, the epochs the server missed."""
    from data.splits import split_fingerprint
    from pipelines.tracking import run_logging

    tracking.set_tags(
        {
            "model_family": cfg.model.name,
            "dataset": cfg.dataset_name(),
            "fingerprint": inputs.splits.fingerprint,
            # Which val/test images scored the run: compare ranks only runs that share it.
            "split_fingerprint": split_fingerprint(inputs.splits.val, inputs.splits.test, inputs.splits.class_names),
            # What sets the run apart, in the UI's run list; the hash names its output folder.
            "mlflow.runName": name,
            "config_hash": run_dir.name,
        }
    )
    tracking.call("log inputs", run_logging.log_run_inputs, tracking.mlflow, flatten(cfg),
                  cfg.model_dump(mode="json"), inputs, model, placement)  # fmt: skip
    if start_epoch:  # epochs a dead server missed, from history.csv
        tracking.call("log missed epochs", run_logging.log_missed_epochs, tracking.mlflow, run_id,
                      run_dir / "history.csv")  # fmt: skip


def _log_outputs(mlflow, cfg: ExperimentConfig, run_dir: Path, outcome, test: dict, example_image):
    """Test metrics, the validation score, reports, the served model, the registry: (model URI, registered, score)."""
    from pipelines.tracking import run_logging
    from pipelines.tracking.registry import validation_score

    mlflow.log_metrics(test)
    if outcome.epochs_run:  # a process that only uploads a finished run has no timing of its own
        mlflow.log_metrics(
            {
                "train_seconds": outcome.train_seconds,
                "train_images_per_second": outcome.images_per_second,
                "step_images_per_second": outcome.step_images_per_second,
            }
        )
    run_id = mlflow.active_run().info.run_id
    score = validation_score(mlflow.MlflowClient(), run_id, cfg.train.monitor)
    if score:
        mlflow.log_metrics({score.metric: score.value, "best_epoch": score.epoch})
    mlflow.log_artifacts(str(run_dir / "reports"), "reports")
    info = run_logging.export_served_model(mlflow, run_dir, example_image)
    model_name = cfg.tracking.registered_model or f"{cfg.dataset_name()}-classifier"
    if cfg.tracking.register_model:
        log.info("registering the model as '%s'", model_name, extra=STAGE)
    registered = run_logging.register_served_model(mlflow, info.model_uri, cfg.tracking, model_name, score)
    return info.model_uri, registered, score


def _log_model_and_device(cfg: ExperimentConfig, model, placement) -> None:
    from models.config import family_fields

    own = ", ".join(f"{f}={getattr(cfg.model, f)}" for f in family_fields(cfg.model.name))
    log.info("model: %s (%s), %s parameters", cfg.model.name, own, f"{model.count_params():,}", extra=STAGE)
    device = placement.describe()
    log.info(
        "device: %s, %d replica(s) x %d worker(s), %s (strategy %s)",
        device["device"],
        device["num_replicas"],
        device["num_workers"],
        device["precision"],
        device["strategy"],
        extra=STAGE,
    )
