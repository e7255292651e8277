"""`DATA=<folder>` sizes the run to the folder and the budget, not to flowers."""

import math

import numpy as np
import pytest
from PIL import Image

from app.dataset_choice import config_for
from pipelines.config import load_config

# Training images/s at 64 px of a 2-core CPU in float32 (the rate scales with the pixels): the figures
# below are worked out from these. The real measurement (app/throughput.py) has its own test.
RATE_AT_64 = {"vgg": 150.0, "inception": 95.0}


def _rates(speedup: float = 1.0, sources: list | None = None):
    """`sources`: where the networks measured were fine-tuned from (None: from scratch); a pretrained
    backbone running at the larger size it learned makes a step cost twice as much here."""
    from app.folder_defaults import EPOCH_OVERHEAD

    def measured(config_path, size, channels, num_classes, batch, pretrained=None):
        family = "vgg" if "vgg" in str(config_path) else "inception"
        if sources is not None:
            sources.append(pretrained)
        slower = 2.0 if pretrained else 1.0
        return RATE_AT_64[family] * (64 / size) ** 2 * EPOCH_OVERHEAD * speedup / slower, 0.0

    return measured


@pytest.fixture(autouse=True)
def two_core_rates(monkeypatch):
    """This machine 'measures' the rates above; one test makes it faster."""
    monkeypatch.setattr("app.folder_defaults.measured_rate", _rates())


@pytest.fixture(autouse=True)
def full_size_epochs(monkeypatch):
    """The figures below are for epochs at full size; the progressive tests at the end turn it on."""
    from app.folder_defaults import shipped_train
    from pipelines.config.train import ProgressiveResizeConfig

    monkeypatch.setattr(
        "app.folder_defaults.shipped_train",
        lambda family: shipped_train(family).model_copy(update={"progressive_resize": ProgressiveResizeConfig()}),
    )


def _photos(root, counts, side):
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(np.full((side, side + 10, 3), i % 250, np.uint8)).save(root / name / f"{i}.jpg")
    return root


def _cfg(family, root, budget=None):
    overrides = [f"train.time_budget_minutes={budget}"] if budget else []
    config, chosen = config_for(family, str(root), budget)
    return load_config(config, [*chosen, *overrides])


def test_few_large_photos_get_full_resolution_and_many_epochs(tmp_path):
    cfg = _cfg("vgg", _photos(tmp_path / "p", {"a": 150, "b": 150}, side=140))
    # 210 training images + 45 validation (/3) + the 128-image probe = 353 per epoch:
    # 128 px leaves 600 s x 37.5 img/s / 353 = 63 epochs: one schedule of 60 (a second cycle needs 120).
    assert cfg.data.image_size == (128, 128)
    assert cfg.train.epochs == 60
    assert cfg.train.snapshot_cycles == 1
    assert cfg.train.time_budget_minutes == 10
    assert cfg.train.class_weight == "none"


def test_a_short_budget_trades_resolution_for_epochs(tmp_path):
    cfg = _cfg("vgg", _photos(tmp_path / "p", {"a": 150, "b": 150}, side=140), budget=2)
    # 2 minutes: 128 px gives 120 x 37.5 / 353 = 12 epochs (< 20), 96 px 120 x 66.7 / 353 = 22.
    assert cfg.data.image_size == (96, 96)
    assert cfg.train.epochs == 22
    assert cfg.train.time_budget_minutes == 2


def test_small_photos_are_not_upscaled_and_imbalance_turns_on_class_weights(tmp_path):
    cfg = _cfg("inception", _photos(tmp_path / "p", {"a": 40, "b": 10}, side=44))
    assert cfg.data.image_size == (40, 40)
    assert cfg.train.class_weight == "auto"


def test_train_folder_counts_are_the_training_set_and_the_mlp_keeps_its_size(tmp_path):
    root = tmp_path / "p"
    _photos(root / "train", {"a": 20, "b": 20}, side=100)
    _photos(root / "val", {"a": 5, "b": 5}, side=100)
    # 30 s; per epoch 40 + 10 / 3 + 128 = 171: 96 px gives 11 epochs (< 20), 64 px 26.
    cfg = _cfg("vgg", root, budget=0.5)
    assert cfg.data.image_size == (64, 64)
    assert cfg.train.epochs == 26
    mlp = _cfg("mlp", root)
    assert mlp.data.image_size == (32, 32)


