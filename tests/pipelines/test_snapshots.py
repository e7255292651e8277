"""Snapshot ensembles (train.snapshot_cycles): cyclic schedules, the kept cycles, what validation chooses."""

import json
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from pydantic import ValidationError

from models.ensemble import average_of
from models.optimizers import Cyclic, FollowsBudget, OneCycle, build_optimizer
from pipelines.config import load_config
from pipelines.config.train import TrainConfig
from pipelines.training.snapshots import SnapshotKeeper, choose_served_network
from tests.helpers import FAST


def _dense(units_in: int = 4, classes: int = 3) -> keras.Model:
    return keras.Sequential([keras.Input((units_in,)), keras.layers.Dense(classes, activation="softmax")], name="net")


def test_the_average_of_members_is_the_mean_of_their_predictions_and_survives_a_safe_load(tmp_path):
    network = _dense()
    first = network.get_weights()
    second = [w + 0.5 for w in first]
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    expected = []
    for weights in (first, second):
        network.set_weights(weights)
        expected.append(np.asarray(network(x)))
    ensemble = average_of(network, [first, second])
    np.testing.assert_allclose(np.asarray(ensemble(x)), np.mean(expected, axis=0), atol=1e-6)
    ensemble.save(tmp_path / "ensemble.keras")
    loaded = keras.saving.load_model(tmp_path / "ensemble.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.mean(expected, axis=0), atol=1e-6)
    with pytest.raises(ValueError, match="at least 2 members"):
        average_of(network, [first])


def test_the_cyclic_schedule_restarts_each_cycle_and_ends_annealed():
    one = OneCycle(1.0, total_steps=10, warmup_steps=3)
    cyclic = Cyclic(one, cycle_steps=10, cycles=3)
    for step in (0, 2, 3, 9):
        for cycle in range(3):
            assert float(cyclic(step + 10 * cycle)) == pytest.approx(float(one(step)))
    assert float(cyclic(30)) == pytest.approx(float(one(9)))  # past the last cycle: its end, not a restart
    restored = Cyclic.from_config(json.loads(json.dumps(cyclic.get_config())))
    assert float(restored(13)) == pytest.approx(float(one(3)))


def test_the_optimizer_plans_the_schedule_per_cycle_under_the_budget_clock():
    from models.config import OptimizerConfig

    cfg = OptimizerConfig(name="sgd", learning_rate=0.1, schedule="cosine")
    optimizer = build_optimizer(cfg, steps_per_epoch=5, epochs=12, follow_budget=True, cycles=3)
    schedule = optimizer._learning_rate
    assert isinstance(schedule, FollowsBudget)
    assert isinstance(schedule.schedule, Cyclic)
    assert schedule.total_steps == 60
    assert schedule.schedule.cycle_steps == 20
    assert float(schedule(20)) == pytest.approx(float(schedule(0)))  # cycle 2 starts where cycle 1 did


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"snapshot_cycles": 2, "optimizer": {"schedule": "constant"}}, "has none"),
        ({"snapshot_cycles": 5, "epochs": 3, "optimizer": {"schedule": "cosine"}}, "at least as many train.epochs"),
    ],
)
def test_cycles_without_a_schedule_or_epochs_are_refused_in_one_line(update, message):
    with pytest.raises(ValidationError, match=message):
        TrainConfig(**update)


def test_the_average_is_served_when_validation_prefers_it_and_a_cycle_alone_when_not():
    network = _dense(units_in=2, classes=2)
    images = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], dtype="float32")
    split = SimpleNamespace(images=images, labels=np.array([0, 1, 0, 1]))
    right = [np.array([[4.0, 0.0], [0.0, 4.0]]), np.zeros(2)]  # class = the hot input: all correct
    wrong = [np.array([[0.0, 40.0], [40.0, 0.0]]), np.zeros(2)]  # confidently the other class
    unsure = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2)]  # right, less sure

    served, figures = choose_served_network(network, [right, unsure], split, lambda net: net)
    assert figures["val_accuracy_ensemble"] == 1.0
    assert figures["snapshot_members_served"] == 2
    assert served is not network
    assert len(served.outputs) == 1

    served, figures = choose_served_network(network, [right, wrong], split, lambda net: net)
    assert (figures["val_accuracy_cycle_1"], figures["val_accuracy_cycle_2"]) == (1.0, 0.0)
    assert figures["val_accuracy_ensemble"] == 0.0
    assert figures["snapshot_members_served"] == 1
    assert served is network
    np.testing.assert_allclose(network.get_weights()[0], right[0])  # the winning cycle's weights


