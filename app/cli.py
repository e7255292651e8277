"""`python -m app`: one subcommand per workflow, each in its own module under app/commands/.

TensorFlow is imported only inside the commands that need it, so `--help` and config errors
answer at once.
"""

import argparse
import importlib
import logging
import sys

from data.errors import first_line

# Each module defines `add_parser(subparsers)`, which registers its command and handler.
COMMAND_MODULES = [
    "app.commands.train",
    "app.commands.show_config",
    "app.commands.evaluate",
    "app.commands.compare",
    "app.commands.promote",
    "app.commands.serve",
    "app.commands.predict",
    "app.commands.web",
    "app.commands.preview_augment",
]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, ConnectionError) as err:
        # Expected failures (bad config, bad data, unreachable server) are one line, no traceback.
        print(f"error: {first_line(err)}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="Train, track and serve image classifiers.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(commands)
    return parser


def split_config_args(args) -> tuple[str | None, list[str]]:
    """`python -m app train model.name=vgg` (no file): the first word is an override, not a path."""
    config, overrides = args.config, list(args.overrides)
    if config and "=" in config:
        config, overrides = None, [config, *overrides]
    return config, overrides


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="experiment YAML (default: pipelines/configs/digits_mlp.yaml)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.epochs=5")
