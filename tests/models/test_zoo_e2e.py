"""`python -m app train` with Inception and its auxiliary classifiers, end to end: the run
trains through the auxiliary-loss wrapper, and the model MLflow serves has one softmax output."""

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.helpers import app_command, client, run_cli, using_store


@pytest.mark.slow
def test_inception_with_aux_classifiers_trains_and_serves_one_output(mlflow_store, tmp_path):
    overrides = [
        "model.width_multiplier=0.125",
        "data.image_size=[16,16]",
        "train.epochs=1",
        # Plain SGD: Keras traces Adam's per-variable slots for ~30 s on a graph this size.
        "train.optimizer.name=sgd",
        "augment.preset=none",
        "train.gradient_health.enabled=false",
        f"output_dir={tmp_path / 'outputs'}",
    ]
    config = ROOT / "pipelines" / "configs" / "digits_inception.yaml"
    out = run_cli(app_command("train", str(config), *overrides), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    run_id = out.stdout.split("run id:")[1].split()[0]

    import keras

    run = client(mlflow_store).get_run(run_id)
    assert run.data.params["model.aux_classifiers"] == "True"
    assert "val_accuracy" in run.data.metrics  # not renamed after an output

    with using_store(mlflow_store) as mlflow:
        model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    probabilities = np.asarray(model.predict(model.input_example)["probabilities"].tolist())
    assert probabilities.shape == (1, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)

    saved = next((tmp_path / "outputs").glob("digits-inception-*/model.keras"))
    served = keras.saving.load_model(saved, compile=False, safe_mode=True)
    assert served.output_shape == (None, 10)
    names = [layer.name for inner in served.layers if isinstance(inner, keras.Model) for layer in inner.layers]
    assert "inception3a_concat" in names
    assert not [n for n in names if n.startswith("aux")]
