"""name -> family: the one list of model families.

A family is a module in models/families/: its config class (the fields it adds to the shared
ModelConfig, and its parameter count) and its builder, decorated with `@register(name, Config)`.
`family_names()` reads the folder without importing anything, so `python -m app --help` stays
fast; a family's module is imported when a config names it, and it imports Keras only inside its
builder, so validating a config never pays for TensorFlow. Families registered from elsewhere (a
plugin, a test) join the list by being decorated.
"""

import importlib
import pkgutil
from collections.abc import Callable
from typing import NamedTuple

import models.families
from models.size import check_model_fits


class Family(NamedTuple):
    build: Callable  # (cfg, input_shape, num_classes) -> uncompiled keras.Model
    config: type | None  # its ModelConfig subclass; None: the shared fields only


FAMILIES: dict[str, Family] = {}


def register(name: str, config: type | None = None):
    def wrap(builder: Callable) -> Callable:
        FAMILIES[name] = Family(builder, config)
        return builder

    return wrap


def family_names() -> tuple[str, ...]:
    """Every model family: the modules of models/families/ and any registered since."""
    shipped = [m.name for m in pkgutil.iter_modules(models.families.__path__) if not m.name.startswith("_")]
    return tuple(dict.fromkeys([*shipped, *FAMILIES]))


def family(name: str) -> Family:
    if name not in FAMILIES:
        importlib.import_module(f"models.families.{name}")
    return FAMILIES[name]


def build_model(cfg, input_shape: tuple[int, ...], num_classes: int, any_size: bool = False):
    """Build the uncompiled functional model named by `cfg.name` from its config slice.

    The output is the `predictions` layer, or a dict {"predictions", "aux1", ...} when the
    family adds auxiliary classifiers (see models/auxiliary.py). `any_size`: the network takes
    images of any height and width (progressive resizing trains it on several); the memory check
    still counts `input_shape`.
    """
    build = family(cfg.name).build
    # Counted from the config first: Keras allocates weights while building, and an over-large
    # model would die in TensorFlow with a long ResourceExhaustedError instead of one line.
    check_model_fits(cfg, tuple(input_shape), num_classes)
    if not any_size:
        return build(cfg, tuple(input_shape), num_classes)
    try:
        return build(cfg, (None, None, input_shape[-1]), num_classes)
    except (ValueError, TypeError) as error:  # a layer that needs the size: Flatten -> Dense, a size-based pool
        raise ValueError(
            f"train.progressive_resize needs a network that takes any image size (a global-average-pooling "
            f"head, e.g. model.vgg_head=gap, and no auxiliary classifiers); model '{cfg.name}' does not: "
            f"{(str(error).strip().splitlines() or [type(error).__name__])[0]}"
        ) from None
