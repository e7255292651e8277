"""Defaults for a photo folder nobody tuned for: image size, epochs and class weights from the data.

`make train-vgg DATA=<folder>` starts from the flowers config of the family, then sizes it to
the folder and to the time budget (`train.time_budget_minutes`, default 10: a laptop's coffee
break): the largest input size (64, 96 or 128 px, never above the photos' typical resolution)
that still leaves at least MIN_EPOCHS epochs in the budget (an epoch costs its training images plus
validation and the gradient-health probe), and as many epochs as fit, so the
learning-rate schedule ends inside the budget instead of being cut by it. The rate is measured
on this machine at the start (app/throughput.py: a few timed training steps of the family's
network at each candidate size), so a faster or slower CPU gets the epochs it can run.
"""

import math
from pathlib import Path

from data.decode import IMAGE_SUFFIXES, open_image
from pipelines.config import CONFIG_DIR, load_config
from pipelines.training.progressive_schedule import mean_cost

DEFAULT_BUDGET_MINUTES = 10.0
CONV_FAMILIES = ("vgg", "inception")
# A run's time beyond its training steps and validation, as a share of the steps: callbacks, the
# backup, MLflow, the input pipeline (flowers VGG, bench/README.md: the step alone 434 images/s,
# whole epochs 370, validation included).
EPOCH_OVERHEAD = 1.15
CONV_SIZES = (128, 96, 64)
MIN_EPOCHS, MAX_EPOCHS = 20, 60  # 15 measured worse: binary regime 96 px x 16 epochs 0.782 vs 64 px x 29 0.831
MAX_CYCLES = 4  # snapshot-ensemble members when the budget holds more than MAX_EPOCHS (cycles_and_epochs)
TRAIN_SHARE = 0.7  # of a flat folder; train/ is used as is
VAL_SHARE = 0.15 / 0.7  # validation images per training image in a flat folder's split
PROBE_IMAGES = 128  # train.gradient_health.batch_size: one forward + backward per epoch
SAMPLE = 200  # image headers read to find the typical resolution
# Below this many optimizer steps an epoch (a few hundred images) the batch is halved, see _small_set_batch.
MIN_STEPS_PER_EPOCH, SMALL_SET_BATCH = 20, 32


