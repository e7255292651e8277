"""A photo folder given as `data.source=folder data.path=...` (what the sources table suggests):
the folder's defaults as with `--family X --data FOLDER`, or one line saying to use that; never an 8x8 model."""

import numpy as np
import pytest
from PIL import Image

from tests.helpers import app_command, client, env_for, run_cli, run_id_of


def _photos(root, per_class=8, side=24):
    """Class folders of small RGB images, each class its own colour."""
    for c, name in enumerate(("daisy", "rose", "tulip")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((side, side, 3), (80 * c, 200 - 60 * c, 10 * i), np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_the_digits_config_with_a_folder_source_gets_the_folders_defaults_and_says_so(tmp_path):
    photos = _photos(tmp_path / "my_photos")
    done = run_cli(app_command("show-config", "data.source=folder", f"data.path={photos}", "train.epochs=2"))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines() == [
        "note: data.source=folder on digits_mlp.yaml (made for digits at 8x8x1): using the defaults of "
        f"`--family mlp --data {photos}` (flowers_mlp.yaml, 32x32x3, 2 epochs)"
    ]
    assert "  image_size:\n  - 32\n  - 32\n  channels: 3\n" in done.stdout  # not 8x8 grayscale
    assert f"  path: {photos}\n" in done.stdout
    assert "  epochs: 2\n" in done.stdout  # the command line's own overrides still win


def test_a_family_with_a_folder_source_gets_that_familys_folder_defaults(tmp_path):
    photos = _photos(tmp_path / "my_photos", per_class=3)
    done = run_cli(app_command("show-config", "--family", "vgg", "data.source=folder", f"data.path={photos}"))
    assert done.returncode == 0, done.stderr
    assert f"using the defaults of `--family vgg --data {photos}` (flowers_vgg.yaml, " in done.stderr
    assert "  channels: 3\n" in done.stdout


def test_another_config_made_for_other_data_is_refused_in_one_line(tmp_path):
    photos = _photos(tmp_path / "my_photos", per_class=3)
    mine = tmp_path / "mine.yaml"
    mine.write_text("data:\n  source: digits\n  image_size: [8, 8]\nmodel:\n  name: vgg\n")
    done = run_cli(app_command("train", str(mine), "data.source=folder", f"data.path={photos}"), timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: data.source=folder with {mine} (made for digits at 8x8x1) would train at that size; "
        f"use `--family vgg --data {photos}` for this data's defaults, or set data.image_size (and data.channels)"
    ]
    # Given the size, it is the user's call: no note, no refusal.
    done = run_cli(
        app_command("show-config", str(mine), "data.source=folder", f"data.path={photos}", "data.image_size=[16,16]")
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.slow
def test_a_folder_run_is_named_by_the_folder_and_its_closing_lines_name_its_experiment_and_model(tmp_path):
    photos = _photos(tmp_path / "my_photos")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = app_command("train", "data.source=folder", f"data.path={photos}", "train.epochs=1")
    done = run_cli([*command, f"output_dir={tmp_path / 'out'}"], env=env_for(uri), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.startswith("note: data.source=folder on digits_mlp.yaml")
    run = client(uri).get_run(run_id_of(done.stdout))
    assert (run.data.params["data.image_size"], run.data.params["data.channels"]) == ("[32, 32]", "3")
    name = run.data.tags["mlflow.runName"]
    assert name.startswith("my_photos mlp [1024,512] gelu adam lr=0.001 "), name
    assert len(name) <= 60
    assert "/" not in name  # the folder's name, not its path
    assert f"('{name}')" in done.stdout
    assert 'next:          make compare ARGS="--experiment my_photos"' in done.stdout
    assert "\n               make serve MODEL_NAME=my_photos-classifier " in done.stdout
    assert client(uri).get_model_version_by_alias("my_photos-classifier", "champion").run_id == run.info.run_id
