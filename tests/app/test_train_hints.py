"""The lines `train` ends with: what the run reached and commands that go on from THIS run."""

import re
import subprocess

import pytest

from tests.helpers import ROOT, client, env_for


def _next_commands(stdout: str) -> list[str]:
    """The commands of the `next:` block, without their explanations."""
    block = stdout[stdout.index("\nnext:") + 1 :].splitlines()
    return [re.split(r"\s{2,}", line.removeprefix("next:").strip())[0] for line in block if line.strip()]


def _recipe(make_command: str, env: dict) -> str:
    """What `make` would run for a printed `make ...` line, as the shell passes it (make -n runs nothing)."""
    done = subprocess.run(
        f"make -n {make_command.removeprefix('make ')}",
        shell=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_the_closing_commands_name_this_runs_experiment_and_model_and_work(shared_run_store):
    run = shared_run_store
    commands = _next_commands(run.stdout)
    assert commands == [
        'make compare ARGS="--experiment digits"',
        "make serve MODEL_NAME=digits-classifier",
        "make web MODEL_NAME=digits-classifier",
        'make predict MODEL_NAME=digits-classifier PATHS="photo.jpg folder/"',
        "make ui",
    ]
    env = env_for(run.uri)
    # Copied into a shell, the compare line shows this run's experiment, this run in it.
    compare = _recipe(commands[0], env)
    assert compare.endswith("-m app compare --experiment digits")
    shown = subprocess.run(compare, shell=True, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "experiment 'digits': 1 run(s)" in shown.stdout
    assert run.run_id[:8] in shown.stdout
    # serve, web and predict reach the model this run registered as champion.
    assert client(run.uri).get_model_version_by_alias("digits-classifier", "champion").run_id == run.run_id
    for command in commands[1:4]:
        assert "--model models:/digits-classifier@champion" in _recipe(command, env)
    assert _recipe(commands[3], env).endswith("@champion photo.jpg folder/")


def _result(registered):
    from pipelines.training.workflow import TrainResult

    return TrainResult("f" * 32, "1", 0.75, 0.8, 3, "", registered, run_name="photos mlp")


def test_when_the_champion_stays_the_lines_say_so_and_how_to_promote_this_run(monkeypatch):
    from app.commands.train import closing_lines
    from pipelines.config import load_config

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    cfg = load_config(None, ["tracking.experiment=my photos", "tracking.registered_model=pets"])
    stays = "pets/4 (alias 'champion' stays: version 2 is better on best_val_accuracy (0.9 vs 0.8))"
    lines = closing_lines(cfg, _result(stays))
    assert lines[0] == f"registered:    {stays}"
    assert lines[1].startswith("""next:          make compare ARGS="--experiment 'my photos'"  """)
    assert lines[2].strip().split("  ")[0] == f'make promote MODEL_NAME=pets ARGS="--run-id {"f" * 32}"'
    assert lines[2].endswith("makes this run pets@champion anyway")
    assert lines[3].split()[:3] == ["make", "serve", "MODEL_NAME=pets"]
    assert lines[3].endswith("(the champion, not this run)")

    lines = closing_lines(load_config(None, ["tracking.register_model=false"]), _result(None))
    assert lines[0] == "registered:    nothing (tracking.register_model is false)"
    assert "makes this run digits-classifier@champion (registers it first)" in lines[2]


def test_another_alias_gets_commands_that_name_it(monkeypatch):
    from app.commands.train import closing_lines
    from pipelines.config import load_config

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5050")
    lines = closing_lines(load_config(None, ["tracking.alias=staging"]), _result("digits-classifier/3@staging"))
    commands = [re.split(r"\s{2,}", line[15:])[0] for line in lines[1:]]
    assert commands == [
        'make compare ARGS="--experiment digits"',
        "python -m app serve --model models:/digits-classifier@staging",
        "python -m app web --model models:/digits-classifier@staging",
        "http://127.0.0.1:5050",  # the team's tracking server has its own UI
    ]


@pytest.mark.parametrize(
    ("tta", "expected"),
    [
        ("none", "test accuracy: 0.7500  (cross-entropy 0.8000)"),
        ("flip", "test accuracy: 0.7500  (with flip TTA; cross-entropy 0.8000)"),
        ("flip_crops", "test accuracy: 0.7500  (with flip + crops TTA; cross-entropy 0.8000)"),
    ],
)
def test_the_test_accuracy_says_when_it_is_the_test_time_augmented_figure(tta, expected):
    from app.commands.train import summary_lines
    from pipelines.config import load_config

    lines = summary_lines(load_config(None, [f"evaluate.tta={tta}"]), _result(None))
    assert lines[0] == expected
    assert lines[-1] == f"run id:        {'f' * 32}  ('photos mlp')"
