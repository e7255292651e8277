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


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """CONFIG [overrides], or --family F [--data D] for a shipped config: the same for every command."""
    from models.registry import family_names  # reads a folder listing, not Keras

    parser.add_argument("config", nargs="?", help="experiment YAML (default: pipelines/configs/digits_mlp.yaml)")
    parser.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.epochs=5")
    parser.add_argument("--family", help=f"use the shipped config of this model family: {', '.join(family_names())}")
    parser.add_argument("--data", help="with --family: digits (default), a folder, mnist, cifar10, ... or tfds:NAME")


def resolve_config_args(args) -> tuple[str | None, list[str]]:
    """(config file, overrides) from CONFIG/overrides or --family/--data.

    `python -m app train model.name=vgg` (no file): the first word is an override, not a path.
    """
    config, overrides = args.config, list(args.overrides)
    if config and "=" in config:
        config, overrides = None, [config, *overrides]
    if args.family:
        from app.dataset_choice import config_for

        if config:
            raise ValueError(f"give either a config file ('{config}') or --family, not both")
        budget = next((o.split("=", 1)[1] for o in overrides if o.startswith("train.time_budget_minutes=")), None)
        config, chosen = config_for(args.family, args.data, float(budget) if budget not in (None, "null") else None)
        overrides = [*chosen, *overrides]
    elif args.data:
        raise ValueError("--data needs --family (or set data.* keys as overrides)")
    return config, overrides
