"""Tiny models and batches for the model-zoo tests: 32 px, width 1/8, batches of 8."""

import numpy as np
import pytest
import tensorflow as tf

from models.config import ModelConfig, family_config

NUM_CLASSES = 5
IMAGE_SHAPE = (32, 32, 3)
# Shared options that shrink any family; a family ignores the ones it does not use.
TINY = dict(
    width_multiplier=0.125,
    hidden_units=[16, 8],
    head_units=32,
    vgg_depth=11,
    inception_modules="compact",
    inception_stem="compact",
    aux_classifiers=True,
)


def tiny_config(name: str, **overrides) -> ModelConfig:
    return family_config(name=name, **{**TINY, **overrides})


def batch(n: int = 8, shape=IMAGE_SHAPE, num_classes: int = NUM_CLASSES, seed: int = 0):
    """Normalized-looking inputs and one-hot labels covering several classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype("float32")
    y = np.eye(num_classes, dtype="float32")[np.arange(n) % num_classes]
    return x, y


def training_loss(model, x, y):
    """The compiled training loss (auxiliary terms included) in training mode."""
    y_pred = model(x, training=True)
    return model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)


def loss_and_gradients(model, x, y):
    with tf.GradientTape() as tape:
        loss = training_loss(model, x, y)
    return loss, tape.gradient(loss, model.trainable_variables)


@pytest.fixture(autouse=True)
def _seeded():
    import keras

    keras.utils.set_random_seed(0)
