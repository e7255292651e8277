"""model.pretrained: weights from Keras' cache or from a model this project saved, fine-tuned in two phases.

Tiny shapes; the ImageNet file is written in Keras' own format from a randomly initialised application,
so the real loading code runs without network.
"""

from types import SimpleNamespace

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from models.config import family_config
from pipelines.config.train import TrainConfig
from pipelines.inputs.preprocess import with_preprocessing
from pipelines.training.fine_tune import build_pretrained_network, head_phase
from pipelines.training.prepare import build_compiled_model

SHAPE = (32, 32, 3)


def _inputs(num_classes: int, n: int = 32, shape=SHAPE):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, *shape)).astype("uint8")
    labels = np.eye(num_classes, dtype="float32")[rng.integers(0, num_classes, n)]
    ds = tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels)).batch(8).repeat()
    return SimpleNamespace(
        splits=SimpleNamespace(train=SimpleNamespace(images=images)),
        num_classes=num_classes,
        progressive=None,
        mean=[127.0] * shape[-1],
        std=[64.0] * shape[-1],
        steps_per_epoch=n // 8,
        train_ds=ds,
        val_ds=tf.data.Dataset.from_tensor_slices((images[:16].astype("float32"), labels[:16])).batch(8),
        class_weight=None,
    )


def _write_keras_weights_file(application: str, path) -> keras.Model:
    """What `keras.applications.X(weights="imagenet", include_top=False)` caches, from random weights."""
    from keras.src.legacy.saving import legacy_h5_format

    source = getattr(keras.applications, application)(include_top=False, weights=None, input_shape=SHAPE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    return source


@pytest.mark.slow
def test_imagenet_weights_in_keras_format_load_from_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    source = _write_keras_weights_file(
        "VGG16", tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    cfg = family_config(name="vgg", vgg_depth=16, pretrained="imagenet", dropout=0.0)
    network, start = build_pretrained_network(cfg, SHAPE, 4, "scale", None, None)

    backbone = network.get_layer("backbone")
    for mine, theirs in zip(backbone.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert network.output_shape == (None, 4)
    assert start.tags() == {"pretrained_from": "imagenet"}


def test_missing_imagenet_weights_is_one_line_naming_the_file_and_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras.utils, "get_file", _offline)  # this machine has no network: make it certain
    cfg = family_config(name="inception", pretrained="imagenet")
    with pytest.raises(ValueError) as err:
        build_pretrained_network(cfg, (75, 75, 3), 3, "scale", None, None)
    message = str(err.value)
    assert "\n" not in message
    assert "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5" in message
    assert str(tmp_path / "models") in message


def _offline(*args, **kwargs):
    raise OSError("network unreachable")


def test_imagenet_needs_a_family_and_depth_it_has():
    with pytest.raises(ValueError, match="vgg or inception, not 'mlp'"):
        build_pretrained_network(family_config(name="mlp", pretrained="imagenet"), SHAPE, 3, "scale", None, None)
    with pytest.raises(ValueError, match="16 or 19, not 11"):
        build_pretrained_network(
            family_config(name="vgg", vgg_depth=11, pretrained="imagenet"), SHAPE, 3, "scale", None, None
        )


def _project_model_file(tmp_path, num_classes: int = 3, shape=(16, 16, 3)):
    """A served model as this project saves it: normalization in front of a small conv network."""
    from models import build_model

    cfg = family_config(name="vgg", vgg_depth=11, width_multiplier=0.125, dropout=0.0)
    network = build_model(cfg, shape, num_classes)
    served = with_preprocessing(network, "standardize", [100.0] * 3, [50.0] * 3)
    path = tmp_path / "source.keras"
    served.save(path)
    return path, network


def test_a_project_model_lends_its_backbone_and_the_head_follows_the_new_classes(tmp_path):
    path, source_network = _project_model_file(tmp_path, num_classes=3)
    cfg = family_config(name="vgg", pretrained=str(path), dropout=0.0)
    network, start = build_pretrained_network(cfg, SHAPE, 5, "scale", None, None)  # other size, other classes

    assert network.output_shape == (None, 5)
    assert start.run_id is None
    assert start.tags() == {"pretrained_from": str(path)}
    backbone = network.get_layer("backbone")
    source_weights = {v.path: v.numpy() for v in source_network.weights}
    shared = [v for v in backbone.weights if v.path in source_weights]
    assert shared
    assert all(np.array_equal(v.numpy(), source_weights[v.path]) for v in shared)
    assert network.predict(np.zeros((2, *SHAPE), "float32"), verbose=0).shape == (2, 5)


def test_a_backbone_of_other_channels_is_one_line(tmp_path):
    path, _ = _project_model_file(tmp_path)
    cfg = family_config(name="vgg", pretrained=str(path))
    with pytest.raises(ValueError, match="3-channel images, this dataset has 1"):
        build_pretrained_network(cfg, (16, 16, 1), 2, "scale", None, None)


def test_a_missing_file_is_one_line(tmp_path):
    cfg = family_config(name="vgg", pretrained=str(tmp_path / "nope.keras"))
    with pytest.raises(ValueError, match="no such file"):
        build_pretrained_network(cfg, SHAPE, 2, "scale", None, None)


@pytest.mark.slow
def test_phase_one_leaves_the_backbone_alone_and_phase_two_trains_it_slower(tmp_path):
    path, _ = _project_model_file(tmp_path)
    model_cfg = family_config(name="vgg", pretrained=str(path), dropout=0.0)
    train_cfg = TrainConfig(epochs=1, fine_tune={"head_epochs": 2, "backbone_lr_scale": 0.1})
    inputs = _inputs(num_classes=4)
    network, model, _start = build_compiled_model(model_cfg, train_cfg, "scale", False, inputs)
    backbone = network.get_layer("backbone")
    head = network.get_layer("predictions")
    before = [w.copy() for w in backbone.get_weights()]
    head_before = head.get_weights()[0].copy()

    phase2 = head_phase(model, network, model_cfg, train_cfg, False, inputs, start_epoch=0)

    for now, then in zip(backbone.get_weights(), before, strict=True):  # BN statistics included
        np.testing.assert_array_equal(now, then)
    assert not np.allclose(head.get_weights()[0], head_before)
    assert backbone.trainable
    assert phase2 is train_cfg
    model.fit(inputs.train_ds, epochs=1, steps_per_epoch=2, verbose=0)
    assert any(not np.array_equal(now, then) for now, then in zip(backbone.get_weights(), before, strict=True))


def test_the_backbone_steps_at_its_scale_and_the_head_at_one():
    from models.config import OptimizerConfig
    from models.optimizers import build_optimizer
    from models.pretrained import scale_backbone_learning_rate

    def one_step(scale):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((4,))
        backbone = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)], name="backbone")
        network = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(backbone(inputs)))
        optimizer = build_optimizer(OptimizerConfig(name="sgd", learning_rate=0.1), 1, 1)
        scale_backbone_learning_rate(optimizer, network, scale)
        network.compile(optimizer, "mse")
        start = [w.copy() for w in network.get_weights()]
        network.train_on_batch(np.ones((4, 4), "float32"), np.zeros((4, 2), "float32"))
        return [now - then for now, then in zip(network.get_weights(), start, strict=True)]

    plain, scaled = one_step(1.0), one_step(0.25)
    np.testing.assert_allclose(scaled[0], 0.25 * plain[0], rtol=1e-5, atol=1e-7)  # backbone kernel
    np.testing.assert_allclose(scaled[2], plain[2], rtol=1e-5, atol=1e-7)  # head kernel
