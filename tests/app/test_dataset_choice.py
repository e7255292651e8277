"""`--family X --data Y` (the Makefile's train-* targets): which config, which overrides, which experiment."""

import pytest

from app.dataset_choice import config_for, experiment_for
from models.registry import family_names
from pipelines.config import load_config


@pytest.mark.parametrize("family", family_names())
def test_every_family_and_kind_of_data_resolves_to_a_valid_config(family, tmp_path):
    photos = tmp_path / "my_photos"
    photos.mkdir()
    for data, source, experiment in [
        ("digits", "digits", "digits"),
        (str(photos), "folder", "my_photos"),
        ("cifar10", "keras", "cifar10"),
        ("tfds:tf_flowers", "tfds", "tf_flowers"),
    ]:
        cfg = load_config(*config_for(family, data))
        assert cfg.model.name == family
        assert cfg.data.source == source
        assert experiment_for(data) == experiment


def test_builtin_sets_get_their_channels_and_a_convolution_friendly_size():
    cfg = load_config(*config_for("vgg", "mnist"))
    assert (cfg.data.channels, cfg.data.image_size) == (1, (32, 32))
    cfg = load_config(*config_for("mlp", "cifar100"))
    assert (cfg.data.channels, cfg.data.image_size) == (3, (32, 32))


def test_folder_paths_are_resolved_so_the_run_records_where_the_images_were(tmp_path, monkeypatch):
    (tmp_path / "pics").mkdir()
    monkeypatch.chdir(tmp_path)
    _, overrides = config_for("mlp", "pics")
    assert overrides == [f"data.path={tmp_path / 'pics'}"]


@pytest.mark.parametrize(
    ("family", "data", "message"),
    [
        ("resnet", "digits", "model family 'resnet' is unknown; choose one of inception, mlp, vgg"),
        ("mlp", "no/such/folder", "DATA 'no/such/folder' is neither a folder nor a known dataset"),
        ("mlp", "tfds:", "DATA 'tfds:' is neither a folder nor a known dataset"),
    ],
)
def test_bad_family_or_data_is_one_line_naming_it_and_the_choices(family, data, message):
    with pytest.raises(ValueError) as err:
        config_for(family, data)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)
