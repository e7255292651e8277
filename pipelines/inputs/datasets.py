"""tf.data input pipelines: decoded uint8 images in memory -> shuffled batches -> albumentations -> prefetch.

The pipeline shuffles and batches image *indices*, not images: a full shuffle costs a few
bytes per image, and each batch is gathered once, by whoever augments it. Augmentation runs
on whole batches, in worker processes (pipelines/inputs/augment_pool.py) or, with `workers: 0`, in
tf.data's own threads. Either way batch number `step` is seeded by (seed, step) alone, so the
stream is the same for the same seed, whatever runs which batch, and new in every epoch.

Batches leave as uint8 pixels (0..255) and one-hot labels: the model casts and normalizes
(its first layer), which moves 4x fewer bytes through the prefetch buffer and to a GPU.
"""

import copy
import logging
import math
import threading

import numpy as np
import tensorflow as tf

from data.dataset import ImageSet
from pipelines.inputs.augment_pool import AugmentPool, augment_batch, resolve_workers

log = logging.getLogger(__name__)
AUTOTUNE = tf.data.AUTOTUNE


def build_train_ds(  # noqa: PLR0913 - the dataset's independent knobs, each a config value
    images: ImageSet,
    num_classes: int,
    batch_size: int,
    augmenter,
    seed: int,
    shuffle_buffer: int,
    workers: int | str = "auto",
    first_step: int = 0,
):
    """Infinite, shuffled, augmented batches; use with steps_per_epoch(len(images), batch_size).

    Repeating before batching keeps one global batch counter across epochs (the seed of each
    batch's augmentation) and never drops images: a short last batch just continues into the
    next epoch. A resumed run passes `first_step` (epochs done x steps per epoch) so that it
    continues the augmentation stream instead of replaying the first epochs'.
    """
    count = len(images)
    if count == 0:
        raise ValueError("the training split is empty")
    indices = tf.data.Dataset.range(count).shuffle(min(shuffle_buffer, count), seed=seed, reshuffle_each_iteration=True)
    indices = indices.repeat().batch(batch_size, drop_remainder=count >= batch_size)
    numbered = tf.data.Dataset.zip((indices, tf.data.Dataset.counter(start=first_step)))
    labels = tf.constant(images.labels, dtype=tf.int32)

    if augmenter is None:
        pixels = tf.constant(images.images)
        ds = numbered.map(
            lambda idx, step: (tf.gather(pixels, idx), _one_hot(labels, idx, num_classes)), num_parallel_calls=AUTOTUNE
        )
        return ds.prefetch(AUTOTUNE)

    workers = resolve_workers(workers, images.images.nbytes)
    if workers > 0:
        pool = AugmentPool(images.images, augmenter, seed, workers, batch_size)
        apply, parallel = pool.augment, 2 * workers  # one batch running and one queued per worker
    else:
        apply, parallel = _threaded_augmenter(images.images, augmenter, seed), AUTOTUNE
    shape = (None, *images.images.shape[1:])

    def augment(idx, step):
        out = tf.numpy_function(apply, [idx, step], tf.uint8, stateful=False)
        return tf.ensure_shape(out, shape), _one_hot(labels, idx, num_classes)

    return numbered.map(augment, num_parallel_calls=parallel, deterministic=True).prefetch(AUTOTUNE)


def build_eval_ds(images: ImageSet, num_classes: int, batch_size: int):
    """Every image once, in order, unaugmented."""
    ds = tf.data.Dataset.from_tensor_slices((images.images, images.labels)).batch(batch_size)
    return ds.map(lambda x, y: (x, tf.one_hot(y, num_classes)), num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    return max(1, math.ceil(num_images / batch_size))


def _one_hot(labels, idx, num_classes: int):
    return tf.one_hot(tf.gather(labels, idx), num_classes)


def _threaded_augmenter(images: np.ndarray, augmenter, seed: int):
    """(indices, batch number) -> augmented batch, safe to call from many tf.data threads."""
    local = threading.local()

    def apply(idx: np.ndarray, step: np.int64) -> np.ndarray:
        if not hasattr(local, "augmenter"):
            # Transforms hold random state: one copy per tf.data worker thread.
            local.augmenter = copy.deepcopy(augmenter)
        batch = images[idx]
        out = np.empty_like(batch)
        augment_batch(local.augmenter, batch, out, seed, int(step))
        return out

    return apply
