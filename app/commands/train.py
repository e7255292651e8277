"""`python -m app train [CONFIG] [section.key=value ...]`, or `--family F --data D` for a shipped config."""

import shlex
import sys

from app.cli import add_config_arguments, resolve_config_args

# EX_TEMPFAIL: trained and saved locally, not logged; the same command later completes the run.
UNTRACKED = 75
RESUME_FLAGS = ("--restart", "--resume-previous")  # one-off choices, not part of "the same command"


def add_parser(commands) -> None:
    parser = commands.add_parser("train", help="train one experiment and log it to MLflow")
    add_config_arguments(parser)
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--restart", action="store_true", help="delete the run's backup and start over")
    resume.add_argument(
        "--resume-previous", action="store_true", help="resume from the previous backup (the latest is corrupt)"
    )
    parser.set_defaults(handler=run)


def run(args) -> int:
    from pipelines.config import load_config

    config, overrides = resolve_config_args(args)
    cfg = load_config(config, overrides)  # validate before paying for TensorFlow
    from pipelines.training.workflow import run_training

    backup = "restart" if args.restart else "previous" if args.resume_previous else "latest"
    result = run_training(cfg, overrides, backup)
    if getattr(result, "role", "chief") != "chief":
        print("worker finished (the chief logs the run)")
        return 0
    if result.test_note:
        print(f"note:          {result.test_note}")
    if result.final_val_accuracy is not None:
        print(f"val accuracy:  {result.final_val_accuracy:.4f}  (no test split)")
    else:
        # Test loss is plain cross-entropy; val_loss during training includes label smoothing and penalties.
        print(f"test accuracy: {result.test_accuracy:.4f}  (cross-entropy {result.test_loss:.4f})")
    if result.best:
        print(
            f"best val:      {result.best.metric.removeprefix('best_')} {result.best.value:.4f} at epoch "
            f"{result.best.epoch} of {result.epochs}, trained in {result.train_seconds:.1f} s"
        )
    print(f"run id:        {result.run_id}  ('{result.run_name}')")
    if result.untracked:
        again = shlex.join(["python", "-m", "app", *(a for a in sys.argv[1:] if a not in RESUME_FLAGS)])
        print(
            f"not logged:    the tracking server stopped answering; model and report are in {result.run_dir}; "
            f"once it is back, `{again}` logs them to run {result.run_id}"
        )
        return UNTRACKED
    if result.registered:
        print(f"registered:    {result.registered}")
    print("next:          make ui (http://127.0.0.1:5000), make compare, make serve")
    return 0
