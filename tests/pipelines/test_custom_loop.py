"""The strategy.run loop (used for multi-worker) trains models with auxiliary classifiers too."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import build_compile_args, build_model, build_training_model
from models.config import LossConfig, ModelConfig
from pipelines.training.distributed.custom_loop import fit_with_custom_loop


@pytest.mark.slow
def test_custom_loop_trains_inception_with_auxiliary_classifiers():
    keras.utils.set_random_seed(0)
    cfg = ModelConfig(
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
        top_k=None,
        jit_compile=False,
        verbose=0,
    )
    losses = history.history["loss"]
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    assert "val_accuracy" in history.history
