"""Multi-layer perceptron: flatten -> [input dropout] -> [dense -> BN -> activation -> dropout] x depth -> head."""

import keras

from models.blocks import build_regularizer, dense_block
from models.heads import build_head
from models.registry import register


@register("mlp")
def build_mlp(cfg, input_shape, num_classes):
    """Any depth and widths (`hidden_units`); every shared option of `ModelConfig` applies."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    if cfg.input_dropout:
        x = keras.layers.Dropout(cfg.input_dropout, name="input_dropout")(x)
    for i, units in enumerate(cfg.hidden_units, start=1):
        x = dense_block(x, units, cfg, name=f"dense{i}")
    outputs = build_head(x, cfg.task, num_classes, kernel_regularizer=build_regularizer(cfg))
    return keras.Model(inputs, outputs, name="mlp")
