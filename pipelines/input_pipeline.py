"""tf.data input pipelines: cached uint8 images -> shuffle -> batch -> albumentations -> prefetch.

Augmentation runs on whole batches inside `tf.numpy_function`, several batches at once:
albumentations' OpenCV kernels release the GIL, so parallel batch calls use every core,
while per-image calls would spend their time in Python overhead.
"""

import copy
import math
import threading

import numpy as np
import tensorflow as tf

from data.dataset import ImageSet

AUTOTUNE = tf.data.AUTOTUNE


def build_train_ds(images: ImageSet, num_classes: int, batch_size: int, augmenter, seed: int, shuffle_buffer: int):
    """Infinite, shuffled, augmented batches; use with steps_per_epoch(len(images), batch_size).

    Repeating before batching keeps one global batch counter across epochs, which seeds the
    augmentation of each batch: the stream is the same for the same seed, whatever thread
    runs which batch, and different in every epoch.
    """
    ds = tf.data.Dataset.from_tensor_slices((images.images, images.labels)).cache()
    ds = ds.shuffle(min(shuffle_buffer, len(images)), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(batch_size, drop_remainder=len(images) >= batch_size)
    if augmenter is not None:
        apply = _batch_augmenter(augmenter, seed)
        counter = tf.data.Dataset.counter()
        ds = tf.data.Dataset.zip((ds, counter)).map(
            lambda batch, step: (_augment(apply, batch[0], step), batch[1]),
            num_parallel_calls=AUTOTUNE,
            deterministic=True,
        )
    return ds.map(lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, num_classes))).prefetch(AUTOTUNE)


def build_eval_ds(images: ImageSet, num_classes: int, batch_size: int):
    ds = tf.data.Dataset.from_tensor_slices((images.images, images.labels)).batch(batch_size)
    return ds.map(lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, num_classes))).prefetch(AUTOTUNE)


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    return max(1, math.ceil(num_images / batch_size))


def _augment(apply, images, step):
    out = tf.numpy_function(apply, [images, step], tf.uint8, stateful=False)
    return tf.ensure_shape(out, images.shape)


def _batch_augmenter(augmenter, seed: int):
    """A function (uint8 batch, batch index) -> augmented batch, safe to call from many threads."""
    local = threading.local()

    def apply(batch: np.ndarray, step: np.int64) -> np.ndarray:
        if not hasattr(local, "compose"):
            # Transforms hold random state: one copy per tf.data worker thread.
            local.compose = copy.deepcopy(augmenter)
        local.compose.set_random_seed(int(seed) * 1_000_003 + int(step))
        out = np.empty_like(batch)
        for i, image in enumerate(batch):
            augmented = local.compose(image=image)["image"]
            out[i] = augmented.reshape(out[i].shape)
        return out

    return apply
