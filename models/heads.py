"""Classifier heads per task, and the loss and metrics that match each of them.

| task        | output                                   | loss                       | metrics                          |
| ----------- | ---------------------------------------- | -------------------------- | -------------------------------- |
| multiclass  | softmax over num_classes                 | categorical cross-entropy  | accuracy, top_{k}_accuracy (k = min(5, n // 2); none below 4 classes) |
| binary      | one sigmoid unit, exposed as [1-p, p]    | binary cross-entropy       | accuracy, auc                    |
| multilabel  | one sigmoid per class                    | binary cross-entropy       | accuracy (per label), auc        |

Labels are (batch, num_classes) floats for every task: one-hot for multiclass and binary
(what the input pipeline yields), multi-hot for multilabel. The binary head's two columns are
the same single sigmoid unit, so cross-entropy and AUC averaged over the columns equal the
binary ones, and serving sees one probability per class like any other model.
"""

import keras
from keras import ops

from models.losses import EntropyRegularizedCrossentropy


@keras.saving.register_keras_serializable(package="imgclf")
class BinaryProbabilities(keras.layers.Layer):
    """p (batch, 1) -> [1 - p, p] (batch, 2): the probabilities of class 0 and class 1."""

    def call(self, inputs):
        return ops.concatenate([1.0 - inputs, inputs], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2)


def check_task(task: str, num_classes: int) -> None:
    if task == "binary" and num_classes != 2:
        raise ValueError(f"model.task 'binary' needs exactly 2 classes, got {num_classes}; use multiclass")
    if num_classes < 2 and task == "multiclass":
        raise ValueError(f"a multiclass head needs at least 2 classes, got {num_classes}")


def build_head(x, task: str, num_classes: int, name: str = "predictions", kernel_regularizer=None):
    """The output layer(s) for `task`, ending in a layer called `name`.

    float32 output even under mixed precision: softmax and log in float16 lose too much.
    """
    check_task(task, num_classes)
    if task == "binary":
        p = keras.layers.Dense(
            1, activation="sigmoid", kernel_regularizer=kernel_regularizer, dtype="float32", name=f"{name}_sigmoid"
        )(x)
        return BinaryProbabilities(dtype="float32", name=name)(p)
    activation = "softmax" if task == "multiclass" else "sigmoid"
    return keras.layers.Dense(
        num_classes, activation=activation, kernel_regularizer=kernel_regularizer, dtype="float32", name=name
    )(x)


def top_k(num_classes: int) -> int | None:
    """The one k of every top-k metric (validation, test, evaluate, the custom loop).

    Top-5 as for ImageNet, but never so large that it is trivially 1 (5 flower classes: top-2),
    and none below 4 classes, where top-1 would only repeat accuracy.
    """
    k = min(5, num_classes // 2)
    return k if k >= 2 else None


def top_k_name(k: int) -> str:
    """`top_5_accuracy`: the k is in the name, so top-2 on flowers never sits beside top-5 on digits
    under one metric (MLflow, reports, compare)."""
    return f"top_{k}_accuracy"


def build_compile_args(task: str, loss_cfg, num_classes: int) -> dict:
    """`loss` and `metrics` for `model.compile(**build_compile_args(...))`.

    Every task has `accuracy` (then `top_<k>_accuracy` or `auc`), so callbacks can monitor
    `val_accuracy` whatever the head.
    """
    check_task(task, num_classes)
    if task == "multiclass":
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        k = top_k(num_classes)
        if k:
            metrics.append(keras.metrics.TopKCategoricalAccuracy(k=k, name=top_k_name(k)))
    else:
        metrics = [
            keras.metrics.BinaryAccuracy(name="accuracy"),
            # Per-column AUC, averaged: for the binary head both columns give the binary AUC.
            keras.metrics.AUC(multi_label=True, num_labels=num_classes, name="auc"),
        ]
    loss = EntropyRegularizedCrossentropy(
        entropy_penalty=loss_cfg.entropy_penalty,
        label_smoothing=loss_cfg.label_smoothing,
        multi_label=task != "multiclass",
    )
    return {"loss": loss, "metrics": metrics}
