"""How fast this machine trains a family at a given image size: a few timed steps, not a constant.

The folder defaults (app/folder_defaults.py) size a run to its time budget; the rate they need
differs several-fold between CPUs (cores, AVX-512, native bfloat16) and with what else the machine
is doing. So the real network of the family's flowers config is built at the candidate size and
trained for a few steps on random pixels, in the precision the run will use: one step first (it
traces the graph, which the run pays once and the rate must not include), then the timed ones.
A run that fine-tunes (`model.pretrained`) is measured on its own network: the pretrained backbone,
at the size it learned, under the new head.
"""

import logging
import time

log = logging.getLogger(__name__)
TIMED_STEPS = 3


def training_rate(
    config_path, size: int, channels: int, num_classes: int, batch_size: int, pretrained: str | None = None
) -> tuple[float, float]:
    """(training images per second, seconds of the first, graph-tracing step) at `size` px.

    `pretrained`: a model.pretrained source; the network measured is the one fine-tuning trains.
    """
    from app import output

    if not output.VERBOSE:  # the folder defaults run before the command imports TensorFlow (app/cli.py)
        output.import_tensorflow_quietly()
    import keras
    import numpy as np

    from models import build_compile_args, build_training_model
    from models.optimizers import build_optimizer
    from pipelines.config import load_config
    from pipelines.training.distributed.strategy import cpu_has_bf16

    cfg = load_config(config_path)
    policy = keras.mixed_precision.global_policy()
    if cfg.runtime.mixed_precision is True or (cfg.runtime.mixed_precision == "auto" and cpu_has_bf16()):
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        network = _network(cfg.model, (size, size, channels), num_classes, pretrained)
        model = build_training_model(
            network, getattr(cfg.model, "aux_loss_weight", 0.0)
        )  # with its auxiliary heads, as trained
        model.compile(
            optimizer=build_optimizer(cfg.train.optimizer, 1, 1),
            **build_compile_args(cfg.model.task, cfg.train.loss, num_classes),
        )
        rng = np.random.default_rng(0)
        x = rng.normal(size=(batch_size, size, size, channels)).astype("float32")
        y = np.eye(num_classes, dtype="float32")[rng.integers(0, num_classes, batch_size)]
        started = time.perf_counter()
        model.train_on_batch(x, y)
        tracing = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(TIMED_STEPS):
            model.train_on_batch(x, y)
        rate = TIMED_STEPS * batch_size / (time.perf_counter() - started)
    finally:
        keras.mixed_precision.set_global_policy(policy)
        keras.backend.clear_session()
    log.info(
        "folder defaults: %s at %d px trains %.0f images/s here (%d timed steps)",
        f"{cfg.model.name} fine-tuned from {pretrained}" if pretrained else cfg.model.name,
        size,
        rate,
        TIMED_STEPS,
        extra={"stage": True},  # a pause of seconds before the run: say what it is
    )
    return rate, tracing


def _network(model_cfg, input_shape, num_classes: int, pretrained: str | None):
    """The family's network from scratch, or with `pretrained`'s backbone (all of it trainable, as in phase 2)."""
    if not pretrained:
        from models import build_model

        return build_model(model_cfg, input_shape, num_classes)
    from pipelines.training.fine_tune import build_pretrained_network

    tuned = model_cfg.model_copy(update={"pretrained": pretrained})
    return build_pretrained_network(tuned, input_shape, num_classes, "scale", None, None)[0]
