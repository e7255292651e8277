"""The `augment` slice: a preset and/or a list of albumentations transforms by name."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_WORKERS = 256

# Geometric first, then photometric, then occlusion/noise: the order a camera would apply them.
# Together the presets use every transform the course material shows.
PRESETS: dict[str, list[tuple[str, dict]]] = {
    "none": [],
    "light": [
        ("HorizontalFlip", {"p": 0.5}),
        ("Affine", {"translate_percent": (-0.08, 0.08), "scale": (0.92, 1.08), "rotate": (-8, 8), "p": 0.7}),
        ("RandomBrightnessContrast", {"brightness_limit": 0.1, "contrast_limit": 0.1, "p": 0.3}),
    ],
    "standard": [
        ("HorizontalFlip", {"p": 0.5}),
        ("Affine", {"translate_percent": (-0.1, 0.1), "scale": (0.85, 1.15), "rotate": (-15, 15), "p": 0.8}),
        ("RandomBrightnessContrast", {"brightness_limit": 0.2, "contrast_limit": 0.2, "p": 0.5}),
        ("HueSaturationValue", {"hue_shift_limit": 10, "sat_shift_limit": 20, "val_shift_limit": 10, "p": 0.3}),
        ("RandomGamma", {"gamma_limit": (85, 115), "p": 0.2}),
    ],
    "heavy": [
        ("HorizontalFlip", {"p": 0.5}),
        ("VerticalFlip", {"p": 0.1}),
        ("RandomResizedCrop", {"scale": (0.6, 1.0), "p": 1.0}),
        ("Affine", {"translate_percent": (-0.1, 0.1), "rotate": (-25, 25), "shear": (-8, 8), "p": 0.8}),
        ("RandomBrightnessContrast", {"brightness_limit": 0.25, "contrast_limit": 0.25, "p": 0.5}),
        ("HueSaturationValue", {"p": 0.3}),
        ("RGBShift", {"r_shift_limit": 15, "g_shift_limit": 15, "b_shift_limit": 15, "p": 0.2}),
        ("ChannelShuffle", {"p": 0.05}),
        ("CLAHE", {"clip_limit": 2.0, "p": 0.1}),
        ("RandomGamma", {"p": 0.2}),
        ("OneOf", {"transforms": [("Blur", {"blur_limit": 3}), ("MedianBlur", {"blur_limit": 3})], "p": 0.15}),
        ("ToGray", {"p": 0.05}),
        ("ImageCompression", {"quality_range": (60, 95), "p": 0.2}),
        ("GaussNoise", {"std_range": (0.02, 0.08), "p": 0.2}),
        ("CoarseDropout", {"num_holes_range": (1, 4), "hole_height_range": (0.05, 0.15), "p": 0.3}),
    ],
}


class TransformSpec(BaseModel):
    """One albumentations transform: its class name and keyword parameters, e.g.
    `{name: RGBShift, params: {r_shift_limit: 20, p: 0.5}}`. Containers (OneOf, SomeOf,
    Sequential) take `params.transforms`: a list of `[name, params]` pairs."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity: they pass gt=0

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity: they pass gt=0

    preset: Literal[tuple(PRESETS)] = "light"
    # Applied after the preset's transforms.
    transforms: list[TransformSpec] = Field(default_factory=list)
    # Processes that run albumentations beside the training process ("auto": one per core
    # when there are several cores and 16 MiB of images or more; 0: inside tf.data's own threads,
    # bound by the GIL).
    # At most MAX_WORKERS: each is a process importing albumentations (10,000 would swamp the machine).
    workers: Annotated[int, Field(ge=0, le=MAX_WORKERS)] | Literal["auto"] = "auto"
