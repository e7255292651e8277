"""Adding a model family is one decorated function: a throwaway family trains through the real CLI."""

from tests.helpers import FAST, PYTHON, client, run_cli

# The whole family, as a user would write it in models/families/<name>.py (here: in a string,
# registered in the subprocess before the CLI runs).
PLUGIN = """
import keras
from models.heads import build_head
from models.registry import register

@register("tiny_linear")
def build_tiny_linear(cfg, input_shape, num_classes):
    inputs = keras.Input(shape=input_shape, name="image")
    outputs = build_head(keras.layers.Flatten()(inputs), cfg.task, num_classes)
    return keras.Model(inputs, outputs, name="tiny_linear")

from app.cli import main
raise SystemExit(main())
"""


def test_a_family_registered_outside_the_package_trains_one_epoch_through_the_cli(mlflow_store, tmp_path):
    fast = [o for o in FAST if not o.startswith("model.")]  # FAST sizes the MLP: refused for another family
    command = [PYTHON, "-c", PLUGIN, "train", *fast, "model.name=tiny_linear", "train.epochs=1"]
    command += ["tracking.register_model=false", f"output_dir={tmp_path / 'out'}"]
    out = run_cli(command, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    run_id = out.stdout.split("run id:")[1].split()[0]
    run = client(mlflow_store).get_run(run_id)
    assert run.data.tags["model_family"] == "tiny_linear"
    assert run.data.metrics["test_accuracy"] > 0.15  # above chance (0.1) after one epoch of a linear model


def test_an_unregistered_family_name_is_refused_before_training():
    from tests.helpers import app_command

    out = run_cli(app_command("train", "model.name=tiny_linear"), timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "error: config key 'model.name' = 'tiny_linear': unknown model family; choose one of inception, mlp, vgg"
    )
