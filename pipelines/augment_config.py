"""The `augment` slice: a preset and/or a list of albumentations transforms by name."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TransformSpec(BaseModel):
    """One albumentations transform: its class name and keyword parameters, e.g.
    `{name: RGBShift, params: {r_shift_limit: 20, p: 0.5}}`. Containers (OneOf, SomeOf,
    Sequential) take `params.transforms`: a list of `[name, params]` pairs."""

    model_config = ConfigDict(extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: Literal["none", "light", "standard", "heavy"] = "light"
    # Applied after the preset's transforms.
    transforms: list[TransformSpec] = Field(default_factory=list)
    # Processes that run albumentations beside the training process ("auto": one per core
    # when there are several cores; 0: inside tf.data's own threads, bound by the GIL).
    workers: int | Literal["auto"] = "auto"
