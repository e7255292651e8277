"""The first two steps of a run: the data as tf.data inputs, and the compiled model.

Each receives only its config slices: `data` + `augment` + the batch settings of `train` for
the inputs; `model` + `train.optimizer`/`train.loss` + `runtime.jit_compile` for the model.
"""

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class RunInputs:
    """Everything the fit, the report and the export need to know about the data."""

    splits: object  # data.dataset.Splits
    class_names: list[str]
    augmenter: object
    batch_size: int  # global: per-replica batch x replicas
    steps_per_epoch: int
    train_ds: object
    val_ds: object
    mean: list[float]  # training-split channel statistics, for the normalization layer
    std: list[float]
    probe_batch: tuple  # fixed (x, y) the gradient-health callback measures
    seed: int
    class_weight: dict[int, float] | None = None  # train.class_weight: auto
    progressive: object | None = None  # the ProgressiveResize callback when train.progressive_resize is on

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def prepare_inputs(data_cfg, augment_cfg, train_cfg, seed: int, placement, start_epoch: int) -> RunInputs:
    """Load and split the data, then the training and validation tf.data pipelines."""
    from data.sources import load_splits
    from pipelines.inputs.augment import build_augmenter
    from pipelines.inputs.datasets import build_eval_ds, build_train_ds, steps_per_epoch
    from pipelines.inputs.preprocess import channel_stats
    from pipelines.training.gradient_health import probe_batch

    splits = load_splits(data_cfg, seed)
    num_classes = len(splits.class_names)
    log.info(
        "data: %s, %d train / %d val / %d test images of %s, %d classes",
        Path(data_cfg.path).name if data_cfg.path else data_cfg.source,  # the loading line gave the full path
        len(splits.train),
        len(splits.val),
        len(splits.test),
        "x".join(str(d) for d in splits.train.images.shape[1:]),
        num_classes,
        extra={"stage": True},  # the one data line of the default terminal output
    )
    augmenter = build_augmenter(augment_cfg, data_cfg.image_size, seed, channels=data_cfg.channels)
    batch = placement.global_batch_size(train_cfg.batch_size)
    steps = steps_per_epoch(len(splits.train), batch)
    train_ds = build_train_ds(
        splits.train,
        num_classes,
        batch,
        augmenter,
        seed,
        train_cfg.shuffle_buffer,
        workers=augment_cfg.workers,
        first_step=start_epoch * steps,  # a resumed run continues the augmentation stream
    )
    progressive = None
    if train_cfg.progressive_resize.start_scale < 1.0:
        from pipelines.training.progressive import ProgressiveResize

        cycles = train_cfg.snapshot_cycles
        progressive = ProgressiveResize(train_cfg.progressive_resize, data_cfg.image_size, train_cfg.epochs, cycles)
        train_ds = progressive.resize(train_ds)
    mean, std = channel_stats(splits.train.images)
    return RunInputs(
        splits=splits,
        class_names=list(splits.class_names),
        augmenter=augmenter,
        batch_size=batch,
        steps_per_epoch=steps,
        train_ds=train_ds,
        val_ds=build_eval_ds(
            splits.val, num_classes, eval_batch_size(batch, data_cfg.image_size, placement.num_replicas)
        ),
        mean=mean,
        std=std,
        probe_batch=probe_batch(splits.train, num_classes, train_cfg.gradient_health.batch_size, seed),
        seed=seed,
        class_weight=class_weights(splits.train.labels, num_classes) if train_cfg.class_weight == "auto" else None,
        progressive=progressive,
    )


# Validation runs forward only, where bigger batches pay: VGG at 64 px infers 2,080 images/s in
# batches of 256 against 942 in batches of 32 (2 cores, bf16). Bounded in pixels, so 224 px
# images keep the training batch.
EVAL_BATCH_PIXELS = 256 * 64 * 64


