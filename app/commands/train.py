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

    result = run_training(cfg)
    if getattr(result, "role", "chief") != "chief":
        print("worker finished (the chief logs the run)")
        return 0
    if result.test_note:
        print(f"note:          {result.test_note}")
    if result.final_val_accuracy is not None:
        print(f"val accuracy:  {result.final_val_accuracy:.4f}  (no test split, {result.epochs} epochs)")
    else:
        print(f"test accuracy: {result.test_accuracy:.4f}  (loss {result.test_loss:.4f}, {result.epochs} epochs)")
    print(f"run id:        {result.run_id}")
    if result.registered:
        print(f"registered:    {result.registered}")
    print("open the UI:   make ui   (then http://127.0.0.1:5000)")
    return 0