def folder_overrides(family: str, root: Path, budget_minutes: float | None, pretrained: str | None = None) -> list[str]:
    """Overrides for `family` on the folder at `root`; [] when the folder holds no images.

    `pretrained` (model.pretrained, the source): the fine-tuning recipe, the smallest input size
    and as many epochs as fit, at the rate of the fine-tuned network itself (its backbone runs at
    the size it learned, whatever the input size). A backbone brings its features; a few hundred
    photos need many passes more than detail (transfer regime, bench/README.md: 64 px x 60
    epochs 0.665, 128 px x 24 0.594, one run).
    """
    counts, sizes = _profile(root)
    if not counts:
        return []  # the loader gives the one-line error
    budget = budget_minutes or DEFAULT_BUDGET_MINUTES
    out = [f"train.time_budget_minutes={budget:g}"]
    if max(counts.values()) > 1.5 * min(counts.values()):
        out.append("train.class_weight=auto")
    if family not in CONV_FAMILIES:
        return out  # the MLP keeps its 32 px and epoch count: an epoch costs it ~3 s on flowers
    n_train = sum(counts.values()) if (root / "train").is_dir() else int(sum(counts.values()) * TRAIN_SHARE)
    n_val = _count_images(root / "val") if (root / "val").is_dir() else int(n_train * VAL_SHARE)
    # Per epoch, beyond the training images: validation (forward only, ~1/3 of a training image)
    # and the gradient-health probe batch. On a small training set these dominate.
    overhead = n_val / 3 + PROBE_IMAGES
    typical = sorted(sizes)[len(sizes) // 2] if sizes else 64
    shipped = shipped_train(family)
    smaller_batch = _small_set_batch(shipped, n_train)
    batch = SMALL_SET_BATCH if smaller_batch else shipped.batch_size

    def rate_at(size: int) -> tuple[float, float]:
        return measured_rate(CONFIG_DIR / f"flowers_{family}.yaml", size, 3, len(counts), batch, pretrained)

    sizes = CONV_SIZES[-1:] if pretrained else CONV_SIZES
    size, fit = _size_and_epochs(rate_at, n_train, overhead, typical, budget * 60, shipped.progressive_resize, sizes)
    cycles, epochs = cycles_and_epochs(fit)
    snapshots = [f"train.snapshot_cycles={cycles}"] if cycles > 1 else []
    return [*out, f"data.image_size=[{size},{size}]", f"train.epochs={epochs}", *snapshots, *smaller_batch]


def cycles_and_epochs(fit: int) -> tuple[int, int]:
    """(snapshot cycles, train.epochs) for `fit` epochs that the budget holds.

    Up to MAX_EPOCHS: one schedule of them all. Beyond, a small set has run out of data, not of
    time: more passes of one schedule only overfit, so every further MAX_EPOCHS the budget holds
    buys one more cycle of the same schedule (a snapshot ensemble, pipelines/training/snapshots.py),
    at most MAX_CYCLES. The first cycle is the single run it replaces, so validation chooses
    between that run, the later cycles and their average. Shorter cycles measured worse: 4 x 51
    epochs gave cycles 0.564-0.617 on validation where one run of 60 gives 0.639 (transfer regime).
    """
    if fit < 2 * MAX_EPOCHS:
        return 1, max(5, min(MAX_EPOCHS, fit))
    cycles = min(MAX_CYCLES, fit // MAX_EPOCHS)
    return cycles, cycles * MAX_EPOCHS


def measured_rate(
    config_path, size: int, channels: int, num_classes: int, batch: int, pretrained: str | None = None
) -> tuple[float, float]:
    """(images/s, tracing seconds): app/throughput.py, imported here so that tests can stand in for it."""
    from app.throughput import training_rate

    return training_rate(config_path, size, channels, num_classes, batch, pretrained)


def _small_set_batch(cfg, n_train: int) -> list[str]:
    """Half the flowers config's batch (and learning rate; `cfg`: its train slice) when an epoch would be only a few steps.

    Measured in the small regime (200 training images, 3 minutes): batch 64 gave 3 steps an
    epoch and 0.504 test accuracy, where batch 32 had given 0.621.
    """
    if cfg.batch_size <= SMALL_SET_BATCH or n_train / cfg.batch_size >= MIN_STEPS_PER_EPOCH:
        return []
    scale = SMALL_SET_BATCH / cfg.batch_size  # the linear scaling rule, as the config doubled both
    return [
        f"train.batch_size={SMALL_SET_BATCH}",
        f"train.optimizer.learning_rate={cfg.optimizer.learning_rate * scale:g}",
    ]


def shipped_train(family: str):
    """The `train` slice of the family's flowers config, which the folder run starts from."""
    return load_config(CONFIG_DIR / f"flowers_{family}.yaml").train


def _size_and_epochs(
    rate_at, n_train: int, overhead: float, typical: int, seconds: float, progressive, sizes=CONV_SIZES
):
    """(side, epochs): the largest side leaving MIN_EPOCHS in the budget, and the epochs that fit (uncapped).

    `rate_at(side)`: (training images/s, seconds of graph tracing) at that side, measured.
    """
    # Photos smaller than 64 px are not upscaled: their own size (a multiple of 8, at least 32).
    sizes = sizes if typical >= CONV_SIZES[-1] else (max(32, typical // 8 * 8),)
    for size in sizes:
        if size > typical and size != sizes[-1]:  # photos under 32 px: upscaled to 32, the smallest side
            continue
        rate, tracing = rate_at(size)
        rate /= EPOCH_OVERHEAD
        left = max(1.0, seconds - 3 * tracing)  # the training, validation and prediction graphs, traced once each
        epochs = math.floor(left * rate / max(1.0, n_train + overhead))
        if progressive.start_scale < 1:
            # Smaller early epochs cost less: a few rounds settle the count (each epoch count has its own mix of sides).
            for _ in range(3):
                per_epoch = n_train * mean_cost(max(1, epochs), size, progressive) + overhead
                epochs = math.floor(left * rate / max(1.0, per_epoch))
        if epochs >= MIN_EPOCHS or size == sizes[-1]:
            return size, epochs
    raise AssertionError("unreachable: the smallest size always returns")


def _count_images(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _profile(root: Path) -> tuple[dict[str, int], list[int]]:
    """{class: image count} of the training images, and the shorter side of a sample of them."""
    base = root / "train" if (root / "train").is_dir() else root
    counts, files = {}, []
    for class_dir in sorted(p for p in base.iterdir() if p.is_dir()):
        images = [p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        if images:
            counts[class_dir.name] = len(images)
            files += images[: max(1, SAMPLE // 10)]
    sizes = []
    for path in files[:SAMPLE]:
        try:
            with open_image(path) as image:  # reads the header only
                sizes.append(min(image.size))
        except OSError:
            continue  # unreadable files are the loader's to report
    return counts, sizes
