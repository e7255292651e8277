"""Every optimizer takes a step, every schedule gives the learning rate it promises, clipping
and decoupled weight decay do what they say, and ReduceLROnPlateau works with `constant`."""

import keras
import numpy as np
import pytest

from models.config import OPTIMIZERS, OptimizerConfig
from models.config import SCHEDULES as SCHEDULE_NAMES
from models.optimizers import build_optimizer, current_learning_rate
from tests.models.conftest import batch

STEPS, EPOCHS = 10, 10  # 100 optimizer steps in all


def _dense(units=3, inputs=4):
    layer = keras.layers.Dense(units, kernel_initializer="ones", bias_initializer="ones")
    layer.build((None, inputs))
    return layer


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_takes_one_step_downhill(name):
    optimizer = build_optimizer(OptimizerConfig(name=name, learning_rate=0.1), STEPS, EPOCHS)
    layer = _dense()
    grads = [np.full(v.shape, 0.5, "float32") for v in layer.trainable_variables]
    before = [v.numpy().copy() for v in layer.trainable_variables]
    optimizer.apply_gradients(zip(grads, layer.trainable_variables, strict=True))
    assert int(optimizer.iterations) == 1
    for b, v in zip(before, layer.trainable_variables, strict=True):
        assert np.all(v.numpy() < b)  # positive gradient: every weight goes down
    kinds = {"momentum": 0.9, "nesterov": 0.9}
    if name in kinds:
        assert optimizer.momentum == pytest.approx(kinds[name])
        assert optimizer.nesterov == (name == "nesterov")


def test_plain_sgd_step_is_exactly_lr_times_gradient():
    optimizer = build_optimizer(OptimizerConfig(name="sgd", learning_rate=0.1), STEPS, EPOCHS)
    layer = _dense()
    optimizer.apply_gradients([(np.full((4, 3), 0.5, "float32"), layer.kernel)])
    np.testing.assert_allclose(layer.kernel.numpy(), 1.0 - 0.1 * 0.5, rtol=1e-6)


# (schedule, extra options, {step: expected learning rate}) with lr 0.1, decay every 2 epochs by 0.5.
SCHEDULES = [
    ("constant", {}, {0: 0.1, 50: 0.1, 99: 0.1}),
    ("step", {}, {0: 0.1, 19: 0.1, 20: 0.05, 45: 0.025}),
    ("exponential", {}, {0: 0.1, 10: 0.1 * 0.5**0.5, 20: 0.05}),
    ("cosine", {}, {0: 0.1, 50: 0.05, 100: 0.0}),
    ("cosine", {"warmup_epochs": 1}, {0: 0.0, 5: 0.05, 10: 0.1, 55: 0.05, 100: 0.0}),
    # 0.2 x lr -> lr over the first 25 steps (a quarter of the run) -> 0.07 x lr at step 100.
    ("onecycle", {}, {0: 0.02, 25: 0.1, 100: 0.007, 150: 0.007}),
    ("onecycle", {"warmup_epochs": 1}, {0: 0.02, 5: 0.06, 10: 0.1, 55: 0.1 - 0.093 * 0.5}),
]


@pytest.mark.parametrize(("schedule", "extra", "expected"), SCHEDULES, ids=[f"{s}{e}" for s, e, _ in SCHEDULES])
def test_learning_rate_follows_the_schedule(schedule, extra, expected):
    cfg = OptimizerConfig(learning_rate=0.1, schedule=schedule, decay_epochs=2, decay_rate=0.5, **extra)
    optimizer = build_optimizer(cfg, STEPS, EPOCHS)
    for step, lr in expected.items():
        optimizer.iterations.assign(step)
        assert current_learning_rate(optimizer) == pytest.approx(lr, abs=1e-6), f"step {step}"


def test_every_schedule_name_is_covered():
    assert {s for s, _, _ in SCHEDULES} == set(SCHEDULE_NAMES)


def _tiny_model(schedule):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    optimizer = build_optimizer(OptimizerConfig(name="sgd", learning_rate=0.1, schedule=schedule), STEPS, EPOCHS)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    return model


def test_constant_schedule_is_a_float_that_reduce_lr_on_plateau_can_lower():
    model = _tiny_model("constant")
    x, y = batch(n=16, shape=(4,), num_classes=3)
    # min_delta so large that no epoch counts as an improvement: the LR must be cut.
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9, verbose=0)
    model.fit(x, y, epochs=3, batch_size=16, callbacks=[plateau], verbose=0)
    assert current_learning_rate(model.optimizer) == pytest.approx(0.025)


def test_reduce_lr_on_plateau_cannot_change_a_schedule_which_is_why_constant_is_a_float():
    model = _tiny_model("step")
    x, y = batch(n=16, shape=(4,), num_classes=3)
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1, min_delta=1e9, verbose=0)
    with pytest.raises(TypeError, match="not settable"):
        model.fit(x, y, epochs=3, batch_size=16, callbacks=[plateau], verbose=0)


@pytest.mark.parametrize("option", ["clipvalue", "clipnorm", "global_clipnorm"])
def test_gradient_clipping_bounds_the_update(option):
    optimizer = build_optimizer(OptimizerConfig(name="sgd", learning_rate=1.0, **{option: 0.01}), STEPS, EPOCHS)
    layer = _dense()
    before = [v.numpy().copy() for v in layer.trainable_variables]
    grads = [np.full(v.shape, 1000.0, "float32") for v in layer.trainable_variables]
    optimizer.apply_gradients(zip(grads, layer.trainable_variables, strict=True))
    updates = [b - v.numpy() for b, v in zip(before, layer.trainable_variables, strict=True)]
    if option == "clipvalue":
        assert max(np.abs(u).max() for u in updates) == pytest.approx(0.01, rel=1e-4)
    elif option == "clipnorm":
        assert [np.linalg.norm(u) for u in updates] == pytest.approx([0.01, 0.01], rel=1e-4)
    else:
        assert np.sqrt(sum(np.sum(u**2) for u in updates)) == pytest.approx(0.01, rel=1e-4)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adamw"])
def test_decoupled_weight_decay_shrinks_kernels_not_biases(name):
    optimizer = build_optimizer(OptimizerConfig(name=name, learning_rate=0.1, weight_decay=0.5), STEPS, EPOCHS)
    layer = _dense()
    zeros = [np.zeros(v.shape, "float32") for v in layer.trainable_variables]
    optimizer.apply_gradients(zip(zeros, layer.trainable_variables, strict=True))
    # Zero gradient, yet the kernel shrinks by lr * wd: the decay is outside the loss.
    np.testing.assert_allclose(layer.kernel.numpy(), 1.0 - 0.1 * 0.5, rtol=1e-6)
    np.testing.assert_allclose(layer.bias.numpy(), 1.0)


def test_adamw_keeps_keras_default_decay_unless_set_and_adam_has_none():
    steps = (STEPS, EPOCHS)
    assert build_optimizer(OptimizerConfig(name="adamw"), *steps).weight_decay == pytest.approx(0.004)
    assert build_optimizer(OptimizerConfig(name="adamw", weight_decay=0.0), *steps).weight_decay == 0.0
    assert build_optimizer(OptimizerConfig(name="adam"), *steps).weight_decay is None