def eval_batch_size(train_batch: int, image_size, replicas: int = 1) -> int:
    """The validation batch: the training batch, or more when the images are small (one replica only)."""
    if replicas > 1:
        return train_batch  # a distributed last batch must split evenly across replicas: keep the tested one
    return max(train_batch, EVAL_BATCH_PIXELS // (image_size[0] * image_size[1]))


def class_weights(labels, num_classes: int) -> dict[int, float]:
    """Inverse-frequency weights N / (K * n_c): every class contributes equally to the loss.

    A class absent from training gets weight 1 (nothing to weight; data.sources refuses that anyway).
    """
    import numpy as np

    counts = np.bincount(np.asarray(labels), minlength=num_classes)
    total = counts.sum()
    weights = {c: float(total / (num_classes * n)) if n else 1.0 for c, n in enumerate(counts)}
    log.info("class weights (inverse frequency): %s", {c: round(w, 3) for c, w in weights.items()})
    return weights


def build_compiled_model(model_cfg, train_cfg, normalization: str, jit_compile: bool, inputs: RunInputs):
    """(network, trainable model, pretrained start): the bare family network and the compiled model that trains it.

    The trainable model takes raw pixels (normalization inside) and, for families with auxiliary
    classifiers (Inception), adds their weighted losses; the network is what gets served. With
    `model.pretrained` the network starts from those weights (pipelines/training/fine_tune.py) and the
    model comes compiled for the head-only phase; the third item says where it started (else None).
    """
    from models import build_model, build_training_model
    from pipelines.inputs.preprocess import with_preprocessing

    shape = inputs.splits.train.images.shape[1:]
    start = None
    if model_cfg.pretrained:
        from pipelines.training.fine_tune import build_pretrained_network

        if model_cfg.whiten_patch_size:  # a from-scratch family's first layer: the backbone brings its own
            log.info("model.pretrained: model.whiten_patch_size does not apply (the backbone has its first layer)")
        network, start = build_pretrained_network(
            model_cfg, shape, inputs.num_classes, normalization, inputs.mean, inputs.std, inputs.progressive is not None
        )
    else:
        network = build_model(model_cfg, shape, inputs.num_classes, any_size=inputs.progressive is not None)
    if model_cfg.whiten_patch_size and start is None:
        _fit_whitening(network, inputs, normalization)
    model = build_training_model(
        with_preprocessing(network, normalization, inputs.mean, inputs.std), getattr(model_cfg, "aux_loss_weight", 0.0)
    )
    if start is not None and train_cfg.fine_tune.head_epochs:
        from models.pretrained import set_backbone_trainable

        set_backbone_trainable(network, False)  # phase 1 (fine_tune.train_head); it unfreezes and recompiles
    compile_model(model, network, model_cfg, train_cfg, jit_compile, inputs)
    return network, model, start


def compile_model(model, network, model_cfg, train_cfg, jit_compile: bool, inputs: RunInputs) -> None:
    """Compile with a fresh optimizer, loss and metrics; a pretrained backbone steps at its own scale."""
    from models import build_compile_args
    from models.optimizers import build_optimizer

    compile_args = build_compile_args(model_cfg.task, train_cfg.loss, inputs.num_classes)  # head-matched
    _check_monitor(train_cfg.monitor, compile_args["metrics"])
    follow_budget = train_cfg.time_budget_minutes is not None  # the schedule ends when the budget ends
    optimizer = build_optimizer(
        train_cfg.optimizer, inputs.steps_per_epoch, train_cfg.epochs, follow_budget, train_cfg.snapshot_cycles
    )
    if model_cfg.pretrained and train_cfg.fine_tune.backbone_lr_scale != 1.0:
        from models.pretrained import scale_backbone_learning_rate

        scale_backbone_learning_rate(optimizer, network, train_cfg.fine_tune.backbone_lr_scale)
    model.compile(optimizer=optimizer, **compile_args, jit_compile=jit_compile)


def _fit_whitening(network, inputs: RunInputs, normalization: str, sample: int = 1024) -> None:
    """Set the frozen whitening layer from training images only; a seeded sample bounds the cost."""
    import numpy as np

    from models.whitening import fit_whitening
    from pipelines.inputs.preprocess import normalize_pixels

    images = inputs.splits.train.images
    rng = np.random.default_rng(inputs.seed)
    picked = images[np.sort(rng.choice(len(images), size=min(sample, len(images)), replace=False))]
    fitted = fit_whitening(network, normalize_pixels(picked, normalization, inputs.mean, inputs.std))
    log.info("whitening: %d layer(s) fitted on %d training images", fitted, len(picked))


def _check_monitor(monitor: str, metrics) -> None:
    """`val_top_5_accuracy` on a 5-class set (top-2 there) or a 3-class one (no top-k): one line, not a Keras warning."""
    names = {"loss", *(metric.name for metric in metrics)}
    if monitor.removeprefix("val_") not in names:
        raise ValueError(
            f"train.monitor '{monitor}' is not measured for this model; it measures {', '.join(sorted(names))}"
        )
