"""Vanishing and exploding gradients, made visible: per-layer gradient norms on a fixed batch.

Every epoch (or every N steps) the callback takes the gradient of the training loss on the same
batch and reports, for each layer, the L2 norm of the gradient over that layer's weights. A deep
sigmoid network with small initial weights shows the first layers' norms collapsing by orders of
magnitude (each sigmoid multiplies the backward signal by at most 0.25); ReLU with He
initialization keeps them within an order or two of each other.
"""

import logging
import time

import keras
import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)


def layer_gradient_norms(model, x, y) -> dict[str, float]:
    """layer path -> L2 norm of d(loss)/d(weights) over that layer's trainable weights (one measurement)."""
    return NormProbe(model)(x, y)


class NormProbe:
    """Measures per-layer gradient norms; one traced function per probe, reused for every measurement.

    A new tf.function per call would be traced again each time, and TensorFlow's retracing
    warning would land in the middle of the progress output.

    Inference mode (training=False): measuring must not move batch-norm statistics or draw
    dropout masks, so two measurements of the same weights give the same numbers. Under a
    distribution strategy the gradient is taken in one replica (the same batch on each), since
    mirrored variables can only be differentiated in replica context.
    """

    def __init__(self, model):
        self.model = model
        self._squared_norms = tf.function(self._squared_norms_eager)

    def _squared_norms_eager(self, x, y):
        model = self.model
        with tf.GradientTape() as tape:
            predictions = model(x, training=False)
            loss = tf.cast(_loss(model, x, y, predictions), tf.float32)
        grads = tape.gradient(loss, model.trainable_variables)
        # -1 marks a variable the loss does not depend on (e.g. an unused auxiliary head).
        return tf.stack(
            [tf.constant(-1.0) if g is None else tf.reduce_sum(tf.square(tf.cast(g, tf.float32))) for g in grads]
        )

    def __call__(self, x, y) -> dict[str, float]:
        strategy = tf.distribute.get_strategy()
        result = strategy.run(self._squared_norms, args=(x, y))
        per_variable = strategy.experimental_local_results(result)[0].numpy()
        squares: dict[str, float] = {}
        for variable, square in zip(self.model.trainable_variables, per_variable, strict=True):
            if square >= 0:
                layer = variable.path.rsplit("/", 1)[0]  # e.g. "mlp/dense1/kernel" -> "mlp/dense1"
                squares[layer] = squares.get(layer, 0.0) + float(square)
        return {layer: float(np.sqrt(total)) for layer, total in squares.items()}


def _loss(model, x, y, predictions):
    if isinstance(model.loss, keras.losses.Loss):
        # Calling the loss object creates no variables: safe on the chief alone under
        # MultiWorkerMirroredStrategy, where a variable created on one worker only would
        # desynchronize the collectives of all workers.
        penalties = tf.add_n(model.losses) if model.losses else 0.0
        return model.loss(y, predictions) + penalties
    return model.compute_loss(x=x, y=y, y_pred=predictions, training=False)  # several heads


class GradientHealth(keras.callbacks.Callback):
    """Measure per-layer gradient norms, log them, warn when a layer leaves the healthy range.

    `events` holds (epoch, layer, "vanishing" | "exploding", norm) for every warning, `records`
    holds (step, {layer: norm}) for every measurement; both feed the plot and the report.
    """

    def __init__(self, probe_batch, cfg, log_metrics=None, steps: int = 1):
        super().__init__()
        self.x, self.y = probe_batch
        self.cfg = cfg
        self.log_metrics = log_metrics
        self.steps_per_epoch = max(1, steps)
        self.records: list[tuple[int, dict[str, float]]] = []
        self.events: list[tuple[int, str, str, float]] = []
        self._epoch = 0
        self._probe = None
        self.seconds = 0.0  # time spent measuring, for the epoch clock

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        every = self.cfg.every_n_steps
        if every and (batch + 1) % every == 0:
            self._measure(self._epoch * self.steps_per_epoch + batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if not self.cfg.every_n_steps:
            self._measure((epoch + 1) * self.steps_per_epoch)

    def _measure(self, step: int) -> None:
        started = time.perf_counter()
        if self._probe is None or self._probe.model is not self.model:
            self._probe = NormProbe(self.model)
        norms = self._probe(self.x, self.y)
        self.seconds += time.perf_counter() - started
        self.records.append((step, norms))
        for layer, norm in norms.items():
            kind = None
            if norm < self.cfg.vanishing_below:
                kind = "vanishing"
            elif norm > self.cfg.exploding_above:
                kind = "exploding"
            if kind:
                self.events.append((self._epoch, layer, kind, norm))
                bound = self.cfg.vanishing_below if kind == "vanishing" else self.cfg.exploding_above
                log.warning(
                    "%s gradient: layer %s has norm %.2e at step %d (threshold %.0e)", kind, layer, norm, step, bound
                )
        if self.log_metrics and norms:
            self.log_metrics(summary_metrics(norms), step=step)

    def summary(self) -> dict:
        """The report saved with the run: thresholds, every measurement, every warning."""
        return {
            "vanishing_below": self.cfg.vanishing_below,
            "exploding_above": self.cfg.exploding_above,
            "measurements": [{"step": s, "norms": n} for s, n in self.records],
            "warnings": [{"epoch": e, "layer": layer, "kind": k, "norm": n} for e, layer, k, n in self.events],
        }


def summary_metrics(norms: dict[str, float]) -> dict[str, float]:
    """Three MLflow metrics per measurement; the per-layer norms go to the report's JSON and plot.

    One chart per layer (31 for a VGG) would bury accuracy and loss in the UI's chart view.
    """
    values = list(norms.values())
    metrics = {"grad_norm_min": min(values), "grad_norm_max": max(values)}
    if values[-1] > 0:
        # First over last layer: far below 1 means the early layers barely learn.
        metrics["grad_norm_ratio_first_to_last"] = values[0] / values[-1]
    return metrics


def probe_batch(images, num_classes: int, size: int, seed: int):
    """The fixed batch measured every time: un-augmented training images chosen by the seed."""
    rng = np.random.default_rng(seed)
    index = np.sort(rng.permutation(len(images))[: min(size, len(images))])
    x = tf.constant(images.images[index], dtype=tf.float32)
    y = tf.one_hot(images.labels[index], num_classes)
    return x, y
