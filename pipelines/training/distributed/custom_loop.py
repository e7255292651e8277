"""A training loop with `strategy.run`, for MultiWorkerMirroredStrategy.

Keras 3's `Model.fit` fails under MultiWorkerMirroredStrategy (keras-team/keras#20585), so
multi-worker training runs this loop instead. It keeps everything else of a Keras run: the same
compiled model, loss and optimizer (gradients are all-reduced by the Keras optimizer in replica
context), and the same callbacks driven through a CallbackList, so checkpoints, CSV history,
early stopping, LR reduction, NaN checks, backup/restore and MLflow logging behave as with `fit`.

Metrics are exact sums reduced across all replicas of all workers, so every worker sees the
same numbers and the callbacks on every worker take the same decisions.
"""

import keras
import tensorflow as tf

from models.auxiliary import MAIN_OUTPUT

SUM = tf.distribute.ReduceOp.SUM


# Over ~50 lines on purpose: it mirrors Keras' own fit loop (callback calls in Keras' order).
def fit_with_custom_loop(  # noqa: PLR0913 - model.fit's arguments, which it stands in for
    model,
    strategy,
    train_ds,
    val_ds,
    *,
    epochs,
    steps_per_epoch,
    initial_epoch,
    callbacks,
    task,
    top_k,
    jit_compile,
    verbose,
):
    """Train like `model.fit(train_ds, validation_data=val_ds, ...)`; returns the History callback.

    `task` and `top_k` choose the metrics as models.heads.build_compile_args does for fit.
    """
    options = tf.data.Options()
    # In-memory datasets have no files to shard by: each worker takes every N-th batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_iter = iter(strategy.experimental_distribute_dataset(train_ds.with_options(options)))
    val_dist = strategy.experimental_distribute_dataset(val_ds.with_options(options))
    train_step, eval_step = _build_steps(model, strategy, task, top_k, jit_compile)

    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList(
        [*callbacks, history],
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=epochs,
        steps=steps_per_epoch,
    )
    model.stop_training = False
    callback_list.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        totals = _Totals()
        for step in range(steps_per_epoch):
            callback_list.on_train_batch_begin(step)
            totals.add(train_step(train_iter))
            callback_list.on_train_batch_end(step, totals.logs())
        logs = totals.logs()
        val = _Totals()
        for batch in val_dist:
            val.add(eval_step(batch))
        logs.update({f"val_{k}": v for k, v in val.logs().items()})
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end()
    return history


def _build_steps(model, strategy, task: str, top_k: int | None, jit_compile: bool):
    loss_object, optimizer = model.loss, model.optimizer

    def sums(y, probabilities, per_example_loss):
        probabilities = tf.cast(probabilities, tf.float32)
        out = {"loss": tf.reduce_sum(per_example_loss), "count": tf.cast(tf.shape(y)[0], tf.float32)}
        if task == "multiclass":
            labels = tf.argmax(y, axis=-1)
            out["correct"] = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(probabilities, -1), labels), tf.float32))
            if top_k:
                hits = tf.math.in_top_k(labels, probabilities, top_k)
                out[f"top_{top_k}_accuracy"] = tf.reduce_sum(tf.cast(hits, tf.float32))  # a sum until logs()
        else:
            # Binary and multilabel heads are sigmoids: Keras' BinaryAccuracy, each label at 0.5,
            # averaged over labels, so the custom loop reports what fit reports.
            agree = tf.equal(tf.cast(probabilities > 0.5, tf.float32), tf.cast(y, tf.float32))
            out["correct"] = tf.reduce_sum(tf.reduce_mean(tf.cast(agree, tf.float32), axis=-1))
        return out

    def replica_train(x, y):
        global_batch = tf.cast(tf.shape(y)[0] * strategy.num_replicas_in_sync, tf.float32)
        with tf.GradientTape() as tape:
            probabilities, per_example = _per_example_loss(model, loss_object, y, model(x, training=True))
            # Average over the GLOBAL batch: the all-reduce then sums to the true mean gradient.
            loss = tf.reduce_sum(per_example) / global_batch
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return sums(y, probabilities, per_example)

    def replica_eval(x, y):
        probabilities = model(x, training=False)
        return sums(y, probabilities, tf.cast(loss_object.call(y, probabilities), tf.float32))

    @tf.function(jit_compile=jit_compile)
    def train_step(iterator):
        x, y = next(iterator)
        return _reduce(strategy, strategy.run(replica_train, args=(x, y)))

    @tf.function
    def eval_step(batch):
        return _reduce(strategy, strategy.run(replica_eval, args=batch))

    return train_step, eval_step


def _per_example_loss(model, loss_object, y, outputs):
    """(main probabilities, per-example loss); auxiliary classifiers (Inception) return a dict
    while training, and their losses are weighted in exactly as AuxiliaryLossModel does in fit."""
    if not isinstance(outputs, dict):
        return outputs, tf.cast(loss_object.call(y, outputs), tf.float32)
    main = outputs[MAIN_OUTPUT]
    per_example = tf.cast(loss_object.call(y, main), tf.float32)
    for name, aux in outputs.items():
        if name != MAIN_OUTPUT:
            per_example += model.aux_loss_weight * tf.cast(loss_object.call(y, aux), tf.float32)
    return main, per_example


def _reduce(strategy, per_replica: dict) -> dict:
    return {k: strategy.reduce(SUM, v, axis=None) for k, v in per_replica.items()}


class _Totals:
    """Running sums of one epoch; logs are the means Keras would report."""

    def __init__(self):
        self.sums: dict[str, float] = {}

    def add(self, step_sums: dict) -> None:
        for key, value in step_sums.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)

    def logs(self) -> dict[str, float]:
        count = self.sums.get("count", 0.0) or 1.0
        logs = {"loss": self.sums.get("loss", 0.0) / count, "accuracy": self.sums.get("correct", 0.0) / count}
        # top_<k>_accuracy, named as models.heads names it for fit
        logs |= {key: value / count for key, value in self.sums.items() if key.startswith("top_")}
        return logs
