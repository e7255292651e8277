"""Start from pretrained weights (`model.pretrained`) and fine-tune in two phases.

Phase 1 trains the new head only, the backbone frozen (its batch norm in inference mode), so the
large gradients of a random head do not wreck the features. Phase 2 is the run's ordinary fit
(`train.epochs`, its schedule, callbacks and budget): the whole network, the backbone stepped at
`train.fine_tune.backbone_lr_scale` x the learning rate.

Sources: `imagenet` (Keras Applications' weights from Keras' cache folder), or a model this project
logged: `models:/NAME@ALIAS`, `models:/NAME/VERSION`, a run id, or a saved `.keras` file.
"""

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from data.errors import first_line

log = logging.getLogger(__name__)
STAGE = {"stage": True}


@dataclass
class PretrainedStart:
    """What the run starts from: logged as tags, so the MLflow UI can follow it back."""

    source: str  # model.pretrained as given
    run_id: str | None  # the source's MLflow run, when it has one

    def tags(self) -> dict[str, str]:
        tags = {"pretrained_from": self.source}
        if self.run_id:
            tags["pretrained_run_id"] = self.run_id
        return tags


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: $KERAS_HOME/models, else ~/.keras/models."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def build_pretrained_network(model_cfg, input_shape, num_classes: int, normalization: str, mean, std, any_size=False):
    """(network, PretrainedStart): the family's backbone with its pretrained weights and a new head.

    `any_size`: the network takes images of any size (progressive resizing), resized to the backbone's.
    """
    from models.pretrained import pretrained_network

    if model_cfg.pretrained == "imagenet":
        backbone, backbone_norm, shape = _imagenet(model_cfg, input_shape)
        start = PretrainedStart("imagenet", None)
    else:
        backbone, backbone_norm, shape, start = _project_model(model_cfg.pretrained)
    network = pretrained_network(
        backbone,
        backbone_norm,
        shape,
        model_cfg,
        (None, None, input_shape[-1]) if any_size else tuple(input_shape),
        num_classes,
        normalization,
        mean,
        std,
    )
    log.info(
        "pretrained: backbone from %s (%s parameters), new head for %d classes",
        start.source,
        f"{backbone.count_params():,}",
        num_classes,
        extra=STAGE,
    )
    return network, start


def _imagenet(model_cfg, input_shape):
    import keras

    from models.pretrained import KERAS_WEIGHTS_URL, URL_FOLDER, ImageNetPixels, imagenet_backbone, imagenet_choice

    application, file_name, mode = imagenet_choice(model_cfg.name, getattr(model_cfg, "vgg_depth", None))
    backbone = imagenet_backbone(application, min(input_shape[:2]), input_shape[-1])
    path = keras_cache_dir() / file_name
    if not path.is_file():
        url = KERAS_WEIGHTS_URL.format(folder=URL_FOLDER[application], file=file_name)
        try:  # Keras' own download into its cache, when this machine has network
            path = Path(keras.utils.get_file(file_name, url, cache_subdir="models"))
        except Exception:  # offline: URLError, HTTPError, OSError; one line either way
            raise ValueError(
                f"model.pretrained=imagenet needs {file_name} in {keras_cache_dir()} (Keras downloads it there "
                f"when it has network: {url}); copy it there, or set KERAS_HOME to the folder above models/"
            ) from None
    try:
        backbone.load_weights(path)
    except Exception as err:  # a truncated or foreign file: h5py/ValueError
        raise ValueError(f"cannot load ImageNet weights {path}: {first_line(err)}") from None
    return backbone, [ImageNetPixels(mode, name="imagenet_pixels")], tuple(backbone.input_shape[1:])


def _project_model(source: str):
    """A model this project saved: a `.keras` file, or one logged to MLflow (registry URI or run id)."""
    from models.pretrained import backbone_of
    from models.saving import load_keras_model

    if source.endswith(".keras"):
        if not Path(source).is_file():
            raise ValueError(f"model.pretrained '{source}': no such file")
        try:
            served = load_keras_model(source)
        except Exception as err:  # not a Keras file, or one with unsafe layers
            raise ValueError(f"model.pretrained '{source}' cannot be loaded: {first_line(err)}") from None
        run_id = None
    else:
        from pipelines.evaluation.logged_model import load_logged_model

        try:
            served, _meta = load_logged_model(source)
        except ValueError as err:
            raise ValueError(f"model.pretrained: {first_line(err).removeprefix('--model ')}") from None
        run_id = _source_run_id(source)
    try:
        backbone, normalization, shape = backbone_of(served)
    except ValueError as err:
        raise ValueError(f"model.pretrained '{source}': {err}") from None
    return backbone, normalization, shape, PretrainedStart(source, run_id)


def _source_run_id(source: str) -> str | None:
    """The MLflow run that logged `source` (a run id is its own; a registry URI asks the registry)."""
    from pipelines.evaluation.logged_model import RUN_ID

    if RUN_ID.match(source):
        return source
    if source.startswith("runs:/"):
        return source.removeprefix("runs:/").split("/")[0]
    from mlflow import MlflowClient

    name_version = source.removeprefix("models:/")
    client = MlflowClient()
    if "@" in name_version:
        name, alias = name_version.split("@", 1)
        return client.get_model_version_by_alias(name, alias).run_id
    name, version = name_version.rsplit("/", 1)
    return client.get_model_version(name, version).run_id if version.isdigit() else None


def head_phase(model, network, model_cfg, train_cfg, jit_compile: bool, inputs, start_epoch: int):
    """Phase 1 (unless resuming: the backup holds later weights), then `model` ready for phase 2.

    Returns the `train` slice for phase 2: its time budget less what phase 1 took.
    """
    from models.pretrained import set_backbone_trainable
    from pipelines.training.prepare import compile_model

    if not train_cfg.fine_tune.head_epochs:
        return train_cfg
    if start_epoch:
        set_backbone_trainable(network, True)
        compile_model(model, network, model_cfg, train_cfg, jit_compile, inputs)
        return train_cfg
    seconds = train_head(model, network, model_cfg, train_cfg, jit_compile, inputs)
    if train_cfg.time_budget_minutes is None:
        return train_cfg
    left = max(train_cfg.time_budget_minutes - seconds / 60, 0.05)
    return train_cfg.model_copy(update={"time_budget_minutes": left})


def train_head(model, network, model_cfg, train_cfg, jit_compile: bool, inputs) -> float:
    """Phase 1: the head alone for `train.fine_tune.head_epochs` epochs, the backbone frozen.

    Returns its seconds. Ends with the backbone trainable and `model` compiled afresh for phase 2
    (a new optimizer: the schedule of `train.epochs` starts at its first step).
    """
    from models.pretrained import set_backbone_trainable
    from pipelines.training.prepare import compile_model

    epochs = train_cfg.fine_tune.head_epochs
    started = time.monotonic()
    log.info("fine-tuning phase 1: the new head alone for %d epoch(s), the backbone frozen", epochs, extra=STAGE)
    history = model.fit(
        inputs.train_ds,
        validation_data=inputs.val_ds,
        epochs=epochs,
        steps_per_epoch=inputs.steps_per_epoch,
        class_weight=inputs.class_weight,
        verbose=0,
    )
    seconds = time.monotonic() - started
    val = history.history.get("val_accuracy", [float("nan")])[-1]
    log.info("fine-tuning phase 1: %.0f s, val_accuracy %.4f; phase 2: the whole network", seconds, val, extra=STAGE)
    set_backbone_trainable(network, True)
    compile_model(model, network, model_cfg, train_cfg, jit_compile, inputs)
    return seconds
