"""Absurd values and unsafe names in a config: one line, exit 1, before any data is read or any run starts.

What a user sees is the point, so most cases run `python -m app train` itself: a traceback, an
OverflowError from deep in the folder defaults, or a run that trains and only then refuses its
model name would each fail here.
"""

import sqlite3
import time

import pytest

from pipelines.config import ConfigError, load_config
from tests.helpers import app_command, run_cli

# (override, words the one line must hold). Each of these trained, hung or printed a traceback before.
REFUSED = [
    ("tracking.registered_model=../../x", ["tracking.registered_model", "'/'"]),
    ("tracking.registered_model=a:b", ["tracking.registered_model", "':'"]),
    ("tracking.alias=../x", ["tracking.alias", "letters, digits"]),
    ("tracking.alias=v1", ["tracking.alias", "v<digits>"]),
    ("tracking.alias=latest", ["tracking.alias", "'latest'"]),
    ("tracking.experiment=../../esc", ["tracking.experiment", "'..'"]),
    ("tracking.experiment=a\x1b[31mb", ["tracking.experiment", "control characters"]),
    ("train.time_budget_minutes=inf", ["train.time_budget_minutes", "positive number of minutes"]),
    ("train.time_budget_minutes=nan", ["train.time_budget_minutes", "positive number of minutes"]),
    ("train.optimizer.decay_epochs=inf", ["train.optimizer.decay_epochs", "finite"]),
    ("model.l2=inf", ["model.l2", "finite"]),
    (
        "model.hidden_units=[" + ",".join(["4"] * 20_000) + "]",
        ["model.hidden_units", "20,000 hidden layers; at most 64"],
    ),
    ("data.image_size=[0,0]", ["config section 'data'", "1..1024"]),
    ("train.batch_size=-1", ["train.batch_size", "greater than or equal to 1"]),
]


@pytest.mark.parametrize(("override", "words"), REFUSED, ids=[o.split("=")[0] for o, _ in REFUSED])
def test_train_refuses_in_one_line_before_any_work(override, words, tmp_path):
    store = tmp_path / "mlflow.db"
    started = time.monotonic()
    done = run_cli(
        app_command("train", override, f"output_dir={tmp_path / 'out'}", "train.epochs=1"),
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}"},
        timeout=60,
    )
    seconds = time.monotonic() - started
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    assert all(word in lines[0] for word in words), lines[0]
    assert len(lines[0]) < 400
    assert "\x1b" not in done.stderr  # a name's escape sequence is shown escaped, never sent to the terminal
    assert seconds < 10, f"{seconds:.1f} s: refused after work had started"
    assert not (tmp_path / "out").exists()
    assert not store.exists() or not sqlite3.connect(store).execute("select count(*) from runs").fetchone()[0]


def test_a_budget_of_inf_is_one_line_also_where_the_folder_defaults_use_it(tmp_path):
    (tmp_path / "photos" / "a").mkdir(parents=True)
    done = run_cli(
        app_command("train", "--family", "vgg", "--data", str(tmp_path / "photos"), "train.time_budget_minutes=inf"),
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: config key 'train.time_budget_minutes' = 'inf': give a positive number of minutes (e.g. 10)"
    ]


def test_output_dir_naming_a_file_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    done = run_cli(app_command("train", f"output_dir={tmp_path / 'afile'}"), timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith(f"output_dir '{tmp_path / 'afile'}' is a file; name a folder (created if missing)")
    )
    with pytest.raises(ConfigError, match="is under the file"):
        load_config(None, [f"output_dir={tmp_path / 'afile' / 'runs'}"])


@pytest.mark.parametrize("folder", ["a:b", ".."])
def test_names_taken_from_a_folder_are_checked_too(tmp_path, folder):
    """No tracking.* name set: the experiment and model are named after the folder, which MLflow may refuse."""
    path = tmp_path / "x" / folder if folder == ".." else tmp_path / folder
    with pytest.raises(ConfigError, match=r"set tracking\.(experiment|registered_model)=NAME"):
        load_config(None, ["data.source=folder", f"data.path={path}"])
    cfg = load_config(
        None,
        ["data.source=folder", f"data.path={path}", "tracking.experiment=photos", "tracking.registered_model=photos"],
    )
    assert cfg.tracking.experiment == "photos"


@pytest.mark.parametrize("alias", ["champion", "challenger_2", "v1beta", "a-b", "Latest-1"])
def test_mlflow_aliases_pass(alias):
    assert load_config(None, [f"tracking.alias={alias}"]).tracking.alias == alias


def test_mlp_depth_is_bounded_but_64_layers_pass():
    assert len(load_config(None, ["model.hidden_units=[" + ",".join(["4"] * 64) + "]"]).model.hidden_units) == 64
    with pytest.raises(ConfigError, match="at most 64"):
        load_config(None, ["model.hidden_units=[" + ",".join(["4"] * 65) + "]"])


def test_an_experiment_name_from_the_environment_keeps_its_artifacts_under_the_root(tmp_path, monkeypatch):
    """MLFLOW_EXPERIMENT_NAME is not in the config: the store refuses a name that would leave the artifact root."""
    from pipelines.tracking.store import setup_mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "../../esc")
    with pytest.raises(ValueError, match="outside"):
        setup_mlflow("digits")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "inside")
    mlflow = setup_mlflow("digits")
    location = mlflow.get_experiment_by_name("inside").artifact_location
    assert location == (tmp_path.resolve() / "mlartifacts" / "inside").as_uri()


@pytest.mark.parametrize(
    ("option", "line"),
    [
        (["--alias", "../x"], "error: --alias '../x': an alias is 1-255 letters, digits, '_' and '-' (e.g. champion)"),
        (["--name", "../../x"], "error: --name '../../x' must not contain '/', '\\', ':' or '..'"),
    ],
)
def test_promote_checks_names_before_opening_the_store(option, line, tmp_path):
    store = tmp_path / "mlflow.db"
    done = run_cli(
        app_command("promote", "--run-id", "0" * 32, *option), env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}"}
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(line)
    assert not store.exists()


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("augment.workers=10000", "config key 'augment.workers' = 10000: Input should be less than or equal to 256"),
        ("augment.workers=-1", "config key 'augment.workers' = -1: Input should be greater than or equal to 0"),
        ("seed=99999999999999999999", "config key 'seed' = 99999999999999999999: Input should be less than or equal"),
        ("runtime.collective_timeout_seconds=inf", "config key 'runtime.collective_timeout_seconds' = 'inf': Input"),
    ],
)
def test_absurd_counts_are_refused_at_load_time(override, line):
    """Each got past the config before: 10,000 augmentation processes, a seed numpy refuses after loading."""
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert str(caught.value).startswith(line)
