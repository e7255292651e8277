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


def build_model(cfg, input_shape: tuple[int, ...], num_classes: int):
    """Build the uncompiled functional model named by `cfg.name` from its config slice.

    The output is the `predictions` layer, or a dict {"predictions", "aux1", ...} when the
    family adds auxiliary classifiers (see models/auxiliary.py).
    """
    if cfg.name not in BUILDERS:
        # Imported on first use so that `python -m app --help` never pays for TensorFlow.
        importlib.import_module(f"models.families.{cfg.name}")
    return BUILDERS[cfg.name](cfg, tuple(input_shape), num_classes)
