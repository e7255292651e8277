"""The `augment` slice: a preset and/or a list of albumentations transforms by name."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class TransformSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class AugmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: Literal["none", "light", "standard", "heavy"] = "light"
    # Applied after the preset's transforms.
    transforms: list[TransformSpec] = Field(default_factory=list)
