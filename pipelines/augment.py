"""Albumentations pipelines built from config: presets plus named transforms with parameters."""

import albumentations as A

from pipelines.augment_config import AugmentConfig

# Geometric first, then photometric, then occlusion/noise: the order a camera would apply them.
PRESETS: dict[str, list[tuple[str, dict]]] = {
    "none": [],
    "light": [
        ("Affine", {"translate_percent": (-0.08, 0.08), "scale": (0.92, 1.08), "rotate": (-8, 8), "p": 0.7}),
    ],
    "standard": [
        ("HorizontalFlip", {"p": 0.5}),
        ("Affine", {"translate_percent": (-0.1, 0.1), "scale": (0.85, 1.15), "rotate": (-15, 15), "p": 0.8}),
        ("RandomBrightnessContrast", {"brightness_limit": 0.2, "contrast_limit": 0.2, "p": 0.5}),
        ("HueSaturationValue", {"p": 0.3}),
    ],
    "heavy": [
        ("HorizontalFlip", {"p": 0.5}),
        ("RandomResizedCrop", {"scale": (0.6, 1.0), "p": 1.0}),
        ("Affine", {"translate_percent": (-0.1, 0.1), "rotate": (-25, 25), "p": 0.8}),
        ("ColorJitter", {"p": 0.5}),
        ("GaussNoise", {"p": 0.2}),
        ("CoarseDropout", {"p": 0.3}),
    ],
}


def build_augmenter(cfg: AugmentConfig, image_size: tuple[int, int], seed: int) -> A.Compose | None:
    """An albumentations Compose for the training split, or None when there is nothing to do."""
    specs = PRESETS[cfg.preset] + [(t.name, dict(t.params)) for t in cfg.transforms]
    if not specs:
        return None
    return A.Compose([_build_transform(name, params, image_size) for name, params in specs], seed=seed)


def _build_transform(name: str, params: dict, image_size: tuple[int, int]) -> A.BasicTransform:
    cls = getattr(A, name, None)
    if not (isinstance(cls, type) and issubclass(cls, A.BasicTransform)):
        raise ValueError(f"augment transform '{name}' is unknown; valid names: {', '.join(transform_names())}")
    if name in ("RandomResizedCrop", "RandomCrop", "CenterCrop", "Resize") and "size" not in params:
        params = {**params, "size": tuple(image_size)}
    try:
        return cls(**params)
    except (TypeError, ValueError) as err:
        message = str(err).splitlines()[0]
        raise ValueError(f"augment transform '{name}' with {params}: {message}") from None


def transform_names() -> list[str]:
    return sorted(
        n
        for n in dir(A)
        if isinstance(getattr(A, n), type) and issubclass(getattr(A, n), A.ImageOnlyTransform | A.DualTransform)
    )
