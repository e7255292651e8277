"""Cross-entropy with label smoothing and a signed entropy term on the predicted distribution.

    L = CE(y, p) - beta * H(p),    H(p) = -sum_k p_k log p_k,    beta = `train.loss.entropy_penalty`

beta > 0 is the confidence penalty of Pereyra et al. 2017 ("Regularizing neural networks by
penalizing confident output distributions"): low-entropy, over-confident predictions cost more,
so training prefers spread-out probabilities. beta < 0 rewards confidence (entropy minimization).

The course writes the same family as L = L_original - lambda * sum_k p_k log p_k = CE + lambda * H(p),
so its lambda is -beta: the course's lambda < 0 is the confidence penalty. Its sentence "the positive
direction penalizes over-confident predictions" is what `entropy_penalty > 0` does here.
"""

import keras
from keras import ops

EPSILON = 1e-7


def entropy(probabilities):
    """Shannon entropy H(p) = -sum_k p_k log p_k of each row, in nats (0 log 0 = 0)."""
    p = ops.clip(probabilities, EPSILON, 1.0)
    return -ops.sum(probabilities * ops.log(p), axis=-1)


def bernoulli_entropy(probabilities):
    """Mean over labels of each independent sigmoid's entropy -p log p - (1-p) log(1-p)."""
    p = ops.clip(probabilities, EPSILON, 1.0 - EPSILON)
    return -ops.mean(probabilities * ops.log(p) + (1.0 - probabilities) * ops.log(1.0 - p), axis=-1)


@keras.saving.register_keras_serializable(package="imgclf")
class EntropyRegularizedCrossentropy(keras.losses.Loss):
    """L = CE(y, p) - entropy_penalty * H(p), per example (see the module docstring for the sign).

    `multi_label=False`: softmax outputs, categorical cross-entropy, Shannon entropy over classes.
    `multi_label=True`: independent sigmoids, binary cross-entropy and Bernoulli entropy, both
    averaged over the labels.
    """

    def __init__(
        self,
        entropy_penalty=0.0,
        label_smoothing=0.0,
        multi_label=False,
        name="entropy_regularized_crossentropy",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.entropy_penalty = float(entropy_penalty)
        self.label_smoothing = float(label_smoothing)
        self.multi_label = bool(multi_label)

    def call(self, y_true, y_pred):
        if self.multi_label:
            ce = keras.losses.binary_crossentropy(y_true, y_pred, label_smoothing=self.label_smoothing)
            h = bernoulli_entropy(y_pred) if self.entropy_penalty else None
        else:
            ce = keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=self.label_smoothing)
            h = entropy(y_pred) if self.entropy_penalty else None
        if h is None:
            return ce
        return ce - self.entropy_penalty * h

    def get_config(self):
        return {
            **super().get_config(),
            "entropy_penalty": self.entropy_penalty,
            "label_smoothing": self.label_smoothing,
            "multi_label": self.multi_label,
        }
