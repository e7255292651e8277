"""The strategy.run loop (used for multi-worker) trains models with auxiliary classifiers too."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import build_compile_args, build_model, build_training_model
from models.config import LossConfig, family_config
from pipelines.training.distributed.custom_loop import fit_with_custom_loop


@pytest.mark.slow
def test_custom_loop_trains_inception_with_auxiliary_classifiers():
    keras.utils.set_random_seed(0)
    cfg = family_config(
        name="inception",
        inception_modules="compact",
        inception_stem="compact",
        width_multiplier=0.125,
        aux_classifiers=True,
    )
    model = build_training_model(build_model(cfg, (32, 32, 1), 3), cfg.aux_loss_weight)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), **build_compile_args("multiclass", LossConfig(), 3))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 48)
    # Class-dependent brightness: learnable in a few steps.
    x = (rng.normal(size=(48, 32, 32, 1)) + labels[:, None, None, None]).astype("float32")
    y = keras.utils.to_categorical(labels, 3)
    train_ds = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(16)
    val_ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    history = fit_with_custom_loop(
        model,
        tf.distribute.get_strategy(),
        train_ds,
        val_ds,
        epochs=4,
        steps_per_epoch=3,
        initial_epoch=0,
        callbacks=[],
        task="multiclass",
        top_k=2,
        jit_compile=False,
        verbose=0,
    )
    losses = history.history["loss"]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    assert "val_accuracy" in history.history
    assert {"top_2_accuracy", "val_top_2_accuracy"} <= set(history.history)  # named with its k, as fit names it


@pytest.mark.parametrize("task", ["binary", "multilabel"])
def test_custom_loop_accuracy_is_what_keras_reports_for_sigmoid_heads(task):
    keras.utils.set_random_seed(1)
    cfg = family_config(name="mlp", hidden_units=[8], task=task, batch_norm=False, dropout=0.0)
    model = build_model(cfg, (4, 4, 1), 2)
    model.compile(optimizer=keras.optimizers.SGD(0.0), **build_compile_args(task, LossConfig(), 2))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4, 4, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 2, 40), 2)
    if task == "multilabel":
        y[::3] = 1.0  # some images carry both labels
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    history = fit_with_custom_loop(
        model, tf.distribute.get_strategy(), ds.repeat(), ds, epochs=1, steps_per_epoch=1, initial_epoch=0,
        callbacks=[], task=task, top_k=None, jit_compile=False, verbose=0,
    )  # fmt: skip
    expected = model.evaluate(ds, verbose=0, return_dict=True)["accuracy"]  # learning rate 0: same weights
    assert history.history["val_accuracy"][0] == pytest.approx(expected, abs=1e-6)
    assert not any("top_" in key for key in history.history)
