"""Inception-style networks: GoogLeNet / Inception v1 (Szegedy et al. 2015) from module specs.

One `inception_module(x, spec)` is applied in a loop over a list of specs; "pool" entries
downsample, "aux" entries attach an auxiliary classifier at that depth. Auxiliary outputs make
the model return a dict {"predictions", "aux1", "aux2"}: train it through
`models.build_training_model` (weighted auxiliary losses) and save `models.inference_model(...)`,
which has only the main softmax output.

Parameter count of the paper's configuration (`inception_modules: googlenet`,
`inception_stem: paper`, `batch_norm: false`, width 1) at 224x224x3 with 1000 classes and no
auxiliary classifiers: exactly 6,998,552 = 6,990,272 weights + 8,280 biases. The paper says
"about 6.8M": its Table 1 column sums to 6.80M but undercounts some layers against the spec it
lists (e.g. conv1 7x7x3x64 = 9,408 vs "2.7K"; module 5b 1,442,816 vs "1388K"), so we are +0.2M
(+2.9%) above the paper's figure. Local response normalization is left out (batch norm replaced
it in later versions); it has no parameters. The auxiliary classifiers add 3,188,840 (after 4a)
and 3,190,888 (after 4d) at 1000 classes; they are not part of the inference model.
"""

import math
from typing import Literal, NamedTuple

from pydantic import Field

from models.config import ModelConfig
from models.registry import register
from models.size import block, head, pool, width


class ModuleSpec(NamedTuple):
    """Widths of one inception module's four branches (the columns of the paper's Table 1)."""

    name: str
    conv1x1: int
    reduce3x3: int
    conv3x3: int
    reduce5x5: int
    conv5x5: int
    pool_proj: int


GOOGLENET_MODULES = [
    ModuleSpec("3a", 64, 96, 128, 16, 32, 32),
    ModuleSpec("3b", 128, 128, 192, 32, 96, 64),
    "pool",
    ModuleSpec("4a", 192, 96, 208, 16, 48, 64),
    "aux",
    ModuleSpec("4b", 160, 112, 224, 24, 64, 64),
    ModuleSpec("4c", 128, 128, 256, 24, 64, 64),
    ModuleSpec("4d", 112, 144, 288, 32, 64, 64),
    "aux",
    ModuleSpec("4e", 256, 160, 320, 32, 128, 128),
    "pool",
    ModuleSpec("5a", 256, 160, 320, 32, 128, 128),
    ModuleSpec("5b", 384, 192, 384, 48, 128, 128),
]
INCEPTION_MODULES = {
    "googlenet": GOOGLENET_MODULES,
    # Five modules instead of nine (3a, 3b, 4a, 4d, 5b), both auxiliary classifiers: for small images and CPUs.
    "compact": [GOOGLENET_MODULES[i] for i in (0, 1, 2, 3, 4, 7, 8, 10, 12)],
}


