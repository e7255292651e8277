"""`python -m app`: one command per workflow. TensorFlow is imported only by commands that need it,
so `--help` and config errors answer at once."""

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        # Expected failures (bad config, bad data, unreachable server) are one line, no traceback.
        print(f"error: {err}", file=sys.stderr)
        return 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="Train, track and serve image classifiers.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = commands.add_parser("train", help="train one experiment and log it to MLflow")
    train.add_argument("config", nargs="?", help="experiment YAML (default: pipelines/configs/digits_mlp.yaml)")
    train.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.epochs=5")
    train.set_defaults(handler=_train)

    show = commands.add_parser("show-config", help="print the resolved config after overrides")
    show.add_argument("config", nargs="?")
    show.add_argument("overrides", nargs="*")
    show.set_defaults(handler=_show_config)
    return parser


def _split_config_args(args) -> tuple[str | None, list[str]]:
    # `python -m app train model.name=vgg` (no file) must treat the first word as an override.
    config, overrides = args.config, list(args.overrides)
    if config and "=" in config:
        config, overrides = None, [config, *overrides]
    return config, overrides


def _train(args) -> int:
    from pipelines.config import load_config

    config, overrides = _split_config_args(args)
    cfg = load_config(config, overrides)  # validate before paying for TensorFlow
    from pipelines.train import run_training

    result = run_training(cfg)
    print(f"test accuracy: {result.test_accuracy:.4f}  (loss {result.test_loss:.4f}, {result.epochs} epochs)")
    print(f"run id:        {result.run_id}")
    if result.registered:
        print(f"registered:    {result.registered}")
    print("open the UI:   make ui   (then http://127.0.0.1:5000)")
    return 0


def _show_config(args) -> int:
    import yaml

    from pipelines.config import load_config

    config, overrides = _split_config_args(args)
    print(yaml.safe_dump(load_config(config, overrides).model_dump(mode="json"), sort_keys=False), end="")
    return 0
