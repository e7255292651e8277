"""train.class_weight: auto weights each class by inverse frequency, and Keras fit really applies it."""

import keras
import numpy as np
import pytest

from pipelines.config import load_config
from pipelines.training.prepare import class_weights


def test_inverse_frequency_weights_balance_the_classes():
    labels = np.array([0] * 60 + [1] * 30 + [2] * 10)
    weights = class_weights(labels, 3)
    assert weights == pytest.approx({0: 100 / 180, 1: 100 / 90, 2: 100 / 30})
    counts = np.bincount(labels)
    total_per_class = [weights[c] * counts[c] for c in range(3)]
    assert total_per_class == pytest.approx([100 / 3] * 3)  # each class carries the same weight


def test_balanced_folder_gets_weights_of_one():
    assert class_weights(np.array([0, 1, 2, 0, 1, 2]), 3) == pytest.approx({0: 1.0, 1: 1.0, 2: 1.0})


def test_fit_with_the_weights_moves_a_majority_guesser_toward_the_minority():
    """Same data, same init: the weighted loss makes the rare class's probability higher."""
    rng = np.random.default_rng(0)
    labels = np.array([0] * 90 + [1] * 10)
    x = rng.normal(size=(100, 3)).astype("float32")  # uninformative features: only the prior is learnable
    y = np.eye(2, dtype="float32")[labels]

    def train(class_weight):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.5), "categorical_crossentropy")
        model.fit(x, y, batch_size=20, epochs=20, verbose=0, class_weight=class_weight, shuffle=False)
        return model.predict(x, verbose=0)[:, 1].mean()

    plain, weighted = train(None), train(class_weights(labels, 2))
    assert plain < 0.2  # learns the 10% prior
    assert weighted > 0.4  # balanced: the rare class is no longer ignored


def test_config_accepts_auto_and_refuses_anything_else():
    assert load_config(None, ["train.class_weight=auto"]).train.class_weight == "auto"
    with pytest.raises(Exception, match="class_weight"):
        load_config(None, ["train.class_weight=balanced"])
