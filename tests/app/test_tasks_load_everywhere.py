"""Binary and multilabel models load and predict through every loader: evaluate, predict, serve, web.

Their heads carry custom layers (BinaryProbabilities), which Keras can rebuild only once the
module registering them is imported; every loader must do that (models.saving.load_keras_model).
"""

import csv
import io
import json
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tests.helpers import app_command, env_for, hardened_endpoint, run_cli, run_id_of, train, web_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_digit_folder(tmp_path_factory):
    """Real handwritten 0s and 1s (scikit-learn's digits) as PNG files in class folders."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = tmp_path_factory.mktemp("zeros-and-ones")
    for label in (0, 1):
        (root / str(label)).mkdir()
        images = digits.images[digits.target == label][:60]
        for i, image in enumerate(images):
            pixels = np.clip(image * 255.0 / 16.0 + 0.5, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / str(label) / f"{i}.png")
    return root


@pytest.mark.parametrize("task", ["binary", "multilabel"])
def test_a_model_of_each_task_loads_in_every_loader(task, two_digit_folder, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    trained = train(
        uri, tmp_path / "out", f"model.task={task}", "data.source=folder", f"data.path={two_digit_folder}",
        "model.hidden_units=[16]", "augment.preset=none", "tracking.registered_model=zeros-ones",
        "train.epochs=5", "train.optimizer.learning_rate=0.01",  # 0 vs 1 is easy: well above chance
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-3000:]
    run_id = run_id_of(trained.stdout)
    model_uri = "models:/zeros-ones@champion"
    env = env_for(uri)

    evaluated = run_cli(app_command("evaluate", "--model", run_id, "--data", str(two_digit_folder),
                                    "--output", str(tmp_path / "report")), env=env)  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["num_images"] == 120
    assert metrics["accuracy"] > 0.8
    assert "top_k" not in metrics  # 2 classes: no top-k metric anywhere
    assert not any(key.startswith("top_") for key in metrics)

    predicted = run_cli(app_command("predict", "--model", model_uri, str(two_digit_folder / "1")), env=env)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    rows = list(csv.DictReader(io.StringIO(predicted.stdout)))
    assert len(rows) == 60
    assert {row["label"] for row in rows} <= {"0", "1"}
    assert not any(row["error"] for row in rows)

    image = (two_digit_folder / "1" / "0.png").read_bytes()
    with hardened_endpoint(model_uri, uri, tmp_path) as (front, _):
        import base64

        body = json.dumps({"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(image).decode()]]}})
        request = urllib.request.Request(front + "/invocations", data=body.encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60) as response:
            served = json.loads(response.read())
    (row,) = served["predictions"]
    assert row["label"] in ("0", "1")
    assert 0.0 <= row["probability"] <= 1.0

    with web_page(model_uri, uri, tmp_path) as page:
        request = urllib.request.Request(page + "/api/predict", data=image, method="POST")
        request.add_header("Content-Type", "application/octet-stream")
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    assert answer["label"] == row["label"]
