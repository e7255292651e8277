"""Progressive resizing: train on smaller images in the first epochs, at full size in the last ones.

An epoch at 3/4 of the side costs ~(3/4)^2 of the convolutions, so the early epochs, where the
network learns coarse shapes, run faster and the budget buys more of them. The side grows
linearly from `start_scale` x full to full at `full_size_at` of the epochs and stays there;
validation, the test report and the served model always see the full size.

Mechanics: the training batches are resized in tf.data to the side held by a tf.Variable, which
a callback sets at the start of each epoch (a resumed run sets it from its epoch). The network
takes any image size (built with None height and width), which needs a size-independent head
(global average pooling). Batches prefetched before an epoch starts keep the previous side: a
handful at each change, harmless. Sides are multiples of `multiple`, so the training step is
traced only a few times.
"""

import logging

import keras
import tensorflow as tf

from pipelines.training.progressive_schedule import side_at

log = logging.getLogger(__name__)


class ProgressiveResize(keras.callbacks.Callback):
    """Sets the training images' (height, width) at each epoch start; `resize(ds)` applies it."""

    def __init__(self, cfg, image_size: tuple[int, int], epochs: int, cycles: int = 1):
        super().__init__()
        self.cfg, self.full = cfg, tuple(image_size)
        # A snapshot ensemble (train.snapshot_cycles) grows the side again in every cycle: each
        # cycle trains as one whole run would, small images first.
        self.epochs, self.cycles = max(1, epochs // cycles), cycles
        self.size = tf.Variable(self.shape_at(0), dtype=tf.int32, trainable=False, name="progressive_size")

    def shape_at(self, epoch: int) -> list[int]:
        within = epoch - self.epochs * min(epoch // self.epochs, self.cycles - 1)
        return [side_at(within, self.epochs, full, self.cfg) for full in self.full]

    def on_epoch_begin(self, epoch, logs=None):
        shape = self.shape_at(epoch)
        if shape != self.size.numpy().tolist():
            log.info("progressive resizing: epoch %d trains at %dx%d px", epoch + 1, *shape, extra={"stage": True})
        self.size.assign(shape)

    def resize(self, ds):
        """`ds` of (uint8 images, labels) batches -> the same, images at the current size (area-averaged)."""

        def shrink(images, labels):
            # At the full size "area" resizing returns the pixels unchanged.
            resized = tf.image.resize(tf.cast(images, tf.float32), self.size.read_value(), method="area")
            return tf.cast(tf.round(resized), tf.uint8), labels

        return ds.map(shrink, num_parallel_calls=tf.data.AUTOTUNE)
