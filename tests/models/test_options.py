"""Every activation, initializer, regularizer and task head builds, trains and behaves as named."""

import keras
import numpy as np
import pytest

from models import build_compile_args, build_model
from models.blocks import Maxout
from models.config import ACTIVATIONS, INITIALIZERS, LossConfig, family_config
from pipelines.config import ConfigError, load_config
from tests.models.conftest import batch, tiny_config

SMALL = (8, 8, 1)


def _fit_one_step(model, x, y, task="multiclass", num_classes=5):
    model.compile(optimizer=keras.optimizers.SGD(0.01), **build_compile_args(task, LossConfig(), num_classes))
    before = [w.numpy().copy() for w in model.trainable_weights]
    logs = model.train_on_batch(x, y, return_dict=True)
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights, strict=True)]
    return logs, changed


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_builds_and_trains_one_step(activation):
    model = build_model(tiny_config("mlp", activation=activation), SMALL, 5)
    x, y = batch(shape=SMALL)
    logs, changed = _fit_one_step(model, x, y)
    assert np.isfinite(logs["loss"])
    assert all(changed)
    assert model.get_layer("dense1_act") is not None


@pytest.mark.parametrize("activation", ["maxout", "prelu", "leaky_relu"])
def test_conv_activations_train_one_step(activation):
    model = build_model(tiny_config("vgg", activation=activation), (32, 32, 3), 5)
    logs, changed = _fit_one_step(model, *batch())
    assert np.isfinite(logs["loss"])
    assert all(changed)


def test_maxout_keeps_the_largest_of_k_pieces_per_unit():
    x = np.array([[1.0, -2.0, 3.0, 0.5, -1.0, -4.0]], dtype="float32")
    np.testing.assert_array_equal(Maxout(pieces=2)(x), [[1.0, 3.0, -1.0]])
    np.testing.assert_array_equal(Maxout(pieces=3)(x), [[3.0, 0.5]])
    cfg = tiny_config("mlp", activation="maxout", maxout_pieces=3, batch_norm=False)
    model = build_model(cfg, SMALL, 5)
    assert model.get_layer("dense1").units == 3 * 16  # k linear pieces per unit
    assert model.get_layer("dense1_act").output.shape[-1] == 16


def test_leaky_relu_slope_and_prelu_init_come_from_config():
    leaky = build_model(tiny_config("mlp", activation="leaky_relu", leaky_relu_slope=0.2), SMALL, 5)
    assert leaky.get_layer("dense1_act").negative_slope == pytest.approx(0.2)
    prelu = build_model(tiny_config("vgg", activation="prelu"), (32, 32, 3), 5)
    alpha = prelu.get_layer("block1_conv1_act").alpha.numpy()
    assert alpha.shape == (1, 1, 8)
    assert np.allclose(alpha, 0.25)


# The variance-scaling family; zeros and the small random normal are the lesson's bad examples (below).
VARIANCE_SCALING = [name for name, keras_name in INITIALIZERS.items() if keras_name not in ("zeros", "random_normal")]


@pytest.mark.parametrize("initializer", VARIANCE_SCALING)
def test_every_initializer_builds_trains_and_has_the_named_variance(initializer):
    # A wide first layer: fan_in 1024, fan_out 256, so the sample std is close to the theory.
    cfg = family_config(hidden_units=[256], initializer=initializer, batch_norm=False, dropout=0.0)
    model = build_model(cfg, (32, 32, 1), 5)
    kernel = model.get_layer("dense1").kernel.numpy()
    fan_in, fan_out = kernel.shape
    family = INITIALIZERS[initializer].split("_")[0]
    expected = {"glorot": 2 / (fan_in + fan_out), "he": 2 / fan_in, "lecun": 1 / fan_in}[family]
    assert kernel.std() == pytest.approx(np.sqrt(expected), rel=0.03)
    is_uniform = INITIALIZERS[initializer].endswith("uniform")
    limit = np.sqrt(3 * expected)
    assert (np.abs(kernel).max() <= limit + 1e-6) == is_uniform
    logs, changed = _fit_one_step(model, *batch(shape=(32, 32, 1)))
    assert np.isfinite(logs["loss"])
    assert all(changed)


@pytest.mark.parametrize(("initializer", "std"), [("zeros", 0.0), ("random_normal", 0.05)])
def test_lesson_initializers_zeros_and_small_random_normal(initializer, std):
    cfg = family_config(hidden_units=[256], initializer=initializer, batch_norm=False, dropout=0.0)
    kernel = build_model(cfg, (32, 32, 1), 5).get_layer("dense1").kernel.numpy()
    assert kernel.std() == pytest.approx(std, abs=0.002)


