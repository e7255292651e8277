"""train.progressive_resize: small images early, full size late; validation and serving at full size."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipelines.config import CONFIG_DIR, load_config
from pipelines.config.train import ProgressiveResizeConfig
from pipelines.training.progressive import ProgressiveResize
from pipelines.training.progressive_schedule import side_at
from tests.models.conftest import tiny_config


def test_the_side_grows_linearly_in_multiples_then_stays_full():
    cfg = ProgressiveResizeConfig(start_scale=0.5, full_size_at=0.5, multiple=8)
    sides = [side_at(epoch, 10, 64, cfg) for epoch in range(10)]
    assert sides == [32, 40, 48, 48, 56, 64, 64, 64, 64, 64]  # 32 + 32 * e/5 (32, 38.4, 44.8, ...) to the nearest 8
    off = ProgressiveResizeConfig()  # start_scale 1.0: every epoch at full size
    assert {side_at(epoch, 10, 64, off) for epoch in range(10)} == {64}
    tiny = ProgressiveResizeConfig(start_scale=0.25, multiple=8)
    assert side_at(0, 10, 16, tiny) == 8  # never below one multiple


def test_each_snapshot_cycle_grows_the_side_again_and_leftover_epochs_stay_full():
    cfg = ProgressiveResizeConfig(start_scale=0.5, full_size_at=0.5, multiple=8)
    callback = ProgressiveResize(cfg, (64, 64), epochs=9, cycles=2)  # cycles of 4, one epoch left over
    sides = [callback.shape_at(epoch)[0] for epoch in range(9)]
    assert sides == [32, 48, 64, 64, 32, 48, 64, 64, 64]


def test_the_callback_resizes_the_training_batches_at_each_epoch_start():
    images = np.random.default_rng(0).integers(0, 256, size=(4, 32, 24, 3), dtype=np.uint8)
    ds = tf.data.Dataset.from_tensors((images, np.zeros(4)))
    cfg = ProgressiveResizeConfig(start_scale=0.5, full_size_at=0.5, multiple=4)
    callback = ProgressiveResize(cfg, (32, 24), epochs=4)
    resized = callback.resize(ds)

    callback.on_epoch_begin(0)
    first = next(iter(resized))[0].numpy()
    assert first.shape == (4, 16, 12, 3)
    assert first.dtype == np.uint8
    # Area averaging of 2x2 blocks, rounded back to pixels.
    blocks = images.reshape(4, 16, 2, 12, 2, 3).astype(np.float64).mean(axis=(2, 4))
    np.testing.assert_allclose(first, np.round(blocks), atol=1)
    callback.on_epoch_begin(2)
    last = next(iter(resized))[0].numpy()
    np.testing.assert_array_equal(last, images)  # full size: the pixels themselves


def test_an_any_size_vgg_trains_at_two_sizes_with_the_same_weights():
    from models import build_model

    keras.utils.set_random_seed(0)
    network = build_model(tiny_config("vgg", vgg_head="gap"), (16, 16, 3), 4, any_size=True)
    assert network.input_shape == (None, None, None, 3)
    network.compile(optimizer="sgd", loss="categorical_crossentropy")
    y = np.eye(4, dtype="float32")[[0, 1, 2, 3]]
    for side in (8, 16):  # 8 px still passes every pooling stage ("same" pooling of 1x1 maps)
        network.fit(np.random.rand(4, side, side, 3).astype("float32"), y, epochs=1, verbose=0)
    fixed = build_model(tiny_config("vgg", vgg_head="gap"), (16, 16, 3), 4)
    assert [w.shape for w in fixed.weights] == [w.shape for w in network.weights]


@pytest.mark.parametrize(("family", "options"), [("mlp", {}), ("vgg", {"vgg_head": "paper"})])
def test_a_network_that_needs_the_size_is_refused_in_one_line(family, options):
    from models import build_model

    with pytest.raises(
        ValueError, match=r"^train\.progressive_resize needs a network that takes any image size"
    ) as error:
        build_model(tiny_config(family, **options), (16, 16, 3), 4, any_size=True)
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_a_progressive_run_trains_small_then_full_and_serves_the_full_size(mlflow_store, tmp_path):
    from models.saving import load_keras_model
    from pipelines.training.workflow import run_training

    cfg = load_config(
        CONFIG_DIR / "digits_vgg.yaml",
        [
            "train.epochs=3",
            "train.progressive_resize.start_scale=0.5",
            "train.progressive_resize.full_size_at=0.5",
            "train.gradient_health.batch_size=16",
            "evaluate.tta=flip_crops",
            "tracking.register_model=false",
            f"output_dir={tmp_path / 'out'}",
        ],
    )
    result = run_training(cfg)
    run_dir = next((tmp_path / "out").iterdir())
    served = load_keras_model(run_dir / "model.keras")
    assert served.input_shape == (None, 32, 32, 1)  # fixed, whatever sizes training used
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 4  # header + 3 epochs
    metrics = json.loads((run_dir / "reports" / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(result.test_accuracy)
    assert result.test_accuracy > 0.3  # trained at 16, 24 and 32 px, tested at 32: it learned
