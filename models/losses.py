"""Losses: categorical cross-entropy with label smoothing and a signed entropy term."""

import keras
from keras import ops


def entropy(probabilities):
    """Shannon entropy H(p) = -sum_k p_k log p_k of each row, in nats."""
    p = ops.clip(probabilities, 1e-7, 1.0)
    return -ops.sum(probabilities * ops.log(p), axis=-1)


@keras.saving.register_keras_serializable(package="imgclf")
class EntropyRegularizedCrossentropy(keras.losses.Loss):
    """L = CE(y, p) - beta * H(p)... written the course's way: L = CE + beta * sum_k p_k log p_k.

    beta > 0 subtracts entropy, so confident (low-entropy) predictions cost more: the
    confidence penalty of Pereyra et al. 2017. beta < 0 rewards confidence (entropy minimization).
    """

    def __init__(self, entropy_penalty=0.0, label_smoothing=0.0, name="entropy_regularized_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.entropy_penalty = float(entropy_penalty)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        ce = keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=self.label_smoothing)
        if not self.entropy_penalty:
            return ce
        return ce - self.entropy_penalty * entropy(y_pred)

    def get_config(self):
        return {
            **super().get_config(),
            "entropy_penalty": self.entropy_penalty,
            "label_smoothing": self.label_smoothing,
        }


def build_loss(cfg):
    return EntropyRegularizedCrossentropy(cfg.entropy_penalty, cfg.label_smoothing)
