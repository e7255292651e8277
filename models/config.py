"""The `model` slice of an experiment config. Flat keyword arguments, as in Keras Applications:
fields that a family does not use are ignored, so `model.name=vgg` works from any config."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["mlp", "vgg", "inception"] = "mlp"
    # MLP
    hidden_units: list[int] = Field(default=[256, 128], min_length=1)
    activation: str = "relu"
    initializer: str = "he_normal"
    batch_norm: bool = True
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    input_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    l2: float = Field(default=0.0, ge=0.0)


class OptimizerConfig(BaseModel):
    """Optimizer, learning-rate schedule and gradient clipping (`train.optimizer`)."""

    model_config = ConfigDict(extra="forbid")

    name: Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"] = "adam"
    learning_rate: float = Field(default=1e-3, gt=0.0, le=10.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0, description="decoupled weight decay (AdamW, SGD)")
    schedule: Literal["constant", "step", "exponential", "cosine"] = "constant"
    warmup_epochs: float = Field(default=0.0, ge=0.0)
    decay_rate: float = Field(default=0.5, gt=0.0, le=1.0, description="step / exponential decay factor")
    decay_epochs: float = Field(default=10.0, gt=0.0, description="epochs per decay step")
    clipnorm: float | None = Field(default=None, gt=0.0)
    clipvalue: float | None = Field(default=None, gt=0.0)
    global_clipnorm: float | None = Field(default=None, gt=0.0)


class LossConfig(BaseModel):
    """Loss shaping (`train.loss`): label smoothing and the entropy (confidence) penalty."""

    model_config = ConfigDict(extra="forbid")

    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    # L = L_original - entropy_penalty * sum_k p_k log p_k: positive values penalize
    # over-confident predictions (Pereyra et al. 2017), negative values reward confidence.
    entropy_penalty: float = Field(default=0.0, ge=-10.0, le=10.0)
