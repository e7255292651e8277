"""The Keras callback that logs each epoch to MLflow."""

import logging

import keras

from data.errors import first_line

log = logging.getLogger(__name__)


class MlflowMetrics(keras.callbacks.Callback):
    """Log every epoch's metrics and learning rate as MLflow metrics, step = the epoch as the terminal
    counts it (1-based), so the UI's Step axis, `best_epoch` and `epoch 3/20` agree.

    A tracking server that stops answering mid-run must not kill the training: the error is
    logged once, tracking stops, and the checkpoints keep being written locally.
    """

    def __init__(self, mlflow, learning_rate_fn):
        super().__init__()
        self.mlflow = mlflow
        self.learning_rate_fn = learning_rate_fn
        self.failed = False

    def on_epoch_end(self, epoch, logs=None):
        if self.failed:
            return
        metrics = {k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}
        metrics["learning_rate"] = self.learning_rate_fn()
        try:
            self.mlflow.log_metrics(metrics, step=epoch + 1)
        except Exception as err:  # any transport error: keep training, keep the weights
            self.failed = True
            log.error("MLflow stopped answering at epoch %d; training goes on untracked: %s", epoch, first_line(err))
