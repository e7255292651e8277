"""The gradient-health callback: thresholds fire on the vanishing demo, stay quiet on the healthy one."""

import json

import keras
import numpy as np
import pytest

from pipelines.config import CONFIG_DIR, load_config
from pipelines.config.train import GradientHealthConfig
from pipelines.training.gradient_health import GradientHealth, layer_gradient_norms
from tests.helpers import client


def _train_demo(name: str, tmp_path, mlflow_store):
    from pipelines.training.workflow import run_dir_for, run_training

    cfg = load_config(CONFIG_DIR / f"gradient_demo_{name}.yaml", ["train.epochs=1", f"output_dir={tmp_path}"])
    result = run_training(cfg)
    report = json.loads((run_dir_for(cfg) / "reports" / "gradient_health.json").read_text())
    return result, report


@pytest.mark.slow
def test_sigmoid_demo_vanishes_and_relu_demo_is_healthy(mlflow_store, tmp_path, caplog):
    result, report = _train_demo("sigmoid", tmp_path, mlflow_store)
    vanishing = {w["layer"].split("/")[-1] for w in report["warnings"] if w["kind"] == "vanishing"}
    assert "dense1" in vanishing
    assert "predictions" not in vanishing
    assert "vanishing gradient: layer" in caplog.text
    norms = report["measurements"][-1]["norms"]
    first, last = next(iter(norms.values())), list(norms.values())[-1]
    assert first < 1e-4 * last  # orders of magnitude between the first and the last layer

    metrics = client(mlflow_store).get_run(result.run_id).data.metrics
    assert metrics["grad_norm_min"] < 1e-4
    assert metrics["grad_norm_ratio_first_to_last"] < 1e-4
    assert not [name for name in metrics if name.startswith("grad_norm/")]  # per-layer: in the report only
    artifacts = {a.path for a in client(mlflow_store).list_artifacts(result.run_id, "reports")}
    assert "reports/gradient_norms.png" in artifacts

    _, healthy = _train_demo("relu", tmp_path, mlflow_store)
    assert healthy["warnings"] == []
    values = list(healthy["measurements"][-1]["norms"].values())
    assert min(values) > 1e-2 * max(values)


def _tiny_model():
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(hidden))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


def test_norms_are_per_layer_and_repeatable():
    model = _tiny_model()
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = keras.utils.to_categorical(np.arange(16) % 3, 3)
    first, second = layer_gradient_norms(model, x, y), layer_gradient_norms(model, x, y)
    assert list(first) == ["hidden", "out"]
    assert first == second
    assert all(v > 0 for v in first.values())


def test_exploding_threshold_fires_and_metrics_are_logged():
    model = _tiny_model()
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32") * 100
    y = keras.utils.to_categorical(np.arange(16) % 3, 3)
    logged = []
    callback = GradientHealth(
        (x, y),
        GradientHealthConfig(vanishing_below=1e-12, exploding_above=1e-3),
        log_metrics=lambda m, step: logged.append((step, m)),
        steps=5,
    )
    callback.set_model(model)
    callback.on_epoch_begin(0)
    callback.on_epoch_end(0)
    assert {kind for _, _, kind, _ in callback.events} == {"exploding"}
    assert logged[0][0] == 5
    # A short summary per measurement, not one metric per layer.
    assert set(logged[0][1]) == {"grad_norm_min", "grad_norm_max", "grad_norm_ratio_first_to_last"}


def test_every_n_steps_measures_inside_the_epoch():
    model = _tiny_model()
    x = np.zeros((4, 4), "float32")
    y = keras.utils.to_categorical([0, 1, 2, 0], 3)
    callback = GradientHealth((x, y), GradientHealthConfig(every_n_steps=2), steps=6)
    callback.set_model(model)
    callback.on_epoch_begin(1)
    for batch in range(6):
        callback.on_train_batch_end(batch)
    callback.on_epoch_end(1)
    assert [step for step, _ in callback.records] == [8, 10, 12]
    # One traced function for every measurement: no tf.function retracing warning mid-progress.
    assert callback._probe._squared_norms.experimental_get_tracing_count() == 1
