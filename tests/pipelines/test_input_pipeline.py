"""The tf.data training pipeline: seeded, complete epochs, workers == threads, normalization parity."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from data.dataset import ImageSet
from pipelines.config.augment import AugmentConfig
from pipelines.inputs.augment import build_augmenter
from pipelines.inputs.datasets import build_eval_ds, build_train_ds, steps_per_epoch


def labelled_images(count=40, size=16, classes=4):
    """Each image's pixels hold its own index, so a batch can be traced back to its files."""
    labels = np.arange(count, dtype=np.int32) % classes
    images = np.zeros((count, size, size, 3), np.uint8)
    images[..., 0] = np.arange(count, dtype=np.uint8)[:, None, None]
    images[..., 1] = (labels * 50)[:, None, None]
    return ImageSet(images, labels, [f"img{i}" for i in range(count)])


def take(ds, batches):
    return [batch for batch, _ in zip(ds.as_numpy_iterator(), range(batches), strict=False)]


def test_each_epoch_sees_every_image_once_with_matching_labels():
    images = labelled_images(40)
    ds = build_train_ds(images, 4, 8, None, seed=1, shuffle_buffer=1000)
    batches = take(ds, 10)
    for epoch in (batches[:5], batches[5:]):
        seen = np.concatenate([x[:, 0, 0, 0] for x, _ in epoch])
        assert sorted(seen.tolist()) == list(range(40))
    for x, y in take(ds, 3):
        assert x.dtype == np.uint8
        assert y.shape == (8, 4)
        np.testing.assert_array_equal(y.argmax(1) * 50, x[:, 0, 0, 1])
    assert steps_per_epoch(40, 8) == 5
    assert steps_per_epoch(41, 8) == 6


def test_augmented_stream_is_seeded_and_the_same_in_workers_and_threads():
    images = labelled_images(48, size=24)
    augmenter = build_augmenter(AugmentConfig(preset="heavy"), (24, 24), seed=3)

    def stream(seed, workers):
        return take(build_train_ds(images, 4, 8, augmenter, seed=seed, shuffle_buffer=1000, workers=workers), 8)

    threads, processes, other = stream(3, 0), stream(3, 2), stream(4, 0)
    for (xa, ya), (xb, yb) in zip(threads, processes, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(threads, other, strict=True))
    # Fresh augmentation every epoch: batch 0 and batch 6 (next epoch) use different seeds.
    assert not np.array_equal(threads[0][0], threads[6][0])


def test_closed_pool_fails_instead_of_hanging():
    from pipelines.inputs.augment_pool import AugmentPool

    images = labelled_images(16)
    augmenter = build_augmenter(AugmentConfig(preset="light"), (16, 16), seed=0)
    pool = AugmentPool(images.images, augmenter, seed=0, workers=1, batch_size=4)
    out = pool.augment(np.array([3, 1, 2]), np.int64(0))
    assert out.shape == (3, 16, 16, 3)
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.augment(np.array([0]), np.int64(1))


def test_a_runs_pools_are_closed_when_it_ends_though_its_dataset_lives_on():
    """tf.data keeps a dataset's numpy_function (and its pool) alive; a search runs many trials in one
    process: without close_open_pools, each trial left its worker processes running."""
    import psutil

    from pipelines.inputs.augment_pool import close_open_pools

    images = labelled_images(16)
    augmenter = build_augmenter(AugmentConfig(preset="light"), (16, 16), seed=0)
    me = psutil.Process()
    before = set(me.children())
    datasets = [build_train_ds(images, 4, 4, augmenter, seed=0, shuffle_buffer=100, workers=1) for _ in range(2)]
    assert len(take(datasets[0], 1)) == 1
    assert len(set(me.children()) - before) >= 2  # one worker per pool
    close_open_pools()
    psutil.wait_procs(list(set(me.children()) - before), timeout=30)
    assert set(me.children()) - before == set()


def test_eval_ds_is_every_image_in_order():
    images = labelled_images(10)
    batches = list(build_eval_ds(images, 4, 4).as_numpy_iterator())
    assert [len(x) for x, _ in batches] == [4, 4, 2]
    assert np.concatenate([x[:, 0, 0, 0] for x, _ in batches]).tolist() == list(range(10))


def test_standardization_stats_come_from_train_and_serving_applies_the_same(tmp_path):
    import keras

    from data.decode import decode_image
    from pipelines.inputs.preprocess import channel_stats, with_preprocessing

    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (20, 6, 6, 3), dtype=np.uint8)
    train[..., 2] = 7  # a constant channel must not divide by zero
    mean, std = channel_stats(train)
    np.testing.assert_allclose(mean, train.reshape(-1, 3).mean(0))
    assert std[2] == 1.0
    assert std[0] == pytest.approx(train[..., 0].std())

    inputs = keras.Input((6, 6, 3))
    identity = keras.Model(inputs, keras.layers.Identity()(inputs))
    path = tmp_path / "model.keras"
    with_preprocessing(identity, "standardize", mean, std).save(path)
    served = keras.saving.load_model(path, safe_mode=True)

    buffer = io.BytesIO()
    Image.fromarray(train[0]).save(buffer, format="PNG")
    pixels = decode_image(buffer.getvalue(), (6, 6), 3)  # what the served pyfunc does with a file
    out = np.asarray(served.predict(pixels[None].astype(np.float32), verbose=0))[0]
    np.testing.assert_allclose(out, (train[0] - np.array(mean)) / np.array(std), rtol=1e-4, atol=1e-4)


def test_flowers_pipeline_runs_with_the_shipped_augmentation(flowers_dir):
    from data.config import DataConfig
    from data.sources import load_splits

    cfg = DataConfig(source="folder", path=str(flowers_dir), image_size=(64, 64), channels=3, max_images_per_class=30)
    splits = load_splits(cfg, seed=0)
    assert splits.class_names == ["daisy", "dandelion", "rose", "sunflower", "tulip"]
    assert not splits.skipped, splits.skipped_summary()
    augmenter = build_augmenter(AugmentConfig(preset="standard"), (64, 64), seed=0)
    x, y = take(build_train_ds(splits.train, 5, 16, augmenter, seed=0, shuffle_buffer=1000), 2)[1]
    assert x.shape == (16, 64, 64, 3)
    assert y.shape == (16, 5)
    assert 30 < x.mean() < 220  # real photos, augmented, not blank


def test_auto_workers_start_processes_only_for_a_set_worth_it():
    """A small set (digits: 80 kB) is augmented in threads: starting processes would cost more than its epoch."""
    from pipelines.inputs.augment_pool import SMALL_SET_BYTES, resolve_workers

    cores = len(os.sched_getaffinity(0))
    assert resolve_workers("auto", 1257 * 8 * 8) == 0
    assert resolve_workers("auto", SMALL_SET_BYTES) == (cores if cores > 1 else 0)
    assert resolve_workers(2, 100) == 2  # an explicit count is kept
