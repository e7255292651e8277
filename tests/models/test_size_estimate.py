"""The parameter count from the config alone equals Keras' count, and too-large models fail in one line."""

import os
import pkgutil
import subprocess
import sys

import pytest

import models.families
from models import build_model
from models.config import family_config
from models.size import check_model_fits, estimate_parameters
from tests.conftest import ROOT
from tests.models.conftest import IMAGE_SHAPE, NUM_CLASSES, tiny_config

# Every module of models/families/: a new shipped family must come with a counter.
SHIPPED = [m.name for m in pkgutil.iter_modules(models.families.__path__) if not m.name.startswith("_")]
VARIANTS = {
    "default": {},
    "no batch norm": {"batch_norm": False},
    "maxout": {"activation": "maxout", "maxout_pieces": 3},
    "prelu": {"activation": "prelu"},
    "binary": {"task": "binary"},
    "multilabel": {"task": "multilabel"},
    "wide": {"width_multiplier": 0.3},
    "paper heads": {"vgg_head": "paper", "inception_stem": "paper", "aux_classifiers": False},
    "deep": {"vgg_depth": 19, "inception_modules": "googlenet", "hidden_units": [7, 5, 3]},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("name", SHIPPED)
def test_the_estimate_equals_keras_count_params(name, variant):
    num_classes = 2 if variant == "binary" else NUM_CLASSES
    cfg = tiny_config(name, **VARIANTS[variant])
    for shape in (IMAGE_SHAPE, (13, 9, 1)):  # odd sizes exercise the pooling arithmetic
        model = build_model(cfg, shape, num_classes)
        assert estimate_parameters(cfg, shape, num_classes) == model.count_params(), (name, variant, shape)


def test_the_vgg16_paper_count_is_known_without_building_it():
    cfg = family_config(name="vgg", vgg_depth=16, vgg_head="paper", batch_norm=False)
    assert estimate_parameters(cfg, (224, 224, 3), 1000) == 138_357_544


def test_a_model_larger_than_memory_is_one_line_naming_count_and_memory():
    cfg = family_config(name="mlp", hidden_units=[100_000_000])
    with pytest.raises(ValueError) as err:
        check_model_fits(cfg, (8, 8, 1), 10, memory_bytes=8 * 2**30)
    message = str(err.value)
    assert "\n" not in message
    assert "7,800,000,010 parameters" in message
    assert "116.2 GiB" in message
    assert "8.0 GiB" in message


@pytest.mark.slow
def test_train_with_an_over_large_mlp_fails_in_one_line(tmp_path):
    """The real command: before, an 86-line ResourceExhaustedError traceback."""
    command = [sys.executable, "-m", "app", "train", "model.hidden_units=[100000000]", f"output_dir={tmp_path}"]
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-2000:]
    assert "parameters" in errors[0], errors
    assert "GiB" in errors[0], errors
    assert "Traceback" not in done.stderr
