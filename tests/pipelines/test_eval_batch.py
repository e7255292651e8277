"""Validation batches: bigger than the training batch where images are small (forward only)."""


def test_validation_batches_grow_for_small_images_only():
    from pipelines.training.prepare import eval_batch_size

    assert eval_batch_size(32, (64, 64)) == 256  # forward only: 2.2x the images/s of batch 32
    assert eval_batch_size(32, (224, 224)) == 32  # large images keep the training batch
    assert eval_batch_size(512, (32, 32)) == 1024
    assert eval_batch_size(32, (64, 64), replicas=2) == 32  # mirrored: the training batch, split evenly