class InceptionConfig(ModelConfig):
    inception_modules: Literal[tuple(INCEPTION_MODULES)] = "googlenet"
    inception_stem: Literal["paper", "compact"] = Field(
        default="paper", description="paper: 7x7/2 conv and two pools (224 px); compact: 3x3 convs (32 px)"
    )
    aux_classifiers: bool = False
    aux_loss_weight: float = Field(default=0.3, ge=0.0, le=1.0, description="weight of each auxiliary loss")

    def count_parameters(self, input_shape, num_classes) -> int:
        size, channels = tuple(input_shape[:2]), input_shape[2]
        if self.inception_stem == "paper":
            count = block(49 * channels, width(64, self), self)
            size = (math.ceil(size[0] / 2), math.ceil(size[1] / 2))  # the 7x7/2 conv, "same" padding
            size = pool(size, "same")
            count += block(width(64, self), width(64, self), self) + block(9 * width(64, self), width(192, self), self)
        else:
            count = block(9 * channels, width(64, self), self) + block(9 * width(64, self), width(192, self), self)
        size, channels = pool(size, "same"), width(192, self)
        for spec in INCEPTION_MODULES[self.inception_modules]:
            if spec == "pool":
                size = pool(size, "same")
            elif spec == "aux":
                count += self._count_auxiliary(size, channels, num_classes) if self.aux_classifiers else 0
            else:
                w = {field: width(getattr(spec, field), self) for field in spec._fields[1:]}
                count += block(channels, w["conv1x1"], self)
                count += block(channels, w["reduce3x3"], self) + block(9 * w["reduce3x3"], w["conv3x3"], self)
                count += block(channels, w["reduce5x5"], self) + block(25 * w["reduce5x5"], w["conv5x5"], self)
                count += block(channels, w["pool_proj"], self)
                channels = w["conv1x1"] + w["conv3x3"] + w["conv5x5"] + w["pool_proj"]
        return count + head(channels, self, num_classes)

    def _count_auxiliary(self, size, channels, num_classes) -> int:
        """auxiliary_classifier: 5x5/3 average pool, 1x1 conv, flatten, fc, head."""
        kernel = (min(5, size[0]), min(5, size[1]))
        pooled = ((size[0] - kernel[0]) // 3 + 1, (size[1] - kernel[1]) // 3 + 1)
        conv, fc = width(128, self), width(1024, self)
        return block(channels, conv, self) + block(pooled[0] * pooled[1] * conv, fc, self) + head(fc, self, num_classes)


# Keras is imported inside the functions below, not at the top: a config names this module
# (for InceptionConfig) without building anything.


def inception_module(x, spec: ModuleSpec, cfg):
    """Four parallel branches (1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max pool -> 1x1), concatenated."""
    import keras

    from models.blocks import conv_block, scaled

    name = f"inception{spec.name}"
    branch1 = conv_block(x, scaled(spec.conv1x1, cfg), 1, cfg, name=f"{name}_1x1")
    branch3 = conv_block(x, scaled(spec.reduce3x3, cfg), 1, cfg, name=f"{name}_3x3_reduce")
    branch3 = conv_block(branch3, scaled(spec.conv3x3, cfg), 3, cfg, name=f"{name}_3x3")
    branch5 = conv_block(x, scaled(spec.reduce5x5, cfg), 1, cfg, name=f"{name}_5x5_reduce")
    branch5 = conv_block(branch5, scaled(spec.conv5x5, cfg), 5, cfg, name=f"{name}_5x5")
    pool = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    pool = conv_block(pool, scaled(spec.pool_proj, cfg), 1, cfg, name=f"{name}_pool_proj")
    return keras.layers.Concatenate(name=f"{name}_concat")([branch1, branch3, branch5, pool])


def build_stem(x, cfg):
    from models.blocks import conv_block, max_pool, scaled

    if cfg.inception_stem == "paper":
        # 7x7/2 conv, 3x3/2 pool, 1x1 -> 3x3 conv, 3x3/2 pool: 224 px -> 28 px.
        x = conv_block(x, scaled(64, cfg), 7, cfg, name="stem_conv1", strides=2)
        x = max_pool(x, name="stem_pool1", pool_size=3, strides=2, padding="same")
        x = conv_block(x, scaled(64, cfg), 1, cfg, name="stem_conv2_reduce")
        x = conv_block(x, scaled(192, cfg), 3, cfg, name="stem_conv2")
        return max_pool(x, name="stem_pool2", pool_size=3, strides=2, padding="same")
    # compact: full-resolution 3x3 convs, one pool: 32 px -> 16 px, as CIFAR-sized GoogLeNets do.
    x = conv_block(x, scaled(64, cfg), 3, cfg, name="stem_conv1")
    x = conv_block(x, scaled(192, cfg), 3, cfg, name="stem_conv2")
    return max_pool(x, name="stem_pool", pool_size=3, strides=2, padding="same")


def auxiliary_classifier(x, cfg, index: int, num_classes: int):
    """5x5/3 average pool -> 1x1 conv (128) -> fc (1024) -> dropout 0.7 -> classifier, as in the paper."""
    import keras

    from models.blocks import build_regularizer, conv_block, dense_block, scaled
    from models.heads import build_head

    name = f"aux{index}"
    pool = (min(5, x.shape[1]), min(5, x.shape[2]))  # small inputs: never pool beyond the map
    x = keras.layers.AveragePooling2D(pool, strides=3, padding="valid", name=f"{name}_pool")(x)
    x = conv_block(x, scaled(128, cfg), 1, cfg, name=f"{name}_conv")
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = dense_block(x, scaled(1024, cfg), cfg.model_copy(update={"dropout": 0.7}), name=f"{name}_fc")
    return build_head(x, cfg.task, num_classes, name=name, kernel_regularizer=build_regularizer(cfg))


@register("inception", InceptionConfig)
def build_inception(cfg, input_shape, num_classes):
    """`inception_modules`, `inception_stem`, `width_multiplier`, `batch_norm`, `aux_classifiers`, `dropout`."""
    import keras

    from models.blocks import build_activation, build_regularizer, max_pool
    from models.heads import build_head
    from models.whitening import whitening_stem

    inputs = keras.Input(shape=input_shape, name="image")
    x = build_stem(whitening_stem(inputs, cfg, build_activation(cfg, "whiten_act", spatial=True)), cfg)
    aux_outputs = {}
    pools = 0
    for spec in INCEPTION_MODULES[cfg.inception_modules]:
        if spec == "pool":
            pools += 1
            x = max_pool(x, name=f"pool{pools + 2}", pool_size=3, strides=2, padding="same")
        elif spec == "aux":
            if cfg.aux_classifiers:
                name = f"aux{len(aux_outputs) + 1}"
                aux_outputs[name] = auxiliary_classifier(x, cfg, len(aux_outputs) + 1, num_classes)
        else:
            x = inception_module(x, spec, cfg)

    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if cfg.dropout:
        x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)  # the paper uses 0.4
    outputs = build_head(x, cfg.task, num_classes, kernel_regularizer=build_regularizer(cfg))
    if aux_outputs:
        return keras.Model(inputs, {"predictions": outputs, **aux_outputs}, name="inception")
    return keras.Model(inputs, outputs, name="inception")
