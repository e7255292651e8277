"""The `model` slice of an experiment config, plus the `train.optimizer` and `train.loss` slices.

Flat keyword arguments, as in Keras Applications: fields that a family does not use are
ignored, so `model.name=vgg` works from any config. Names (activations, initializers) are
checked here, so a typo fails at load time with the list of valid choices.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ACTIVATIONS = (
    "relu",
    "leaky_relu",
    "prelu",
    "elu",
    "selu",
    "gelu",
    "swish",
    "silu",
    "mish",
    "softplus",
    "softsign",
    "tanh",
    "sigmoid",
    "hard_sigmoid",
    "hard_swish",
    "linear",
    "maxout",
)
# The one list of each choice: the config's Literal types are made from these tuples.
TASKS = ("multiclass", "binary", "multilabel")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
# `constant` keeps the learning rate a plain float, the only form ReduceLROnPlateau can change.
SCHEDULES = ("constant", "step", "exponential", "cosine", "onecycle")
# Course names -> Keras names. Xavier is Glorot; plain `he` / `lecun` mean their normal variant.
INITIALIZERS = {
    "glorot_uniform": "glorot_uniform",
    "glorot_normal": "glorot_normal",
    "xavier_uniform": "glorot_uniform",
    "xavier_normal": "glorot_normal",
    "he_uniform": "he_uniform",
    "he_normal": "he_normal",
    "he": "he_normal",
    "lecun_uniform": "lecun_uniform",
    "lecun_normal": "lecun_normal",
    "lecun": "lecun_normal",
}


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="mlp", description="model family: one of models.registry.family_names()")
    task: Literal[TASKS] = "multiclass"

    # Shared by every family.
    activation: str = "relu"
    leaky_relu_slope: float = Field(default=0.01, gt=0.0, lt=1.0, description="negative slope of leaky_relu")
    maxout_pieces: int = Field(default=2, ge=2, le=8, description="k linear pieces per maxout unit")
    initializer: str = "he_normal"
    batch_norm: bool = True
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0, description="dropout before each dense layer")
    l1: float = Field(default=0.0, ge=0.0, description="L1 penalty on every kernel")
    l2: float = Field(default=0.0, ge=0.0, description="L2 penalty on every kernel (coupled weight decay)")
    width_multiplier: float = Field(default=1.0, gt=0.0, le=4.0, description="scales conv and head widths")
    # Convolutional families (VGG, Inception): the fast-training recipe of airbench / hlb-CIFAR10.
    whiten_patch_size: Literal[0, 2, 3] = Field(
        default=0, description="0: off; k: frozen k x k patch-whitening first layer fitted on training images"
    )
    whiten_eps: float = Field(default=5e-4, gt=0.0, description="added to each eigenvalue before 1/sqrt")
    dirac_init: bool = Field(
        default=False, description="3x3 stride-1 convs start as identity on their first min(in, out) channels"
    )

    # MLP
    hidden_units: list[int] = Field(default=[256, 128], min_length=1)
    input_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

    # VGG
    vgg_depth: Literal[11, 13, 16, 19] = 16
    vgg_head: Literal["paper", "gap"] = Field(
        default="gap", description="paper: flatten + two dense layers with dropout; gap: global average pooling"
    )
    head_units: int = Field(default=4096, ge=1, description="width of the paper head's dense layers")

    # Inception (GoogLeNet)
    inception_modules: Literal["googlenet", "compact"] = "googlenet"
    inception_stem: Literal["paper", "compact"] = Field(
        default="paper", description="paper: 7x7/2 conv and two pools (224 px); compact: 3x3 convs (32 px)"
    )
    aux_classifiers: bool = False
    aux_loss_weight: float = Field(default=0.3, ge=0.0, le=1.0, description="weight of each auxiliary loss")

    @field_validator("name")
    @classmethod
    def _known_family(cls, value: str) -> str:
        from models.registry import family_names  # the registry is the one list of families

        if value not in family_names():
            raise ValueError(f"unknown model family; choose one of {', '.join(family_names())}")
        return value

    @field_validator("activation")
    @classmethod
    def _known_activation(cls, value: str) -> str:
        if value not in ACTIVATIONS:
            raise ValueError(f"unknown activation; choose one of {', '.join(ACTIVATIONS)}")
        return value

    @field_validator("initializer")
    @classmethod
    def _known_initializer(cls, value: str) -> str:
        if value not in INITIALIZERS:
            raise ValueError(f"unknown initializer; choose one of {', '.join(INITIALIZERS)}")
        return value

    @field_validator("hidden_units")
    @classmethod
    def _positive_units(cls, value: list[int]) -> list[int]:
        if any(units < 1 for units in value):
            raise ValueError("every hidden layer needs at least 1 unit")
        return value


class OptimizerConfig(BaseModel):
    """Optimizer, learning-rate schedule and gradient clipping (`train.optimizer`)."""

    model_config = ConfigDict(extra="forbid")

    name: Literal[OPTIMIZERS] = "adam"
    learning_rate: float = Field(default=1e-3, gt=0.0, le=10.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    # Decoupled weight decay (Loshchilov & Hutter): w <- w - lr * wd * w, applied by the optimizer,
    # not through the loss. None: the optimizer's own default (AdamW 0.004, the others none).
    weight_decay: float | None = Field(default=None, ge=0.0, lt=1.0)
    # onecycle: linear ramp from 0.2 x lr up to lr over `warmup_epochs` (0: the first 25% of the run),
    # then linear down to 0.07 x lr at the last step (airbench's triangular schedule).
    schedule: Literal[SCHEDULES] = "constant"
    warmup_epochs: float = Field(default=0.0, ge=0.0, description="linear warmup (cosine and onecycle)")
    decay_rate: float = Field(default=0.5, gt=0.0, le=1.0, description="step / exponential decay factor")
    decay_epochs: float = Field(default=10.0, gt=0.0, description="epochs per decay step")
    clipnorm: float | None = Field(default=None, gt=0.0, description="clip each gradient tensor's norm")
    clipvalue: float | None = Field(default=None, gt=0.0, description="clip each gradient element")
    global_clipnorm: float | None = Field(default=None, gt=0.0, description="clip the norm of all gradients")
    # SGD family only: batch-norm offsets (beta) learn `bias_lr_scale` times faster (airbench: 64).
    bias_lr_scale: float = Field(default=1.0, gt=0.0, le=1000.0)
    # Exponential moving average of the weights (Keras `use_ema`). The average is swapped into the
    # model when training ends, so the report and the served model use it. With
    # `ema_overwrite_every_n_steps` it is also copied into the weights every N steps during
    # training (lookahead-like: training continues from the average).
    ema: bool = False
    ema_momentum: float = Field(default=0.99, ge=0.0, lt=1.0)
    ema_overwrite_every_n_steps: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check(self) -> "OptimizerConfig":
        if self.warmup_epochs and self.schedule not in ("cosine", "onecycle"):
            raise ValueError(f"warmup_epochs works with schedules 'cosine' and 'onecycle', not '{self.schedule}'")
        if self.bias_lr_scale != 1.0 and self.name not in ("sgd", "momentum", "nesterov"):
            raise ValueError(f"bias_lr_scale works with sgd, momentum and nesterov only, not '{self.name}'")
        clipping = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if getattr(self, k)]
        if len(clipping) > 1:
            raise ValueError(f"set one of clipnorm, clipvalue, global_clipnorm, not {' and '.join(clipping)}")
        return self


class LossConfig(BaseModel):
    """Loss shaping (`train.loss`): label smoothing and the entropy (confidence) penalty."""

    model_config = ConfigDict(extra="forbid")

    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    # beta in L = CE - beta * H(p). beta > 0 penalizes over-confident predictions (the confidence
    # penalty of Pereyra et al. 2017); beta < 0 rewards confidence. The course writes
    # L = L_original - lambda * sum_k p_k log p_k = CE + lambda * H(p), i.e. lambda = -beta.
    entropy_penalty: float = Field(default=0.0, ge=-10.0, le=10.0)
