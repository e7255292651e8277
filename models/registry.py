"""name -> builder: the one list of model families.

A family is a module in models/families/ whose builder is decorated with `@register(name)`;
its name is the module's name. `family_names()` reads the folder without importing Keras, so
config validation and `python -m app --help` stay fast; builders are imported on first build.
Families registered from elsewhere (a plugin, a test) join the list by being decorated.
"""

import importlib
import pkgutil
from collections.abc import Callable

import models.families

BUILDERS: dict[str, Callable] = {}


def register(name: str):
    def wrap(builder: Callable) -> Callable:
        BUILDERS[name] = builder
        return builder

    return wrap


def family_names() -> tuple[str, ...]:
    """Every model family: the modules of models/families/ and any builder registered since."""
    shipped = [m.name for m in pkgutil.iter_modules(models.families.__path__) if not m.name.startswith("_")]
    return tuple(dict.fromkeys([*shipped, *BUILDERS]))


def build_model(cfg, input_shape: tuple[int, ...], num_classes: int, any_size: bool = False):
    """Build the uncompiled functional model named by `cfg.name` from its config slice.

    The output is the `predictions` layer, or a dict {"predictions", "aux1", ...} when the
    family adds auxiliary classifiers (see models/auxiliary.py). `any_size`: the network takes
    images of any height and width (progressive resizing trains it on several); the memory check
    still counts `input_shape`.
    """
    from models.size import check_model_fits  # imports the families (Keras): not at --help time

    if cfg.name not in BUILDERS:
        # Imported on first use so that `python -m app --help` never pays for TensorFlow.
        importlib.import_module(f"models.families.{cfg.name}")
    # Counted from the config first: Keras allocates weights while building, and an over-large
    # model would die in TensorFlow with a long ResourceExhaustedError instead of one line.
    check_model_fits(cfg, tuple(input_shape), num_classes)
    if not any_size:
        return BUILDERS[cfg.name](cfg, tuple(input_shape), num_classes)
    try:
        return BUILDERS[cfg.name](cfg, (None, None, input_shape[-1]), num_classes)
    except (ValueError, TypeError) as error:  # a layer that needs the size: Flatten -> Dense, a size-based pool
        raise ValueError(
            f"train.progressive_resize needs a network that takes any image size (a global-average-pooling "
            f"head, e.g. model.vgg_head=gap, and no auxiliary classifiers); model '{cfg.name}' does not: "
            f"{(str(error).strip().splitlines() or [type(error).__name__])[0]}"
        ) from None
