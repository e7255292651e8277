"""Building blocks shared by every family: activations (Maxout included), initializers,
kernel regularizers, and the dense / conv blocks that put them together.

All layers here are built-in Keras layers or registered serializable ones: the saved
`.keras` file loads under `safe_mode` (no Lambda layers).
"""

import keras
import numpy as np
from keras import ops

from models.config import INITIALIZERS


@keras.saving.register_keras_serializable(package="imgclf")
class Maxout(keras.layers.Layer):
    """Maxout (Goodfellow et al. 2013): each unit is the max of k linear pieces.

    The layer before it produces `units * pieces` features (see `pre_activation_width`); this
    layer groups the last axis into `units` groups of `pieces` and keeps each group's maximum.
    """

    def __init__(self, pieces: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.pieces = int(pieces)

    def call(self, inputs):
        features = inputs.shape[-1]
        if features % self.pieces:
            raise ValueError(f"maxout: {features} features are not divisible by {self.pieces} pieces")
        grouped = ops.reshape(inputs, (-1, *inputs.shape[1:-1], features // self.pieces, self.pieces))
        return ops.max(grouped, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.pieces)

    def get_config(self):
        return {**super().get_config(), "pieces": self.pieces}


def pre_activation_width(units: int, cfg) -> int:
    """Maxout needs k linear pieces per output unit, so the layer before it is k times wider."""
    return units * cfg.maxout_pieces if cfg.activation == "maxout" else units


def build_activation(cfg, name: str, spatial: bool = False) -> keras.layers.Layer:
    """The activation layer named by `cfg.activation`; `spatial` for conv feature maps."""
    if cfg.activation == "maxout":
        return Maxout(cfg.maxout_pieces, name=name)
    if cfg.activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=cfg.leaky_relu_slope, name=name)
    if cfg.activation == "prelu":
        # One learned slope per channel, shared across positions (He et al. 2015, init 0.25).
        return keras.layers.PReLU(
            alpha_initializer=keras.initializers.Constant(0.25), shared_axes=[1, 2] if spatial else None, name=name
        )
    return keras.layers.Activation(cfg.activation, name=name)


def build_initializer(cfg) -> str:
    return INITIALIZERS[cfg.initializer]


@keras.saving.register_keras_serializable(package="imgclf")
class Dirac(keras.initializers.Initializer):
    """Identity ("dirac") conv kernel on the first min(in, out) output channels, `base` for the rest.

    A conv initialized so passes its input through unchanged (airbench, after torch.nn.init.dirac_):
    a deep plain VGG then starts close to a shallow one and trains faster. Where in == out channels
    the whole kernel is the identity; where out > in the extra channels get the usual init.
    """

    def __init__(self, base: str = "he_normal"):
        self.base = base

    def __call__(self, shape, dtype=None):
        kernel = np.array(keras.ops.convert_to_numpy(keras.initializers.get(self.base)(shape, dtype=dtype)))
        kh, kw, cin, cout = shape
        identity = min(cin, cout)
        kernel[..., :identity] = 0.0
        kernel[kh // 2, kw // 2, np.arange(identity), np.arange(identity)] = 1.0
        return keras.ops.convert_to_tensor(kernel, dtype=dtype)

    def get_config(self):
        return {"base": self.base}


def conv_initializer(cfg, kernel_size: int, strides: int):
    if cfg.dirac_init and kernel_size == 3 and strides == 1:
        return Dirac(build_initializer(cfg))
    return build_initializer(cfg)


def build_regularizer(cfg) -> keras.regularizers.Regularizer | None:
    """L1 and/or L2 penalty on kernels, added to the loss (coupled; see the optimizer for decoupled decay)."""
    if not (cfg.l1 or cfg.l2):
        return None
    return keras.regularizers.L1L2(l1=cfg.l1, l2=cfg.l2)


def scaled(width: int, cfg) -> int:
    """A layer width times the width multiplier, never below 1."""
    return max(1, round(width * cfg.width_multiplier))


def batch_norm(x, name: str):
    # Momentum 0.9 rather than Keras' 0.99: the moving statistics that evaluation uses settle in
    # tens of steps, not hundreds; small datasets have only ~20 steps per epoch.
    return keras.layers.BatchNormalization(momentum=0.9, name=name)(x)


def dense_block(x, units: int, cfg, name: str):
    """dense -> [batch norm] -> activation -> [dropout]."""
    # With batch norm the bias is redundant: BN's beta plays its role.
    x = keras.layers.Dense(
        pre_activation_width(units, cfg),
        use_bias=not cfg.batch_norm,
        kernel_initializer=build_initializer(cfg),
        kernel_regularizer=build_regularizer(cfg),
        name=name,
    )(x)
    if cfg.batch_norm:
        x = batch_norm(x, name=f"{name}_bn")
    x = build_activation(cfg, f"{name}_act")(x)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)
    return x


def conv_block(x, filters: int, kernel_size: int, cfg, name: str, strides: int = 1):
    """conv (same padding) -> [batch norm] -> activation."""
    x = keras.layers.Conv2D(
        pre_activation_width(filters, cfg),
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=not cfg.batch_norm,
        kernel_initializer=conv_initializer(cfg, kernel_size, strides),
        kernel_regularizer=build_regularizer(cfg),
        name=name,
    )(x)
    if cfg.batch_norm:
        x = batch_norm(x, name=f"{name}_bn")
    return build_activation(cfg, f"{name}_act", spatial=True)(x)


def max_pool(x, name: str, pool_size: int = 2, strides: int = 2, padding: str = "valid"):
    """Downsample, unless the feature map is already 1 pixel wide: small inputs keep working.

    A network built for any image size (height and width None) pools with "same" padding: on a
    1-pixel map that is the identity, so small sizes keep working there too."""
    if None in x.shape[1:3]:
        padding = "same"
    elif min(x.shape[1], x.shape[2]) < 2:
        return x
    return keras.layers.MaxPooling2D(pool_size, strides=strides, padding=padding, name=name)(x)
