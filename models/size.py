"""How big a model will be, from its config alone: checked before any layer is built.

Keras allocates every weight while the model is being built, so an over-large config
(`model.hidden_units=[100000000]`) dies inside TensorFlow with a ResourceExhaustedError and
a long traceback. Each family's config counts its own network (`count_parameters`, next to its
builder in models/families/, with the arithmetic below: same widths, same pooling rules) as
`model.count_params()` would; `check_model_fits` turns a count too large for this machine's
memory into one line.
"""

import math
import os

# float32 weights, their gradients and the optimizer's two slots (Adam's moments): 4 copies
# of 4 bytes per parameter while training. Activations come on top of this.
BYTES_PER_PARAMETER = 16


def estimate_parameters(cfg, input_shape: tuple[int, ...], num_classes: int) -> int | None:
    """The parameter count (trainable and not) of `build_model(cfg, input_shape, num_classes)`.

    None for a family that does not count (one registered from a plugin or a test).
    """
    return cfg.count_parameters(tuple(input_shape), num_classes)


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


# --- the arithmetic of models/blocks.py, for the families' counts ---------------------------------------------


def width(units: int, cfg) -> int:
    """blocks.scaled"""
    return max(1, round(units * cfg.width_multiplier))


def _pre_activation(units: int, cfg) -> int:
    """blocks.pre_activation_width: maxout needs k pieces per unit."""
    return units * cfg.maxout_pieces if cfg.activation == "maxout" else units


def block(fan_in: int, units: int, cfg) -> int:
    """blocks.dense_block / conv_block: kernel (+ bias without BN), BN's 4 vectors, PReLU's slopes."""
    wide = _pre_activation(units, cfg)
    count = fan_in * wide + (0 if cfg.batch_norm else wide)
    count += 4 * wide if cfg.batch_norm else 0
    count += wide if cfg.activation == "prelu" else 0
    return count


def head(features: int, cfg, num_classes: int) -> int:
    outputs = 1 if cfg.task == "binary" else num_classes
    return features * outputs + outputs


def pool(size: tuple[int, int], padding: str = "valid") -> tuple[int, int]:
    """blocks.max_pool with stride 2: skipped once the map is under 2 pixels."""
    if min(size) < 2:
        return size
    if padding == "same":
        return (math.ceil(size[0] / 2), math.ceil(size[1] / 2))
    return (size[0] // 2, size[1] // 2)