@pytest.mark.parametrize("name", ["mlp", "vgg", "inception"])
def test_l1_l2_penalties_on_every_kernel_enter_the_loss(name):
    model = build_model(tiny_config(name, l1=1e-3, l2=1e-2), (32, 32, 3), 5)
    kernels = [w for w in model.trainable_weights if w.path.endswith("kernel")]
    expected = sum(1e-3 * np.abs(k.numpy()).sum() + 1e-2 * np.square(k.numpy()).sum() for k in kernels)
    model(np.zeros((1, 32, 32, 3), "float32"))
    assert len(model.losses) == len(kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-4)
    assert not build_model(tiny_config(name), (32, 32, 3), 5).losses


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("model.activation=swishy", ["model.activation", "'swishy'", "maxout", "hard_swish"]),
        ("model.initializer=kaiming", ["model.initializer", "'kaiming'", "xavier_uniform", "he_normal"]),
        ("model.name=vgg model.vgg_depth=17", ["model.vgg_depth", "17", "16"]),
        ("model.vgg_depth=19", ["model.vgg_depth", "belongs to model family vgg", "'mlp'", "model.name=vgg"]),
        ("model.task=regression", ["model.task", "multilabel"]),
        ("model.hidden_units=[64,0]", ["model.hidden_units", "at least 1 unit"]),
        ("train.optimizer.schedule=step", ["warmup_epochs", "cosine", "step"]),
        ("train.optimizer.clipnorm=1", None),
    ],
)
def test_bad_model_options_fail_at_load_time_with_one_line(override, fragments):
    if fragments is None:  # a valid one, for contrast
        assert load_config(None, [override]).train.optimizer.clipnorm == 1
        return
    with pytest.raises(ConfigError) as err:
        load_config(None, override.split())
    assert "\n" not in str(err.value)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_two_clipping_options_are_refused():
    with pytest.raises(ConfigError, match="set one of clipnorm, clipvalue, global_clipnorm"):
        load_config(None, ["train.optimizer.clipnorm=1", "train.optimizer.clipvalue=0.5"])


def _labels(task, n=16):
    rng = np.random.default_rng(3)
    if task == "multilabel":
        return (rng.uniform(size=(n, 4)) < 0.4).astype("float32"), 4
    classes = 2 if task == "binary" else 4
    return np.eye(classes, dtype="float32")[np.arange(n) % classes], classes


@pytest.mark.parametrize(
    ("task", "metric_names"),
    [
        ("multiclass", {"loss", "accuracy", "top_2_accuracy"}),  # 4 classes: top-2
        ("binary", {"loss", "accuracy", "auc"}),
        ("multilabel", {"loss", "accuracy", "auc"}),
    ],
)
def test_task_heads_train_with_matching_loss_and_metrics(task, metric_names, tmp_path):
    y, num_classes = _labels(task)
    x = np.random.default_rng(4).normal(size=(len(y), 8, 8, 1)).astype("float32")
    model = build_model(tiny_config("mlp", task=task), SMALL, num_classes)
    model.compile(optimizer="sgd", **build_compile_args(task, LossConfig(label_smoothing=0.1), num_classes))
    history = model.fit(x, y, epochs=1, batch_size=8, validation_data=(x, y), verbose=0).history
    assert metric_names | {f"val_{m}" for m in metric_names} == set(history)
    p = model.predict_on_batch(x)
    assert p.shape == (len(y), num_classes)
    assert np.all((p >= 0) & (p <= 1))
    if task != "multilabel":  # multilabel sigmoids are independent and need not sum to 1
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict_on_batch(x), p)


def test_binary_head_is_one_sigmoid_and_its_loss_is_binary_cross_entropy():
    model = build_model(tiny_config("mlp", task="binary"), SMALL, 2)
    assert model.get_layer("predictions_sigmoid").units == 1
    x, _ = batch(shape=SMALL)
    y, _ = _labels("binary", n=len(x))
    p = model.predict_on_batch(x)
    loss = build_compile_args("binary", LossConfig(), 2)["loss"]
    expected = keras.losses.BinaryCrossentropy()(y[:, 1:], p[:, 1:])
    assert float(loss(y, p)) == pytest.approx(float(expected), rel=1e-5)


def test_binary_task_needs_two_classes():
    with pytest.raises(ValueError, match=r"model\.task 'binary' needs exactly 2 classes, got 5"):
        build_model(tiny_config("mlp", task="binary"), SMALL, 5)


def test_one_top_k_rule_and_no_top_k_metric_below_four_classes():
    from models.heads import top_k

    assert [top_k(n) for n in (2, 3, 4, 5, 9, 10, 1000)] == [None, None, 2, 2, 4, 5, 5]
    names = [m.name for m in build_compile_args("multiclass", LossConfig(), 3)["metrics"]]
    assert names == ["accuracy"]
    five = build_compile_args("multiclass", LossConfig(), 5)["metrics"]
    assert [(m.name, getattr(m, "k", None)) for m in five] == [("accuracy", None), ("top_2_accuracy", 2)]
