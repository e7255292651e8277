"""How big a model will be, from its config alone: checked before any layer is built.

Keras allocates every weight while the model is being built, so an over-large config
(`model.hidden_units=[100000000]`) dies inside TensorFlow with a ResourceExhaustedError and
a long traceback. `estimate_parameters` walks the same architecture the builders build
(same widths, same pooling rules) and counts what `model.count_params()` would report;
`check_model_fits` turns a count too large for this machine's memory into one line.
"""

import math
import os

from models.families.inception import INCEPTION_MODULES
from models.families.vgg import STAGE_WIDTHS, VGG_STAGES

# float32 weights, their gradients and the optimizer's two slots (Adam's moments): 4 copies
# of 4 bytes per parameter while training. Activations come on top of this.
BYTES_PER_PARAMETER = 16


def estimate_parameters(cfg, input_shape: tuple[int, ...], num_classes: int) -> int | None:
    """The parameter count (trainable and not) of `build_model(cfg, input_shape, num_classes)`.

    None for a family this module cannot count (one registered from a plugin or a test).
    """
    counter = COUNTERS.get(cfg.name)
    return counter(cfg, tuple(input_shape), num_classes) if counter else None


def training_memory_bytes(parameters: int) -> int:
    return parameters * BYTES_PER_PARAMETER


def check_model_fits(
    cfg, input_shape: tuple[int, ...], num_classes: int, memory_bytes: int | None = None
) -> int | None:
    """Raise a one-line ValueError when training the model needs more memory than the machine has.

    Returns the estimated parameter count (None: a family without a counter, not checked).
    `memory_bytes` defaults to the physical memory.
    """
    parameters = estimate_parameters(cfg, input_shape, num_classes)
    if parameters is None:
        return None
    needed = training_memory_bytes(parameters)
    available = memory_bytes if memory_bytes is not None else physical_memory_bytes()
    if available and needed > available:
        raise ValueError(
            f"model '{cfg.name}' would have {parameters:,} parameters and need about {_gib(needed)} to train "
            f"(weights, gradients, optimizer state) but this machine has {_gib(available)}: "
            "make it smaller (model.hidden_units, model.width_multiplier, model.head_units)"
        )
    return parameters


def physical_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not available on this platform: don't guess
        return 0


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f} GiB"


# --- the same arithmetic as models/blocks.py and models/families/ ------------------------------------------------


def _width(units: int, cfg) -> int:
    """blocks.scaled"""
    return max(1, round(units * cfg.width_multiplier))


def _pre_activation(units: int, cfg) -> int:
    """blocks.pre_activation_width: maxout needs k pieces per unit."""
    return units * cfg.maxout_pieces if cfg.activation == "maxout" else units


def _block(fan_in: int, units: int, cfg) -> int:
    """blocks.dense_block / conv_block: kernel (+ bias without BN), BN's 4 vectors, PReLU's slopes."""
    wide = _pre_activation(units, cfg)
    count = fan_in * wide + (0 if cfg.batch_norm else wide)
    count += 4 * wide if cfg.batch_norm else 0
    count += wide if cfg.activation == "prelu" else 0
    return count


def _head(features: int, cfg, num_classes: int) -> int:
    outputs = 1 if cfg.task == "binary" else num_classes
    return features * outputs + outputs


def _pool(size: tuple[int, int], padding: str = "valid") -> tuple[int, int]:
    """blocks.max_pool with stride 2: skipped once the map is under 2 pixels."""
    if min(size) < 2:
        return size
    if padding == "same":
        return (math.ceil(size[0] / 2), math.ceil(size[1] / 2))
    return (size[0] // 2, size[1] // 2)


def _mlp(cfg, input_shape, num_classes) -> int:
    features, count = math.prod(input_shape), 0
    for units in cfg.hidden_units:
        count += _block(features, units, cfg)
        features = units
    return count + _head(features, cfg, num_classes)


def _vgg(cfg, input_shape, num_classes) -> int:
    size, channels, count = tuple(input_shape[:2]), input_shape[2], 0
    for convs, width in zip(VGG_STAGES[cfg.vgg_depth], STAGE_WIDTHS, strict=True):
        for _ in range(convs):
            count += _block(9 * channels, _width(width, cfg), cfg)
            channels = _width(width, cfg)
        size = _pool(size)
    if cfg.vgg_head == "paper":
        units = _width(cfg.head_units, cfg)
        count += _block(size[0] * size[1] * channels, units, cfg) + _block(units, units, cfg)
        channels = units
    return count + _head(channels, cfg, num_classes)


def _inception(cfg, input_shape, num_classes) -> int:
    size, channels = tuple(input_shape[:2]), input_shape[2]
    if cfg.inception_stem == "paper":
        count = _block(49 * channels, _width(64, cfg), cfg)
        size = (math.ceil(size[0] / 2), math.ceil(size[1] / 2))  # the 7x7/2 conv, "same" padding
        size = _pool(size, "same")
        count += _block(_width(64, cfg), _width(64, cfg), cfg) + _block(9 * _width(64, cfg), _width(192, cfg), cfg)
    else:
        count = _block(9 * channels, _width(64, cfg), cfg) + _block(9 * _width(64, cfg), _width(192, cfg), cfg)
    size, channels = _pool(size, "same"), _width(192, cfg)
    for spec in INCEPTION_MODULES[cfg.inception_modules]:
        if spec == "pool":
            size = _pool(size, "same")
        elif spec == "aux":
            count += _auxiliary(cfg, size, channels, num_classes) if cfg.aux_classifiers else 0
        else:
            w = {field: _width(getattr(spec, field), cfg) for field in spec._fields[1:]}
            count += _block(channels, w["conv1x1"], cfg)
            count += _block(channels, w["reduce3x3"], cfg) + _block(9 * w["reduce3x3"], w["conv3x3"], cfg)
            count += _block(channels, w["reduce5x5"], cfg) + _block(25 * w["reduce5x5"], w["conv5x5"], cfg)
            count += _block(channels, w["pool_proj"], cfg)
            channels = w["conv1x1"] + w["conv3x3"] + w["conv5x5"] + w["pool_proj"]
    return count + _head(channels, cfg, num_classes)


def _auxiliary(cfg, size, channels, num_classes) -> int:
    """inception.auxiliary_classifier: 5x5/3 average pool, 1x1 conv, flatten, fc, head."""
    pool = (min(5, size[0]), min(5, size[1]))
    pooled = ((size[0] - pool[0]) // 3 + 1, (size[1] - pool[1]) // 3 + 1)
    conv = _width(128, cfg)
    fc = _width(1024, cfg)
    return _block(channels, conv, cfg) + _block(pooled[0] * pooled[1] * conv, fc, cfg) + _head(fc, cfg, num_classes)


# One counter per shipped family (tests/models/test_size_estimate.py checks every one has one).
COUNTERS = {"mlp": _mlp, "vgg": _vgg, "inception": _inception}
