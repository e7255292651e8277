"""`python -m app`: one subcommand per workflow, each in its own module under app/commands/.

TensorFlow is imported only inside the commands that need it, so `--help` and config errors
answer at once.
"""

import argparse
import importlib
import logging
import math
import signal
import sys

from data.errors import Terminated, first_line, raise_terminated
from data.printable import printable, printable_records

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
    "app.commands.gradient_demo",
    "app.commands.tune",
    "app.commands.capacity",
]


def main(argv: list[str] | None = None) -> int:
    from app import output

    argv = list(sys.argv[1:] if argv is None else argv)
    # --verbose anywhere (`python -m app train --verbose`): every command takes it the same way.
    verbose = "--verbose" in argv
    argv = [arg for arg in argv if arg != "--verbose"]
    parser = build_parser()
    args, unknown = parse(parser, argv)
    if unknown:
        reject_unknown(parser, args, unknown, argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    output.configure(verbose)
    for handler in logging.getLogger().handlers:  # class and file names reach the terminal in log lines
        handler.addFilter(printable_records)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # `finally` blocks run on SIGTERM too
        signal.signal(signal.SIGTERM, raise_terminated)
    try:
        if getattr(args, "check", None):
            args.check(args)  # a command's quick checks answer before TensorFlow loads (~10 s)
        if not verbose and args.command in output.TENSORFLOW_COMMANDS:
            output.import_tensorflow_quietly()
        return args.handler(args) or 0
    except Terminated:
        print("terminated (SIGTERM)", file=sys.stderr)
        return Terminated.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError, ConnectionError) as err:
        # Expected failures (bad config, bad data, unreachable server) are one line, no traceback.
        print(f"error: {printable(first_line(err))}", file=sys.stderr)
        return 1


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's "(default: X)" after each option's help, except where there is none to give
    (None, a flag's False) or the help already says it."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class CommandParser(argparse.ArgumentParser):
    """Every command's parser: `--help` shows the defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpWithDefaults)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        if not action.help and action.default not in (None, False, argparse.SUPPRESS):
            action.help = "(default: %(default)s)"  # argparse prints nothing, not even the default, without a help
        return action


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app",
        description="Train, track and serve image classifiers.",
        epilog="--verbose (anywhere on the line): also show TensorFlow's, Keras' and MLflow's own messages",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(commands)
    parser.set_defaults(_commands=commands.choices)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(args, unknown), options and positionals in any order: `tune CONFIG --space S.yaml train.epochs=3`.

    argparse's intermixed parsing refuses a parser with sub-commands, so the top level only picks
    the command and that command's own parser reads the rest, intermixed.
    """
    choices = parser.get_default("_commands")
    if not argv or argv[0] not in choices:
        return parser.parse_known_args(argv)  # no command, --help or a wrong one: argparse's own answer
    args = argparse.Namespace(command=argv[0], _commands=choices)
    return choices[argv[0]].parse_known_intermixed_args(argv[1:], args)


def reject_unknown(parser: argparse.ArgumentParser, args, unknown: list[str], argv: list[str]) -> None:
    """Exit 2 with the usage of the command that was run (not the top-level one) and a hint.

    Plain `parse_args` would blame `python -m app` itself, so `train --epochs 5` showed the
    list of commands instead of saying how to set epochs.
    """
    command = args._commands.get(args.command, parser)
    option = next((u for u in unknown if u.startswith("-")), unknown[0])
    if not option.startswith("-"):
        command.error(f"unexpected argument '{option}'")
    name, _, value = option.partition("=")
    following = argv[argv.index(option) + 1 :] if option in argv else []
    if not value and following and not following[0].startswith("-") and "=" not in following[0]:
        value = following[0]  # `--epochs 5`: argparse took the 5 for the config path
    hint = ""
    if hasattr(args, "overrides"):  # a command that takes config overrides
        key = config_key(name.lstrip("-").replace("-", "_"))
        example = f"{key}={value or '...'}" if key else "section.key=value (e.g. train.epochs=5)"
        hint = f"; config values are set as {example}"
    command.error(f"unknown option {name}{hint}")


def config_key(name: str) -> str | None:
    """'epochs' -> 'train.epochs': the config key of that name, top level or first section holding it."""
    from pydantic import BaseModel

    from models.config import family_fields
    from models.registry import family_names
    from pipelines.config import ExperimentConfig

    if name in ExperimentConfig.model_fields:
        return name
    for section, field in ExperimentConfig.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel) and name in model.model_fields:
            return f"{section}.{name}"
    return f"model.{name}" if any(name in family_fields(family) for family in family_names()) else None


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
    from app.dataset_choice import config_for, for_source_overrides, pretrained_source

    config, overrides = args.config, list(args.overrides)
    if config and "=" in config:
        config, overrides = None, [config, *overrides]
    budget = next((o.split("=", 1)[1] for o in overrides if o.startswith("train.time_budget_minutes=")), None)
    budget = _budget_minutes(budget) if budget not in (None, "null") else None
    if args.family:
        if config:
            raise ValueError(f"give either a config file ('{config}') or --family, not both")
        config, chosen = config_for(args.family, args.data, budget, pretrained_source(overrides))
        overrides = [*chosen, *overrides]
        if args.data:
            return config, overrides
    elif args.data:
        raise ValueError("--data needs --family (or set data.* keys as overrides)")
    # data.source=folder data.path=PHOTOS on a digits config: the folder's defaults, said in one line.
    config, overrides, note = for_source_overrides(config, overrides, budget)
    if note:
        print(f"note: {note}", file=sys.stderr)
    return config, overrides


def _budget_minutes(text: str) -> float:
    """The budget the folder defaults are sized to, read before the config is: inf or nan there was an OverflowError."""
    try:
        minutes = float(text)
    except ValueError:
        minutes = math.nan
    if not (math.isfinite(minutes) and minutes > 0):
        raise ValueError(
            f"config key 'train.time_budget_minutes' = {text!r}: give a positive number of minutes (e.g. 10)"
        )
    return minutes
