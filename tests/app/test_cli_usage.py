"""What a person sees when they get the command line wrong, and `make help`: real subprocesses."""

from pathlib import Path

import pytest

from tests.helpers import app_command, run_cli

TOP_LEVEL_USAGE = "usage: python -m app [-h] COMMAND"


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["train", "--epochs", "5"], "unknown option --epochs; config values are set as train.epochs=5"),
        (["train", "--batch-size=32"], "unknown option --batch-size; config values are set as train.batch_size=32"),
        (
            ["show-config", "--wat"],
            "unknown option --wat; config values are set as section.key=value (e.g. train.epochs=5)",
        ),
    ],
)
def test_an_unknown_option_shows_the_commands_usage_and_how_to_set_config_values(argv, hint):
    done = run_cli(app_command(*argv), timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"usage: python -m app {argv[0]} ")
    assert lines[-1] == f"python -m app {argv[0]}: error: {hint}"
    assert TOP_LEVEL_USAGE not in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_option_of_a_command_without_config_gets_no_config_hint():
    done = run_cli(app_command("web", "--bogus"), timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "python -m app web: error: unknown option --bogus"
    assert done.stderr.startswith("usage: python -m app web ")


def test_make_help_lists_the_variables_with_the_values_in_use():
    done = run_cli(["make", "help", "WEB_PORT=9123", "PATHS=pics/"], timeout=60)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ") and line.split()}
    for name in ("CONFIG", "ARGS", "DATA", "MODEL_NAME", "MODEL", "PATHS", "SERVE_PORT", "WEB_PORT"):
        assert name in rows, name
    assert rows["WEB_PORT"].endswith("[9123]")
    assert rows["SERVE_PORT"].endswith("[5001]")
    assert rows["PATHS"].endswith("[pics/]")
    assert "make web" in done.stdout


# --- options anywhere on the line (argparse's intermixed parsing, app/cli.py) ---------------------
@pytest.mark.parametrize(
    ("argv", "options"),
    [
        (["train", "pipelines/configs/digits_mlp.yaml", "--restart", "train.epochs=3", "model.dropout=0.1"], {"restart": True}),
        (
            ["tune", "pipelines/configs/digits_mlp.yaml", "--space", "s.yaml", "train.epochs=3", "--trials", "4", "model.dropout=0.1"],
            {"space": "s.yaml", "trials": 4},
        ),
        (["show-config", "--family", "mlp", "train.epochs=3", "--data", "digits", "model.dropout=0.1"], {"family": "mlp"}),
    ],
)  # fmt: skip
def test_overrides_may_come_before_and_after_options(argv, options):
    from app.cli import build_parser, parse, resolve_config_args
    from pipelines.config import CONFIG_DIR

    args, unknown = parse(build_parser(), argv)
    assert unknown == []
    assert {key: getattr(args, key) for key in options} == options
    config, overrides = resolve_config_args(args)
    assert (Path(config).resolve(), overrides) == (
        CONFIG_DIR / "digits_mlp.yaml",
        ["train.epochs=3", "model.dropout=0.1"],
    )


def test_show_config_applies_overrides_given_after_an_option():
    # The example: "unexpected argument 'train.epochs=3'" before.
    argv = ["show-config", "--family", "vgg", "train.epochs=3", "--data", "digits", "model.dropout=0.15"]
    done = run_cli(app_command(*argv), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "\n  epochs: 3\n" in done.stdout
    assert "\n  dropout: 0.15\n" in done.stdout
    assert "\n  name: vgg\n" in done.stdout


def test_every_commands_help_shows_the_defaults_of_its_options(monkeypatch):
    import argparse

    from app.cli import build_parser

    monkeypatch.setenv("COLUMNS", "500")  # argparse wraps at the terminal's width, also inside a default
    commands = build_parser().get_default("_commands")
    assert {"train", "serve", "web", "predict", "compare", "tune"} <= set(commands)
    for name, command in commands.items():
        text = " ".join(command.format_help().split())  # argparse wraps lines
        for action in command._actions:
            if action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
                continue
            assert str(action.default) in text, f"{name} {action.option_strings[0]}: default {action.default!r}"
    serve = " ".join(commands["serve"].format_help().split())
    assert "--port PORT (default: 5001)" in serve
    assert "--top-k TOP_K classes listed per image (default: 3)" in " ".join(commands["predict"].format_help().split())
    assert "(default: None)" not in serve  # options without a default say nothing


def test_make_help_lists_every_variable_the_makefile_takes():
    import re

    from tests.helpers import ROOT

    makefile = (ROOT / "Makefile").read_text()
    variables = set(re.findall(r"^(?:export\s+)?([A-Z][A-Z0-9_]*)\s*\?=", makefile, re.MULTILINE))
    assert {"SPACE", "TRIALS", "TEST_WORKERS", "PATHS", "MODEL_NAME"} <= variables
    done = run_cli(["make", "help"], timeout=60)
    listed = {line.split()[0] for line in done.stdout.split("Variables")[1].splitlines() if line.startswith("  ")}
    assert variables - listed == set()


def test_predict_without_paths_says_how_to_give_them_in_one_line():
    done = run_cli(["make", "-n", "predict"], timeout=60)  # -n: runs nothing, not even an install
    assert done.returncode != 0
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith('no images given; name them: make predict PATHS="photo.jpg folder/".  Stop.')
    )
    done = run_cli(["make", "-n", "predict", "PATHS=a.jpg pics/"], timeout=60)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        .splitlines()[-1]
        .endswith("-m app predict --model models:/digits-classifier@champion a.jpg pics/")
    )
    # The command itself, before TensorFlow loads (it answers in about a second, not ten).
    done = run_cli(app_command("predict", "--top-k", "2"), timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: no images given: name files and folders, e.g. python -m app predict photo.jpg folder/ "
        '(make predict PATHS="photo.jpg folder/")'
    ]
