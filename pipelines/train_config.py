"""The `train` slice: how long, how big the batches, and what the callbacks watch."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.config import LossConfig, OptimizerConfig


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    epochs: int = Field(default=60, ge=1, le=10_000)
    batch_size: int = Field(default=64, ge=1, le=8192, description="global batch size")
    optimizer: OptimizerConfig = OptimizerConfig()
    loss: LossConfig = LossConfig()
    monitor: Literal["val_accuracy", "val_loss"] = "val_accuracy"
    early_stopping_patience: int | None = Field(default=12, ge=1)
    reduce_lr_patience: int | None = Field(default=None, ge=1)
    shuffle_buffer: int = Field(default=10_000, ge=1)
