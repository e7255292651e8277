"""The airbench-style options on tiny shapes: whitening statistics, dirac init, one-cycle,
scaled batch-norm-offset learning rate, EMA of the weights."""

import keras
import numpy as np
import pytest

from models import build_model
from models.blocks import Dirac
from models.config import OptimizerConfig
from models.optimizers import OneCycle, ScaledBiasSGD, build_optimizer
from models.whitening import PatchWhitening, fit_whitening, patches, whitening_weights
from pipelines.config import ConfigError, load_config
from tests.models.conftest import batch, tiny_config


def _correlated_images(n=64, size=12, channels=3, seed=0):
    """Smooth, channel-mixed images: neighbouring pixels and channels strongly correlated."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size + 2, size + 2, channels))
    x = (x[:, :-2, :-2] + x[:, 1:-1, 1:-1] + x[:, 2:, 2:]) / 3.0  # spatial smoothing
    mix = np.array([[1.0, 0.8, 0.6], [0.0, 0.5, 0.4], [0.0, 0.0, 0.3]])[:channels, :channels]
    return (x @ mix + 2.0).astype("float32")  # non-zero mean too


@pytest.mark.parametrize("k", [2, 3])
def test_whitened_patches_have_identity_covariance(k):
    images = _correlated_images()
    layer = PatchWhitening(k, eps=1e-8)
    out = keras.ops.convert_to_numpy(layer(images))  # builds with the identity-like init
    before = np.cov(out.reshape(-1, out.shape[-1])[:, : out.shape[-1] // 2], rowvar=False)
    assert not np.allclose(before, np.eye(len(before)), atol=0.1)  # the raw patches are far from white

    layer.fit(images)
    out = keras.ops.convert_to_numpy(layer(images)).astype(np.float64)
    dims = k * k * images.shape[-1]
    assert out.shape == (64, 12 - k + 1, 12 - k + 1, 2 * dims)
    flat = out.reshape(-1, 2 * dims)
    first, second = flat[:, :dims], flat[:, dims:]
    np.testing.assert_allclose(first.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.cov(first, rowvar=False, bias=True), np.eye(dims), atol=2e-3)
    np.testing.assert_allclose(second, -first, atol=1e-4)  # both signs


def test_eps_shrinks_weak_directions_only():
    images = _correlated_images()
    flat = patches(images.astype(np.float64), 2)
    eigenvalues = np.sort(np.linalg.eigvalsh(np.cov(flat, rowvar=False, bias=True)))[::-1]
    eps = 0.01
    kernel, bias = whitening_weights(images, 2, eps)
    out = flat @ kernel.reshape(flat.shape[1], -1)[:, : flat.shape[1]] + bias[: flat.shape[1]]
    variances = out.var(axis=0)
    np.testing.assert_allclose(variances, eigenvalues / (eigenvalues + eps), rtol=1e-3)


def test_whitening_rejects_images_smaller_than_a_patch():
    with pytest.raises(ValueError, match="smaller than a 3x3 patch"):
        whitening_weights(np.zeros((2, 2, 2, 3), "float32"), 3, 5e-4)


@pytest.mark.parametrize("family", ["vgg", "inception"])
def test_whitening_stem_is_frozen_fitted_and_survives_safe_mode(family, tmp_path):
    model = build_model(tiny_config(family, whiten_patch_size=2, aux_classifiers=False), (32, 32, 3), 5)
    whiten = model.get_layer("whiten")
    assert whiten.trainable_weights == []
    assert len(whiten.non_trainable_weights) == 2
    x, _ = batch()
    assert fit_whitening(keras.Sequential([model]), x) == 1  # found inside a nested model too
    fitted = whiten.kernel.numpy().copy()
    np.testing.assert_allclose(fitted, whitening_weights(x, 2, 5e-4)[0], rtol=1e-6)

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.get_layer("whiten").kernel.numpy(), fitted)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_dirac_conv_passes_its_input_through():
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 4)).astype("float32")
    same = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, kernel_initializer=Dirac("he_normal"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(same(x)), x, atol=1e-6)
    wider = keras.layers.Conv2D(6, 3, padding="same", use_bias=False, kernel_initializer=Dirac("he_normal"))
    out = keras.ops.convert_to_numpy(wider(x))
    np.testing.assert_allclose(out[..., :4], x, atol=1e-6)  # identity on the first min(in, out)
    assert np.abs(out[..., 4:]).mean() > 0.1  # the rest: the usual random init


def test_dirac_init_applies_to_3x3_stride_1_convs_only():
    on = build_model(tiny_config("vgg", dirac_init=True), (32, 32, 3), 5)
    off = build_model(tiny_config("vgg"), (32, 32, 3), 5)
    kernel = on.get_layer("block3_conv2").kernel.numpy()  # in == out channels
    assert kernel[1, 1, 0, 0] == 1.0
    assert np.count_nonzero(kernel) == kernel.shape[-1]
    assert np.count_nonzero(off.get_layer("block3_conv2").kernel.numpy()) > kernel.shape[-1]
    assert isinstance(on.get_layer("block3_conv2").kernel_initializer, Dirac)


def test_onecycle_round_trips_through_its_config():
    schedule = OneCycle(0.4, 100, 20)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    for step in (0, 10, 20, 60, 100):
        assert float(again(step)) == pytest.approx(float(schedule(step)))
    assert float(schedule(20)) == pytest.approx(0.4)
    assert float(schedule(100)) == pytest.approx(0.028)


def _bn_step(optimizer):
    layer = keras.layers.BatchNormalization()
    layer.build((None, 3))
    grads = [np.ones(v.shape, "float32") for v in layer.trainable_variables]  # gamma, beta
    optimizer.apply_gradients(zip(grads, layer.trainable_variables, strict=True))
    return 1.0 - layer.gamma.numpy()[0], 0.0 - layer.beta.numpy()[0]  # how far each moved


def test_bias_lr_scale_multiplies_batch_norm_offset_steps_only():
    cfg = OptimizerConfig(name="nesterov", learning_rate=0.1, momentum=0.9, bias_lr_scale=8.0)
    optimizer = build_optimizer(cfg, 10, 10)
    assert isinstance(optimizer, ScaledBiasSGD)
    gamma_step, beta_step = _bn_step(optimizer)
    assert beta_step == pytest.approx(8.0 * gamma_step, rel=1e-5)
    plain_gamma, plain_beta = _bn_step(build_optimizer(cfg.model_copy(update={"bias_lr_scale": 1.0}), 10, 10))
    assert plain_beta == pytest.approx(plain_gamma)
    assert plain_gamma == pytest.approx(gamma_step)


def test_bias_lr_scale_is_refused_for_adaptive_optimizers():
    with pytest.raises(ConfigError, match="bias_lr_scale works with sgd, momentum and nesterov only, not 'adam'"):
        load_config(None, ["train.optimizer.name=adam", "train.optimizer.bias_lr_scale=4"])


def test_ema_is_copied_into_the_weights_every_n_steps_when_asked():
    cfg = OptimizerConfig(name="sgd", learning_rate=0.1, ema=True, ema_momentum=0.5)
    assert build_optimizer(cfg, steps_per_epoch=3, epochs=2).ema_overwrite_frequency is None  # only at the end
    cfg = cfg.model_copy(update={"ema_overwrite_every_n_steps": 3})
    optimizer = build_optimizer(cfg, steps_per_epoch=10, epochs=2)
    assert optimizer.use_ema
    assert optimizer.ema_overwrite_frequency == 3
    layer = keras.layers.Dense(1, kernel_initializer="zeros", use_bias=False)
    layer.build((None, 1))
    grad = [np.ones((1, 1), "float32")]
    raw = []
    for _ in range(3):
        optimizer.apply_gradients(zip(grad, layer.trainable_variables, strict=True))
        raw.append(float(layer.kernel.numpy()[0, 0]))
    # Raw weights after steps 1, 2, 3: -0.1, -0.2, -0.3. Keras starts the average at the first
    # step's weights, then follows at momentum 0.5, and copies it into the weights at step 3:
    # 0.5 * (0.5 * -0.1 + 0.5 * -0.2) + 0.5 * -0.3 = -0.225.
    assert raw[:2] == pytest.approx([-0.1, -0.2])
    assert raw[2] == pytest.approx(-0.225)
