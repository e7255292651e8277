"""The contract every registered model keeps, parametrized over the registry and its variants."""

import keras
import numpy as np
import pytest

from models import build_compile_args, build_model, build_training_model, inference_model
from models.config import LossConfig, family_config
from models.registry import FAMILIES, family_names
from pipelines.inputs.preprocess import with_preprocessing
from tests.models.conftest import IMAGE_SHAPE, NUM_CLASSES, batch, loss_and_gradients, tiny_config, training_loss

# (family, options): every registered family, plus the variants that change the graph.
VARIANTS = [
    ("mlp", {}),
    ("mlp", {"activation": "maxout", "batch_norm": False, "input_dropout": 0.1}),
    ("vgg", {}),
    ("vgg", {"vgg_head": "paper", "vgg_depth": 16}),
    ("vgg", {"batch_norm": False, "activation": "prelu"}),
    ("inception", {}),
    ("inception", {"aux_classifiers": False, "batch_norm": False}),
    ("inception", {"inception_stem": "paper", "inception_modules": "googlenet", "activation": "maxout"}),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in opts.items()) or 'default'}" for name, opts in VARIANTS]


def test_every_registered_family_is_tested_and_listed():
    for name in family_names():
        build_model(tiny_config(name), IMAGE_SHAPE, NUM_CLASSES)  # imports each family's module
    assert set(family_names()) >= {"mlp", "vgg", "inception"}
    assert {name for name, _ in VARIANTS} == set(family_names()) <= set(FAMILIES)


def test_unknown_family_error_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown model family; choose one of .*inception.*mlp.*vgg"):
        family_config(name="resnet")


def _compiled(name, opts, optimizer=None):
    cfg = tiny_config(name, dropout=0.0, **opts)
    network = build_model(cfg, IMAGE_SHAPE, NUM_CLASSES)
    model = build_training_model(network, getattr(cfg, "aux_loss_weight", 0.0))
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(1e-3), **build_compile_args("multiclass", LossConfig(), 5)
    )
    return network, model


@pytest.mark.parametrize(("name", "opts"), VARIANTS, ids=IDS)
def test_output_shape_finite_probabilities_and_named_layers(name, opts):
    network, model = _compiled(name, opts)
    x, _ = batch()
    probabilities = np.asarray(model.predict_on_batch(x))
    assert probabilities.shape == (len(x), NUM_CLASSES)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert network.get_layer("predictions") is not None
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in network.layers)
    if name != "mlp":  # conv layers are named by block, as in keras.applications
        conv_names = [layer.name for layer in network.layers if isinstance(layer, keras.layers.Conv2D)]
        assert all(n.startswith(("block", "stem", "inception", "aux")) for n in conv_names), conv_names


@pytest.mark.parametrize(("name", "opts"), VARIANTS, ids=IDS)
def test_one_sgd_step_lowers_the_loss_and_every_weight_gets_a_gradient(name, opts):
    _, model = _compiled(name, opts)
    x, y = batch()
    before, grads = loss_and_gradients(model, x, y)
    missing = [v.path for v, g in zip(model.trainable_variables, grads, strict=True) if g is None]
    assert not missing, f"no gradient reaches {missing}"
    zero = [v.path for v, g in zip(model.trainable_variables, grads, strict=True) if not np.any(g.numpy())]
    assert not zero, f"zero gradient for {zero}"
    model.optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    after = training_loss(model, x, y)
    assert float(after) < float(before)


# One variant per family plus the custom layers (Maxout, BinaryProbabilities live in test_options).
ROUND_TRIP = [0, 1, 2, 3, 5]


@pytest.mark.parametrize(("name", "opts"), [VARIANTS[i] for i in ROUND_TRIP], ids=[IDS[i] for i in ROUND_TRIP])
def test_keras_round_trip_under_safe_mode_gives_identical_outputs(name, opts, tmp_path):
    cfg = tiny_config(name, **opts)
    network = build_model(cfg, IMAGE_SHAPE, NUM_CLASSES)
    # What train.py saves: raw pixels in, main output only.
    served = with_preprocessing(inference_model(network), "standardize", [120.0] * 3, [60.0] * 3)
    served.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False, safe_mode=True)
    pixels = np.random.default_rng(1).uniform(0, 255, size=(4, *IMAGE_SHAPE)).astype("float32")
    np.testing.assert_array_equal(loaded.predict_on_batch(pixels), served.predict_on_batch(pixels))
    assert len(loaded.outputs) == 1


@pytest.mark.parametrize(("size", "pools", "last"), [(8, 3, 1), (32, 5, 1), (224, 5, 7)])
def test_vgg_works_from_tiny_to_224_px_without_pooling_below_one_pixel(size, pools, last):
    network = build_model(tiny_config("vgg"), (size, size, 1), NUM_CLASSES)
    pooled = [layer.output.shape[1] for layer in network.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert (len(pooled), pooled[-1]) == (pools, last)
    assert network.get_layer("block5_conv2").output.shape[1] >= 1


def test_width_multiplier_scales_conv_widths():
    narrow = build_model(tiny_config("vgg", width_multiplier=0.25), IMAGE_SHAPE, NUM_CLASSES)
    wide = build_model(tiny_config("vgg", width_multiplier=0.5), IMAGE_SHAPE, NUM_CLASSES)
    assert narrow.get_layer("block1_conv1").filters == 16
    assert wide.get_layer("block5_conv2").filters == 256
