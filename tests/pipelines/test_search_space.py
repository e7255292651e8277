"""Search spaces: every bad space is one line naming the key and value, before any trial runs."""

import pytest

from pipelines.config import load_config
from pipelines.search.space import SpaceError, grid, load_space, suggest, with_values
from tests.helpers import app_command, run_cli

BASE = load_config().model_dump(mode="json")


def space_file(tmp_path, text: str):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model.dropuot: {float: [0, 0.5]}", "unknown config key 'model.dropuot'; did you mean 'model.dropout'?"),
        ("model.dropout: {float: [0.5, 0.1]}", "'model.dropout': bad range [0.5, 0.1]: low must be below high"),
        ("model.activation: {choice: []}", "'model.activation': choice needs a non-empty list of values"),
        (
            "model.activation: {choice: [relu, swishy]}",
            "config key 'model.activation' = 'swishy': Input should be 'relu'",
        ),
        ("model.dropout: {float: [0, 1.5]}", "config key 'model.dropout' = 1.5: Input should be less than 1"),
        ("train.optimizer.learning_rate: {log_float: [0, 0.1]}", "log_float range [0, 0.1] must be above 0"),
        ("model.dropout: {uniform: [0, 0.5]}", "unknown kind 'uniform'; choose one of log_float, float, int, choice"),
        ("model.hidden_units: {int: [1.5, 4]}", "int range [1.5, 4] must hold whole numbers"),
        ("fixed: {train.epochz: 3}\nmodel.dropout: {float: [0, 0.5]}", "unknown config key 'train.epochz'"),
        ("fixed: {train.epochs: 3}", "has no parameters"),
    ],
)
def test_bad_space_is_one_line_naming_key_and_value(tmp_path, text, expected):
    with pytest.raises(SpaceError) as err:
        load_space(space_file(tmp_path, text), BASE)
    message = str(err.value)
    assert expected in message
    assert "\n" not in message
    assert message.startswith(f"search space '{tmp_path / 'space.yaml'}'")


def test_good_space_reads_yaml_number_spellings_and_list_choices(tmp_path):
    text = """
train.optimizer.learning_rate: {log_float: [1e-4, 1e-1]}
model.hidden_units: {choice: [[64], [128, 64]]}
model.activation: {choice: [relu, gelu]}
fixed: {train.epochs: 3}
"""
    space = load_space(space_file(tmp_path, text), BASE)
    assert space.keys() == ["train.optimizer.learning_rate", "model.hidden_units", "model.activation"]
    assert space.params[0].values == (1e-4, 1e-1)  # YAML 1.1 reads `1e-4` as a string
    assert space.fixed == {"train.epochs": 3}
    with pytest.raises(SpaceError, match=r"'train\.optimizer\.learning_rate' is a log_float range"):
        grid(space)


def test_sampled_values_decode_back_to_config_values(tmp_path):
    import optuna

    space = load_space(space_file(tmp_path, "model.hidden_units: {choice: [[64], [128, 64]]}"), BASE)
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(grid(space), seed=0))
    seen = []
    study.optimize(lambda trial: seen.append(suggest(trial, space)["model.hidden_units"]) or 0.5, n_trials=2)
    assert sorted(seen) == [[64], [128, 64]]
    assert with_values(BASE, {"model.hidden_units": [64]})["model"]["hidden_units"] == [64]
    assert BASE["model"]["hidden_units"] != [64]  # a deep copy: the base is untouched


def test_cli_refuses_a_bad_space_before_any_trial(tmp_path):
    from models.config import ACTIVATIONS

    pydantic_choices = ", ".join(f"'{a}'" for a in ACTIVATIONS[:-1]) + f" or '{ACTIVATIONS[-1]}'"
    space = space_file(tmp_path, "model.activation: {choice: [relu, swishy]}")
    storage = tmp_path / "optuna.db"
    out = run_cli(app_command("tune", "--space", str(space), "--storage", f"sqlite:///{storage}"), timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"error: search space '{space}': config key 'model.activation' = 'swishy': Input should be {pydantic_choices}"
    ]
    assert not storage.exists()  # no study was opened, no trial ran


def test_one_of_sets_several_keys_per_trial_and_each_set_is_checked(tmp_path):
    import optuna

    text = "one_of:\n  none: {}\n  small_l2: {model.l2: 1.0e-4, model.dropout: 0.0}\n"
    space = load_space(space_file(tmp_path, text), BASE)
    study = optuna.create_study(sampler=optuna.samplers.GridSampler(grid(space), seed=0))
    seen = []
    study.optimize(lambda trial: seen.append(suggest(trial, space)) or 0.5, n_trials=2)
    assert sorted(seen, key=len) == [{}, {"model.l2": 1e-4, "model.dropout": 0.0}]

    bad = "one_of:\n  none: {}\n  smoothing: {train.loss.label_smoothing: 1.5}\n"
    with pytest.raises(SpaceError) as err:
        load_space(space_file(tmp_path, bad), BASE)
    assert "config key 'train.loss.label_smoothing' = 1.5" in str(err.value)


def test_a_space_key_of_another_family_is_refused(tmp_path):
    """`model.vgg_depth` searched on an MLP config would leave every trial the same: one line instead."""
    path = tmp_path / "space.yaml"
    path.write_text("model.vgg_depth: {choice: [11, 16]}\n")
    with pytest.raises(SpaceError, match=r"'model.vgg_depth' belongs to model family vgg, not to this run's 'mlp'"):
        load_space(path, load_config(None).model_dump())
