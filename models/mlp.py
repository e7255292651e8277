"""Multi-layer perceptron: flatten -> [dense -> batch norm -> activation -> dropout] x depth -> head."""

import keras

from models.registry import register


@register("mlp")
def build_mlp(cfg, input_shape, num_classes):
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    if cfg.input_dropout:
        x = keras.layers.Dropout(cfg.input_dropout, name="input_dropout")(x)
    regularizer = keras.regularizers.L2(cfg.l2) if cfg.l2 else None
    for i, units in enumerate(cfg.hidden_units, start=1):
        # With batch norm the dense bias is redundant: BN's beta plays its role.
        x = keras.layers.Dense(
            units,
            use_bias=not cfg.batch_norm,
            kernel_initializer=cfg.initializer,
            kernel_regularizer=regularizer,
            name=f"dense{i}",
        )(x)
        if cfg.batch_norm:
            x = keras.layers.BatchNormalization(name=f"dense{i}_bn")(x)
        x = keras.layers.Activation(cfg.activation, name=f"dense{i}_act")(x)
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name=f"dense{i}_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mlp")
