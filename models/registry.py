"""name -> builder. Adding a model family is one decorated function."""

from collections.abc import Callable

BUILDERS: dict[str, Callable] = {}


def register(name: str):
    def wrap(builder: Callable) -> Callable:
        BUILDERS[name] = builder
        return builder

    return wrap


def build_model(cfg, input_shape: tuple[int, ...], num_classes: int):
    """Build the uncompiled functional model named by `cfg.name` from its config slice.

    The output is the `predictions` layer, or a dict {"predictions", "aux1", ...} when the
    family adds auxiliary classifiers (see models/auxiliary.py).
    """
    from models.size import check_model_fits

    _import_builders()
    if cfg.name not in BUILDERS:
        raise ValueError(f"model '{cfg.name}' is unknown; choose one of {', '.join(sorted(BUILDERS))}")
    # Counted from the config first: Keras allocates weights while building, and an over-large
    # model would die in TensorFlow with a long ResourceExhaustedError instead of one line.
    check_model_fits(cfg, tuple(input_shape), num_classes)
    return BUILDERS[cfg.name](cfg, tuple(input_shape), num_classes)


def _import_builders() -> None:
    # Imported on first use so that `python -m app --help` never pays for TensorFlow.
    import models.inception  # noqa: F401
    import models.mlp  # noqa: F401
    import models.vgg  # noqa: F401


MODEL_NAMES = ("mlp", "vgg", "inception")
