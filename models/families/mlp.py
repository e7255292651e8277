"""Multi-layer perceptron: flatten -> [input dropout] -> [dense -> BN -> activation -> dropout] x depth -> head."""

import math

from pydantic import Field, field_validator

from models.config import ModelConfig
from models.registry import register
from models.size import block, head

# The size check counts parameters, and 20,000 layers of 4 units are few parameters but a graph
# that took 4 GB and never finished an epoch.
MAX_HIDDEN_LAYERS = 64


class MlpConfig(ModelConfig):
    hidden_units: list[int] = Field(default=[256, 128], min_length=1, max_length=MAX_HIDDEN_LAYERS)
    input_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

    @field_validator("hidden_units", mode="before")
    @classmethod
    def _few_layers(cls, value):
        if isinstance(value, list | tuple) and len(value) > MAX_HIDDEN_LAYERS:
            raise ValueError(f"{len(value):,} hidden layers; at most {MAX_HIDDEN_LAYERS} (e.g. [256, 128])")
        return value

    @field_validator("hidden_units")
    @classmethod
    def _positive_units(cls, value: list[int]) -> list[int]:
        if any(units < 1 for units in value):
            raise ValueError("every hidden layer needs at least 1 unit")
        return value

    def count_parameters(self, input_shape, num_classes) -> int:
        features, count = math.prod(input_shape), 0
        for units in self.hidden_units:
            count += block(features, units, self)
            features = units
        return count + head(features, self, num_classes)


@register("mlp", MlpConfig)
def build_mlp(cfg, input_shape, num_classes):
    """Any depth and widths (`hidden_units`); every shared option of `ModelConfig` applies."""
    import keras  # here, not at the top: a config names this module without building anything

    from models.blocks import build_regularizer, dense_block
    from models.heads import build_head

    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    if cfg.input_dropout:
        x = keras.layers.Dropout(cfg.input_dropout, name="input_dropout")(x)
    for i, units in enumerate(cfg.hidden_units, start=1):
        x = dense_block(x, units, cfg, name=f"dense{i}")
    outputs = build_head(x, cfg.task, num_classes, kernel_regularizer=build_regularizer(cfg))
    return keras.Model(inputs, outputs, name="mlp")
