"""The entropy term: value and gradient on a hand-computed example, and its sign convention.

Example: logits z with softmax p = (0.7, 0.2, 0.1), true class 0, entropy_penalty beta = 0.5.
    CE   = -ln 0.7                                   = 0.356675
    H(p) = -(0.7 ln 0.7 + 0.2 ln 0.2 + 0.1 ln 0.1)   = 0.801819
    L    = CE - beta * H                              = -0.044234
Gradient with respect to the logits:
    dCE/dz_j = p_j - y_j                              = (-0.3, 0.2, 0.1)
    dH/dz_j  = -p_j (ln p_j + H)                      = (-0.311601, 0.161524, 0.150077)
    dL/dz    = dCE/dz - beta * dH/dz                  = (-0.144200, 0.119238, 0.024962)
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.losses import EntropyRegularizedCrossentropy, entropy

P = np.array([[0.7, 0.2, 0.1]], dtype="float32")
Y = np.array([[1.0, 0.0, 0.0]], dtype="float32")


def test_entropy_value_by_hand():
    assert float(entropy(P)[0]) == pytest.approx(0.801819, abs=1e-5)
    assert float(entropy(np.array([[1.0, 0.0, 0.0]]))[0]) == pytest.approx(0.0, abs=1e-6)  # 0 log 0 = 0
    assert float(entropy(np.full((1, 4), 0.25))[0]) == pytest.approx(np.log(4), abs=1e-6)


@pytest.mark.parametrize(("beta", "expected"), [(0.0, 0.356675), (0.5, -0.044234), (-0.5, 0.757584)])
def test_loss_value_by_hand(beta, expected):
    loss = EntropyRegularizedCrossentropy(entropy_penalty=beta)
    assert float(loss(Y, P)) == pytest.approx(expected, abs=1e-5)


def test_gradient_with_respect_to_logits_by_hand():
    logits = tf.Variable(np.log(P))  # softmax(log p) = p
    loss = EntropyRegularizedCrossentropy(entropy_penalty=0.5)
    with tf.GradientTape() as tape:
        value = loss(Y, tf.nn.softmax(logits))
    grad = tape.gradient(value, logits).numpy()[0]
    np.testing.assert_allclose(grad, [-0.144200, 0.119238, 0.024962], atol=1e-5)


def test_positive_penalty_punishes_confidence_negative_rewards_it():
    # Same probability on the true class (same CE), different spread over the wrong ones.
    confident = np.array([[0.6, 0.4, 0.0]], "float32")  # H = 0.673012
    spread = np.array([[0.6, 0.2, 0.2]], "float32")  # H = 0.950271
    y = np.array([[1.0, 0.0, 0.0]], "float32")

    def loss(beta, p):
        return float(EntropyRegularizedCrossentropy(entropy_penalty=beta)(y, p))

    assert loss(0.0, confident) == pytest.approx(loss(0.0, spread), abs=1e-6)
    assert loss(0.5, confident) > loss(0.5, spread)  # Pereyra et al.: penalize over-confidence
    assert loss(-0.5, confident) < loss(-0.5, spread)  # entropy minimization
    assert loss(0.5, confident) - loss(0.5, spread) == pytest.approx(0.5 * (0.950271 - 0.673012), abs=1e-5)


def test_relation_to_the_course_formula_lambda_is_minus_beta():
    # Course: L = L_original - lambda * sum_k p_k log p_k.
    beta = 0.3
    lam = -beta
    course = -np.log(0.7) - lam * float(np.sum(P * np.log(P)))
    assert float(EntropyRegularizedCrossentropy(entropy_penalty=beta)(Y, P)) == pytest.approx(course, abs=1e-5)


def test_gradient_step_with_positive_penalty_keeps_predictions_less_confident():
    def entropy_after_steps(beta):
        logits = tf.Variable([[2.0, 0.5, -1.0]])
        loss = EntropyRegularizedCrossentropy(entropy_penalty=beta)
        optimizer = keras.optimizers.SGD(0.5)
        for _ in range(20):
            with tf.GradientTape() as tape:
                value = loss(Y, tf.nn.softmax(logits))
            optimizer.apply_gradients([(tape.gradient(value, logits), logits)])
        return float(entropy(tf.nn.softmax(logits))[0])

    assert entropy_after_steps(0.5) > entropy_after_steps(0.0) > entropy_after_steps(-0.5)


def test_label_smoothing_matches_keras_and_multilabel_uses_bernoulli_entropy():
    smoothed = EntropyRegularizedCrossentropy(label_smoothing=0.1)
    keras_value = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(Y, P)
    assert float(smoothed(Y, P)) == pytest.approx(float(keras_value), rel=1e-6)
    # Two sigmoids p = (0.9, 0.2), labels (1, 0): BCE = 0.164252, mean Bernoulli entropy = 0.412743.
    multi = EntropyRegularizedCrossentropy(entropy_penalty=0.5, multi_label=True)
    value = multi(np.array([[1.0, 0.0]], "float32"), np.array([[0.9, 0.2]], "float32"))
    assert float(value) == pytest.approx(0.164252 - 0.5 * 0.412743, abs=1e-5)


def test_loss_config_round_trips_through_keras_serialization():
    loss = EntropyRegularizedCrossentropy(entropy_penalty=-0.2, label_smoothing=0.05, multi_label=True)
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert (restored.entropy_penalty, restored.label_smoothing, restored.multi_label) == (-0.2, 0.05, True)
