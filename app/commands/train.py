"""`python -m app train [CONFIG] [section.key=value ...]`, or `--family F --data D` for a shipped config."""

from app.cli import add_config_arguments, resolve_config_args


def add_parser(commands) -> None:
    parser = commands.add_parser("train", help="train one experiment and log it to MLflow")
    add_config_arguments(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    from pipelines.config import load_config

    config, overrides = resolve_config_args(args)
    cfg = load_config(config, overrides)  # validate before paying for TensorFlow
    from pipelines.training.workflow import run_training

    result = run_training(cfg, overrides)
    if getattr(result, "role", "chief") != "chief":
        print("worker finished (the chief logs the run)")
        return 0
    # Test loss is plain cross-entropy; val_loss during training includes label smoothing and penalties.
    print(f"test accuracy: {result.test_accuracy:.4f}  (cross-entropy {result.test_loss:.4f})")
    if result.best:
        print(
            f"best val:      {result.best.metric.removeprefix('best_')} {result.best.value:.4f} at epoch "
            f"{result.best.epoch} of {result.epochs}, trained in {result.train_seconds:.1f} s"
        )
    print(f"run id:        {result.run_id}  ('{result.run_name}')")
    if result.registered:
        print(f"registered:    {result.registered}")
    print("next:          make ui (http://127.0.0.1:5000), make compare, make serve")
    return 0
