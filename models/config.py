"""The `model` slice of an experiment config, plus the `train.optimizer` and `train.loss` slices.

`ModelConfig` holds what every family shares; each family's file in models/families/ adds its
own fields in a subclass. Names (activations, initializers) are checked here, so a typo fails
at load time with the list of valid choices.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.registry import family, family_names

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
    # The initializers lesson's bad examples: symmetric (no unit learns anything of its own) and
    # Keras' small RandomNormal (stddev 0.05: signals and gradients shrink layer by layer).
    "zeros": "zeros",
    "random_normal": "random_normal",
}


class ModelConfig(BaseModel):
    """What every family shares. Each family's own fields are in its config class, a subclass in
    its file under models/families/; `family_config` picks the class by `name`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity: they pass gt=0

    name: str = Field(default="mlp", description="model family: one of models.registry.family_names()")
    task: Literal[TASKS] = "multiclass"
    # Where the weights start (models/pretrained.py): None trains from scratch; `imagenet` loads Keras
    # Applications' weights for the family; models:/NAME@ALIAS, a run id or a .keras file reuses the
    # backbone of a model this project trained, with a new head for this dataset's classes.
    pretrained: str | None = Field(
        default=None, max_length=500, description="imagenet, models:/NAME@ALIAS, a run id or a .keras file"
    )
    activation: Literal[ACTIVATIONS] = "relu"
    leaky_relu_slope: float = Field(default=0.01, gt=0.0, lt=1.0, description="negative slope of leaky_relu")
    maxout_pieces: int = Field(default=2, ge=2, le=8, description="k linear pieces per maxout unit")
    initializer: Literal[tuple(INITIALIZERS)] = "he_normal"
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

    @field_validator("name")
    @classmethod
    def _known_family(cls, value: str) -> str:
        if value not in family_names():
            raise ValueError(f"unknown model family; choose one of {', '.join(family_names())}")
        return value

    def count_parameters(self, input_shape: tuple[int, ...], num_classes: int) -> int | None:
        """What `model.count_params()` of the built network will say, from the config alone (models/size.py
        checks it against memory before Keras allocates anything); None: this family does not count."""
        return None


def family_config(value: "dict | ModelConfig | None" = None, **fields) -> ModelConfig:
    """The `model` slice validated by its family's config class (chosen by `name`, default mlp).

    Other families' fields are dropped, not refused, so `model.name=vgg` works on an MLP config
    (pipelines.config.loading refuses them when typed on the command line); a key no family has is refused.
    """
    if isinstance(value, ModelConfig):
        value = value.model_dump()
    if not isinstance(value, dict | None):
        return value  # not a mapping (`model: 5`): pydantic's own one-line error
    data = {**(value or {}), **fields}
    name = data.get("name", "mlp")
    known = isinstance(name, str) and name in family_names()
    own = config_class(name) if known else ModelConfig  # an unknown name: the base says which names there are
    others = {field for other in family_names() for field in family_fields(other)} - set(own.model_fields)
    return own.model_validate({key: item for key, item in data.items() if key not in others})


def config_class(name: str) -> type[ModelConfig]:
    return family(name).config or ModelConfig


def family_fields(name: str) -> list[str]:
    """The model fields family `name` has beyond the shared ones: what its runs log and `compare` shows
    (none for a name no longer registered, e.g. a plugin family of an old run)."""
    if name not in family_names():
        return []
    return [field for field in config_class(name).model_fields if field not in ModelConfig.model_fields]


class OptimizerConfig(BaseModel):
    """Optimizer, learning-rate schedule and gradient clipping (`train.optimizer`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity: they pass gt=0

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

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity: they pass gt=0

    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    # beta in L = CE - beta * H(p). beta > 0 penalizes over-confident predictions (the confidence
    # penalty of Pereyra et al. 2017); beta < 0 rewards confidence. The course writes
    # L = L_original - lambda * sum_k p_k log p_k = CE + lambda * H(p), i.e. lambda = -beta.
    entropy_penalty: float = Field(default=0.0, ge=-10.0, le=10.0)
