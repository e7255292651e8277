"""What learns: model builders behind a registry, heads, losses, optimizers.

Never reads files, never imports mlflow. Importing this package does not import Keras: the
Keras-heavy names below load on first use, so `python -m app --help` stays fast.
"""

from models.registry import build_model, family_names

_LAZY = {
    "build_training_model": "models.auxiliary",
    "inference_model": "models.auxiliary",
    "build_compile_args": "models.heads",
    "build_optimizer": "models.optimizers",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'models' has no attribute '{name}'")


__all__ = ["build_model", "family_names", *_LAZY]
