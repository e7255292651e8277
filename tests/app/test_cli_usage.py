"""What a person sees when they get the command line wrong, and `make help`: real subprocesses."""

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
