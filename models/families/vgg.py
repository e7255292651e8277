"""VGG-style networks (Simonyan & Zisserman 2015): VGG11/13/16/19 from stage specs.

Each stage is `convs` 3x3 convolutions of one width, then a 2x2 max pool. Pools are skipped
once the feature map is 1 pixel wide, so the same specs work from 32 px (digits upscaled)
to 224 px (the paper).

With `vgg_head: paper`, `batch_norm: false` and width 1, VGG16 at 224x224x3 with 1000 classes
has exactly 138,357,544 parameters, as in the paper and `keras.applications.VGG16`.
"""

from typing import Literal

from pydantic import Field

from models.config import ModelConfig
from models.registry import register
from models.size import block, head, pool, width

STAGE_WIDTHS = (64, 128, 256, 512, 512)
# Convolutions per stage: configurations A, B, D and E of the paper's Table 1.
VGG_STAGES = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}


class VggConfig(ModelConfig):
    vgg_depth: Literal[tuple(VGG_STAGES)] = 16
    vgg_head: Literal["paper", "gap"] = Field(
        default="gap", description="paper: flatten + two dense layers with dropout; gap: global average pooling"
    )
    head_units: int = Field(default=4096, ge=1, description="width of the paper head's dense layers")

    def count_parameters(self, input_shape, num_classes) -> int:
        size, channels, count = tuple(input_shape[:2]), input_shape[2], 0
        for convs, stage_width in zip(VGG_STAGES[self.vgg_depth], STAGE_WIDTHS, strict=True):
            for _ in range(convs):
                count += block(9 * channels, width(stage_width, self), self)
                channels = width(stage_width, self)
            size = pool(size)
        if self.vgg_head == "paper":
            units = width(self.head_units, self)
            count += block(size[0] * size[1] * channels, units, self) + block(units, units, self)
            channels = units
        return count + head(channels, self, num_classes)


@register("vgg", VggConfig)
def build_vgg(cfg, input_shape, num_classes):
    """`vgg_depth`, `width_multiplier`, `batch_norm`, `vgg_head` (paper or gap), `head_units`, `dropout`,
    `whiten_patch_size` (a frozen whitening first layer), `dirac_init`."""
    import keras  # here, not at the top: a config names this module without building anything

    from models.blocks import build_activation, build_regularizer, conv_block, dense_block, max_pool, scaled
    from models.heads import build_head
    from models.whitening import whitening_stem

    inputs = keras.Input(shape=input_shape, name="image")
    x = whitening_stem(inputs, cfg, build_activation(cfg, "whiten_act", spatial=True))
    for stage, (convs, stage_width) in enumerate(zip(VGG_STAGES[cfg.vgg_depth], STAGE_WIDTHS, strict=True), start=1):
        for i in range(1, convs + 1):
            x = conv_block(x, scaled(stage_width, cfg), 3, cfg, name=f"block{stage}_conv{i}")
        x = max_pool(x, name=f"block{stage}_pool")

    if cfg.vgg_head == "paper":
        # flatten -> fc1 -> dropout -> fc2 -> dropout (the paper uses dropout 0.5 here).
        x = keras.layers.Flatten(name="flatten")(x)
        x = dense_block(x, scaled(cfg.head_units, cfg), cfg, name="fc1")
        x = dense_block(x, scaled(cfg.head_units, cfg), cfg, name="fc2")
    else:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name="head_dropout")(x)
    outputs = build_head(x, cfg.task, num_classes, kernel_regularizer=build_regularizer(cfg))
    return keras.Model(inputs, outputs, name=f"vgg{cfg.vgg_depth}")