@pytest.mark.parametrize("family", ["vgg", "mlp"])
def test_an_empty_folder_adds_nothing_but_its_path(family, tmp_path):
    (tmp_path / "empty").mkdir()
    assert config_for(family, str(tmp_path / "empty"))[1] == [f"data.path={tmp_path / 'empty'}"]


def test_a_faster_machine_gets_the_epochs_its_faster_steps_buy(tmp_path, monkeypatch):
    monkeypatch.setattr("app.folder_defaults.measured_rate", _rates(speedup=1.6))
    cfg = _cfg("vgg", _photos(tmp_path / "p", {"a": 150, "b": 150}, side=140), budget=2)
    # As in the 2-minute test above, at 1.6x the rate: 128 px gives
    # floor(120 x 37.5 x 1.6 / 353) epochs, enough (>= 20) to keep the full resolution.
    epochs_at_128 = int(120 * 37.5 * 1.6 / 353)
    assert epochs_at_128 >= 20
    assert cfg.data.image_size == (128, 128)
    assert cfg.train.epochs == epochs_at_128


def test_graph_tracing_time_is_taken_out_of_the_budget(tmp_path, monkeypatch):
    from app.folder_defaults import _size_and_epochs
    from pipelines.config.train import ProgressiveResizeConfig

    off = ProgressiveResizeConfig()
    _, untraced = _size_and_epochs(lambda size: (100.0, 0.0), 1000, 0, 64, 300, off)
    _, traced = _size_and_epochs(lambda size: (100.0, 20.0), 1000, 0, 64, 300, off)
    assert untraced == math.floor(300 * 100 / 1.15 / 1000)
    assert traced == math.floor((300 - 3 * 20) * 100 / 1.15 / 1000)


@pytest.mark.slow
def test_the_rate_is_measured_on_this_machine_with_the_family_network():
    from app.throughput import training_rate
    from pipelines.config import CONFIG_DIR

    rate, tracing = training_rate(CONFIG_DIR / "flowers_vgg.yaml", 32, 3, 2, 8)
    assert 1.0 < rate < 1e5  # images/s of real steps
    assert tracing > 0.0


@pytest.mark.slow
def test_a_fine_tuned_run_is_timed_on_its_own_network(tmp_path, monkeypatch, caplog):
    """The pretrained backbone, at the size it learned, under the new head: not the scratch network."""
    import pipelines.training.fine_tune as fine_tune
    from app.throughput import training_rate
    from pipelines.config import CONFIG_DIR
    from tests.pipelines.test_fine_tune import _project_model_file

    source, _ = _project_model_file(tmp_path, shape=(48, 48, 3))
    built = []
    build = fine_tune.build_pretrained_network
    monkeypatch.setattr(
        fine_tune, "build_pretrained_network", lambda *a: built.append(build(*a)[0]) or (built[-1], None)
    )
    with caplog.at_level("INFO", logger="app.throughput"):
        rate, _ = training_rate(CONFIG_DIR / "flowers_vgg.yaml", 32, 3, 2, 8, pretrained=str(source))
    assert 1.0 < rate < 1e5
    (network,) = built
    assert network.input_shape == (None, 32, 32, 3)
    assert network.get_layer("backbone").input_shape == (None, 48, 48, 3)  # the source's size, not the run's
    assert network.output_shape == (None, 2)
    assert f"vgg fine-tuned from {source} at 32 px" in caplog.text


def test_progressive_resizing_buys_the_epochs_its_cheaper_epochs_save():
    from app.folder_defaults import _size_and_epochs
    from pipelines.config.train import ProgressiveResizeConfig
    from pipelines.training.progressive_schedule import mean_cost

    off, on = ProgressiveResizeConfig(), ProgressiveResizeConfig(start_scale=0.5, full_size_at=0.5)
    rate = RATE_AT_64["vgg"]
    # 64 px photos, 1,000 training images + 100 of validation and probe, 5 minutes.
    size, plain = _size_and_epochs(lambda side: (rate * 1.15, 0.0), 1000, 100, 64, 300, off)
    assert (size, plain) == (64, math.floor(300 * rate / 1100))
    _, progressive = _size_and_epochs(lambda side: (rate * 1.15, 0.0), 1000, 100, 64, 300, on)
    cost = mean_cost(progressive, 64, on)
    assert 0.6 < cost < 0.9  # half the side for the first epochs, full size for the second half
    assert progressive > plain
    # ...and they still fit the budget at the measured rate.
    assert progressive * (1000 * cost + 100) <= 300 * rate


