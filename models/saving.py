"""Load a `.keras` file this project saved: our custom layers registered first, always under safe_mode.

A model keeps its custom layers (Maxout, the binary head's BinaryProbabilities, the auxiliary
wrapper, the entropy loss) by their registered names; Keras can rebuild them only once the
modules that register them are imported. Every loader (evaluate, serve, web, predict, resume,
multi-worker hand-over) goes through here, so none of them can forget one.
"""

import importlib

import keras

# Every module of models/ that defines a `@keras.saving.register_keras_serializable` object.
CUSTOM_OBJECT_MODULES = (
    "models.auxiliary",
    "models.blocks",
    "models.heads",
    "models.losses",
    "models.optimizers",
    "models.pretrained",
    "models.tta",
    "models.whitening",
)


def load_keras_model(path, compile: bool = False):
    for module in CUSTOM_OBJECT_MODULES:
        importlib.import_module(module)
    # safe_mode: no Lambda layers or arbitrary code from a file someone handed us.
    return keras.saving.load_model(path, compile=compile, safe_mode=True)
