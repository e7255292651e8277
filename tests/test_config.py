"""Config parsing, overrides and every error path: one line naming key, value and what is allowed."""

import time

import pytest
import yaml

from pipelines.config import DEFAULT_CONFIG, ConfigError, flatten, load_config
from tests.helpers import app_command, run_cli


def test_default_config_loads_typed():
    cfg = load_config()
    assert cfg.data.source == "digits"
    assert cfg.model.name == "mlp"
    assert isinstance(cfg.model.hidden_units, list)
    assert cfg.train.optimizer.learning_rate > 0


def test_overrides_parse_yaml_values():
    cfg = load_config(DEFAULT_CONFIG, ["model.hidden_units=[256,128]", "train.epochs=3", "model.batch_norm=false"])
    assert cfg.model.hidden_units == [256, 128]
    assert cfg.train.epochs == 3
    assert cfg.model.batch_norm is False


def test_nested_override_reaches_sub_section():
    cfg = load_config(None, ["train.optimizer.name=sgd", "train.optimizer.learning_rate=0.1"])
    assert cfg.train.optimizer.name == "sgd"
    assert cfg.train.optimizer.learning_rate == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("model.hiden_units=[1]", ["model.hiden_units", "did you mean 'model.hidden_units'"]),
        ("modle.name=mlp", ["modle", "did you mean 'model'"]),
        ("train.epochs=abc", ["train.epochs", "'abc'", "integer"]),
        ("train.epochs=0", ["train.epochs", "0", "greater than or equal to 1"]),
        ("data.val_fraction=0.9", ["data.val_fraction", "0.9", "less than 0.5"]),
        ("model.name=resnet", ["model.name", "'resnet'", "mlp", "vgg", "inception"]),
        ("model=5", ["config key 'model' = 5", "valid dictionary"]),
        ("model.name=[1]", ["model.name", "valid string"]),
        ("train.optimizer.name=lion", ["train.optimizer.name", "'lion'", "adamw"]),
        ("data.source=folder", ["data.path is required"]),
        ("noequals", ["must look like section.key=value"]),
    ],
)
def test_bad_values_give_one_line_naming_key_and_choices(override, fragments):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_missing_file_lists_shipped_configs(tmp_path):
    with pytest.raises(ConfigError, match=r"digits_mlp\.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_flatten_gives_dotted_keys():
    flat = flatten(load_config())
    assert flat["model.name"] == "mlp"
    assert flat["train.optimizer.name"] == "adam"


def test_cli_help_is_fast_and_lists_train():
    started = time.perf_counter()
    out = run_cli(app_command("--help"), timeout=30)
    elapsed = time.perf_counter() - started
    assert out.returncode == 0
    assert "train" in out.stdout
    assert elapsed < 2.0, f"--help took {elapsed:.2f}s: TensorFlow must be imported lazily"


def test_cli_config_error_is_one_line_without_traceback():
    out = run_cli(app_command("train", "model.hiden_units=[1]"), timeout=60)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: unknown config key 'model.hiden_units'")


def test_show_config_accepts_family_and_data_like_train(tmp_path):
    from tests.helpers import app_command, run_cli

    (tmp_path / "photos").mkdir()
    out = run_cli(app_command("show-config", "--family", "vgg", "--data", str(tmp_path / "photos"), "train.epochs=3"))
    assert out.returncode == 0, out.stderr[-2000:]
    shown = yaml.safe_load(out.stdout)
    assert shown["model"]["name"] == "vgg"
    assert shown["data"]["path"] == str((tmp_path / "photos").resolve())
    assert shown["train"]["epochs"] == 3


def test_a_key_without_its_section_points_at_the_section():
    with pytest.raises(ConfigError, match=r"unknown config key 'epochs'; did you mean 'train\.epochs'\?"):
        load_config(None, ["epochs=5"])


def test_each_family_validates_and_logs_its_own_fields():
    """models/families/<name>.py holds each family's config class; model.name picks it."""
    from pipelines.config import flatten

    vgg = load_config(None, ["model.name=vgg", "model.vgg_depth=11"])  # the MLP file's hidden_units: dropped
    assert type(vgg.model).__name__ == "VggConfig"
    assert vgg.model.vgg_depth == 11
    assert not hasattr(vgg.model, "hidden_units")
    params = flatten(vgg)
    assert params["model.vgg_depth"] == 11
    assert not any(key.startswith(("model.hidden_units", "model.inception", "model.aux")) for key in params)
    mlp = flatten(load_config(None))
    assert "model.hidden_units" in mlp
    assert not any(key.startswith(("model.vgg", "model.inception")) for key in mlp)