def test_a_resumed_keeper_reloads_the_cycles_finished_before_the_backup(tmp_path):
    network = _dense()
    model = keras.Sequential([network])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    keeper = SnapshotKeeper(network, cycles=3, epochs=6, folder=tmp_path / "snapshots")
    keeper.set_model(model)
    keeper.on_train_begin()
    for epoch in range(6):
        network.set_weights([w + 1.0 for w in network.get_weights()])
        keeper.on_epoch_end(epoch)
    kept = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert kept == ["cycle-1-epoch-2.npz", "cycle-2-epoch-4.npz"]  # the third cycle's end is the model itself
    resumed = SnapshotKeeper(network, cycles=3, epochs=6, folder=tmp_path / "snapshots", resume_epoch=3)
    resumed.on_train_begin()
    assert len(resumed.members) == 1  # cycle 2 ended after the backup's epoch: trained again
    np.testing.assert_allclose(resumed.members[0][0], keeper.members[0][0])
    SnapshotKeeper(network, 3, 6, tmp_path / "snapshots").on_train_begin()  # a fresh start
    assert not (tmp_path / "snapshots").exists()


def test_a_run_with_cycles_logs_each_and_serves_the_chosen_model(mlflow_store, tmp_path):
    """Real training on digits: two cycles kept, both scored, the served file answers like the chosen model."""
    import mlflow

    from pipelines.training.workflow import run_training

    overrides = [*FAST, "train.epochs=4", "train.snapshot_cycles=2", "train.optimizer.warmup_epochs=0",
                 f"output_dir={tmp_path / 'out'}", "tracking.register_model=false"]  # fmt: skip
    result = run_training(load_config(None, overrides))
    metrics = mlflow.get_run(result.run_id).data.metrics
    assert {"val_accuracy_cycle_1", "val_accuracy_cycle_2", "val_accuracy_ensemble"} <= set(metrics)
    assert metrics["snapshot_members_served"] in (1, 2)
    assert not (Path(result.run_dir) / "snapshots").exists()  # logged: the kept cycles are gone
    served = keras.saving.load_model(Path(result.run_dir) / "model.keras", safe_mode=True)
    ensemble_inside = any("ensemble" in layer.name for layer in served._flatten_layers())
    assert ensemble_inside == (metrics["snapshot_members_served"] == 2)


def test_a_fresh_restart_starts_the_next_cycle_from_the_first_weights_with_a_clean_optimizer(tmp_path):
    network = _dense()
    network.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="categorical_crossentropy")
    start = network.get_weights()
    seen = {}

    class AtEpochBegin(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen[epoch] = (network.get_weights(), [np.asarray(v) for v in network.optimizer.variables[2:]])

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)), np.eye(3)[rng.integers(0, 3, 16)]
    keeper = SnapshotKeeper(network, cycles=2, epochs=4, folder=tmp_path / "s", restart="fresh")
    network.fit(x, y, epochs=4, batch_size=8, verbose=0, callbacks=[keeper, AtEpochBegin()])
    assert len(keeper.members) == 1
    assert not np.allclose(keeper.members[0][0], start[0])  # cycle 1 trained
    weights, slots = seen[2]  # cycle 2's first epoch
    np.testing.assert_allclose(weights[0], start[0])
    assert all(not np.any(slot) for slot in slots)  # momentum cleared with the restart
    assert not np.allclose(network.get_weights()[0], start[0])  # and cycle 2 trained again


def test_a_fine_tuned_network_with_its_nested_backbone_averages_and_loads_safely(tmp_path):
    from models import build_model
    from models.config import family_config
    from pipelines.inputs.preprocess import with_preprocessing
    from pipelines.training.fine_tune import build_pretrained_network

    source_cfg = family_config(name="vgg", vgg_depth=11, width_multiplier=0.125, dropout=0.0)
    with_preprocessing(build_model(source_cfg, (16, 16, 3), 3), "scale").save(tmp_path / "source.keras")
    cfg = family_config(name="vgg", pretrained=str(tmp_path / "source.keras"), dropout=0.0)
    network, _ = build_pretrained_network(cfg, (16, 16, 3), 2, "scale", None, None)
    first = network.get_weights()
    second = [w * 0.5 for w in first]
    ensemble = with_preprocessing(average_of(network, [first, second]), "scale")
    ensemble.save(tmp_path / "ensemble.keras")
    loaded = keras.saving.load_model(tmp_path / "ensemble.keras", safe_mode=True)
    pixels = np.random.default_rng(0).integers(0, 256, size=(3, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(pixels)), np.asarray(ensemble(pixels)), atol=1e-5)
    assert np.asarray(loaded(pixels)).shape == (3, 2)