def test_mean_cost_follows_the_sides():
    from pipelines.config.train import ProgressiveResizeConfig
    from pipelines.training.progressive_schedule import mean_cost

    cfg = ProgressiveResizeConfig(start_scale=0.5, full_size_at=0.5, multiple=8)
    # sides over 4 epochs: 32, 48, 64, 64 -> (1/4 + 9/16 + 1 + 1) / 4
    assert mean_cost(4, 64, cfg) == pytest.approx((0.25 + 0.5625 + 1 + 1) / 4)
    assert mean_cost(10, 64, ProgressiveResizeConfig()) == 1.0


def test_the_shipped_vgg_config_resizes_progressively_and_gets_more_epochs(tmp_path, monkeypatch):
    import app.folder_defaults

    photos = _photos(tmp_path / "p", {"a": 150, "b": 150}, side=140)
    full_size = _cfg("vgg", photos, budget=2)
    monkeypatch.undo()  # the shipped settings, the same rates again
    monkeypatch.setattr("app.folder_defaults.measured_rate", _rates())
    assert app.folder_defaults.shipped_train("vgg").progressive_resize.start_scale < 1
    progressive = _cfg("vgg", photos, budget=2)
    assert progressive.train.progressive_resize.start_scale < 1
    assert progressive.data.image_size == full_size.data.image_size == (96, 96)
    assert progressive.train.epochs > full_size.train.epochs


def test_a_small_folder_gets_smaller_batches_with_the_learning_rate_scaled(tmp_path):
    from pipelines.config import CONFIG_DIR

    flowers = load_config(CONFIG_DIR / "flowers_vgg.yaml")
    small = _cfg("vgg", _photos(tmp_path / "p", {"a": 150, "b": 150}, side=70))  # 210 training images
    assert flowers.train.batch_size == 64
    assert small.train.batch_size == 32  # 210 / 64 = 3 steps an epoch: too few
    assert small.train.optimizer.learning_rate == pytest.approx(flowers.train.optimizer.learning_rate / 2)
    many = tmp_path / "many"
    _photos(many / "train", {"a": 700, "b": 700}, side=70)  # 1,400 / 64 = 22 steps: the config's batch
    assert _cfg("vgg", many, budget=1).train.batch_size == 64


def test_a_pretrained_start_gets_the_fine_tuning_recipe_at_its_own_rate(tmp_path, monkeypatch):
    """With model.pretrained the folder defaults trade resolution for epochs: 64 px, as many as fit
    at the rate of the fine-tuned network (measured with the source's backbone)."""
    import argparse

    from app.cli import resolve_config_args

    photos = _photos(tmp_path / "p", {"a": 150, "b": 150}, side=140)
    scratch = _cfg("vgg", photos)
    assert scratch.data.image_size == (128, 128)
    sources = []
    monkeypatch.setattr("app.folder_defaults.measured_rate", _rates(sources=sources))
    args = argparse.Namespace(config=None, overrides=["model.pretrained=run123"], family="vgg", data=str(photos))
    config, overrides = resolve_config_args(args)
    cfg = load_config(config, overrides)
    assert sources == ["run123"]  # one size measured, on the network that fine-tuning trains
    # 64 px at half the scratch rate: 600 s x 75 img/s / 353 per epoch = 127 epochs: two cycles of 60.
    # (The scratch network's rate would have planned 254: four cycles the budget cannot hold.)
    assert cfg.data.image_size == (64, 64)
    assert (cfg.train.epochs, cfg.train.snapshot_cycles) == (120, 2)
    assert cfg.model.pretrained == "run123"


@pytest.mark.parametrize(
    ("fit", "expected"),
    [(3, (1, 5)), (40, (1, 40)), (90, (1, 60)), (120, (2, 120)), (179, (2, 120)), (180, (3, 180)), (1000, (4, 240))],
)
def test_epochs_beyond_one_schedule_become_snapshot_cycles(fit, expected):
    """Every further MAX_EPOCHS the budget holds buys one more cycle of the same length, at most MAX_CYCLES."""
    from app.folder_defaults import cycles_and_epochs

    assert cycles_and_epochs(fit) == expected


def test_a_budget_that_holds_one_schedule_stays_a_single_cycle(tmp_path):
    cfg = _cfg("vgg", _photos(tmp_path / "p", {"a": 150, "b": 150}, side=140), budget=2)
    assert cfg.train.snapshot_cycles == 1
