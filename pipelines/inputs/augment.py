"""Albumentations pipelines built from config: presets plus named transforms with parameters."""

import difflib
import warnings

import albumentations as A
import numpy as np

from data.errors import first_line
from pipelines.config.augment import PRESETS, AugmentConfig

# Transforms that take a size: default it to the training image size, so the output shape holds.
SIZED = ("RandomResizedCrop", "RandomSizedCrop", "Resize", "CropAndPad")
CONTAINERS = ("OneOf", "SomeOf", "Sequential")


def build_augmenter(cfg: AugmentConfig, image_size: tuple[int, int], seed: int, channels: int = 3) -> A.Compose | None:
    """An albumentations Compose for the training split, or None when there is nothing to do.

    It is tried once on a blank image of the training shape, so a transform that cannot run on
    these images (or changes their size, which would break batching) fails here, in one line.
    """
    specs = PRESETS[cfg.preset] + [(t.name, dict(t.params)) for t in cfg.transforms]
    if not specs:
        return None
    compose = A.Compose([build_transform(name, params, image_size) for name, params in specs], seed=seed)
    _check_runs(compose, specs, image_size, channels)
    compose.set_random_seed(seed)  # the trial run advanced the generator
    return compose


def build_transform(name: str, params: dict, image_size: tuple[int, int]) -> A.BasicTransform:
    """One transform from its albumentations class name and keyword parameters."""
    cls = getattr(A, name, None)
    valid = transform_names()
    if name not in valid or cls is None:
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(f"augment transform '{name}' is unknown{hint}; valid names: {', '.join(valid)}")
    params = dict(params)
    if name in CONTAINERS:
        children = params.pop("transforms", None)
        if not isinstance(children, list) or not children:
            raise ValueError(f"augment transform '{name}' needs params.transforms: a list of [name, params] pairs")
        params["transforms"] = [build_transform(*_child_spec(name, c), image_size) for c in children]
    elif name in SIZED and "size" not in params and name != "CropAndPad":
        params["size"] = tuple(image_size)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            transform = cls(**params)
    except (TypeError, ValueError) as err:
        shown = {k: v for k, v in params.items() if k != "transforms"}
        raise ValueError(f"augment transform '{name}' with {shown}: {first_line(err)}") from None
    # albumentations only warns about unknown arguments; a typo must not pass silently.
    for warning in caught:
        if "not valid for transform" in str(warning.message):
            raise ValueError(f"augment transform '{name}': {warning.message}")
    return transform


def transform_names() -> list[str]:
    """Every albumentations transform that works on a single image, plus the containers."""
    leaf = (A.ImageOnlyTransform, A.DualTransform)
    names = [n for n in dir(A) if isinstance(getattr(A, n), type) and issubclass(getattr(A, n), leaf)]
    return sorted({*names, *CONTAINERS} - {"ImageOnlyTransform", "DualTransform", "Lambda"})


def _child_spec(parent: str, child) -> tuple[str, dict]:
    if isinstance(child, str):
        return child, {}
    if isinstance(child, list | tuple) and len(child) == 2 and isinstance(child[1], dict):
        return str(child[0]), child[1]
    if isinstance(child, dict) and "name" in child:
        return str(child["name"]), dict(child.get("params", {}))
    raise ValueError(
        f"augment transform '{parent}': child {child!r} must be a name, [name, params] or {{name, params}}"
    )


def _check_runs(compose: A.Compose, specs, image_size: tuple[int, int], channels: int) -> None:
    blank = np.full((*image_size, channels), 127, dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for transform, (name, _) in zip(compose.transforms, specs, strict=True):
            try:
                out = A.Compose([transform], p=1.0)(image=blank)["image"]
            except Exception as err:  # albumentations raises many types; all mean "cannot run here"
                raise ValueError(
                    f"augment transform '{name}' cannot run on {channels}-channel images: {first_line(err)}"
                ) from None
            if out.shape[:2] != tuple(image_size):
                raise ValueError(
                    f"augment transform '{name}' turns {list(image_size)} images into {list(out.shape[:2])}; "
                    "batches need one size: use RandomResizedCrop or add a Resize"
                )
