"""The `train` slice: how long, how big the batches, what the callbacks watch, what is measured."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.config import LossConfig, OptimizerConfig


class GradientHealthConfig(BaseModel):
    """Per-layer gradient norms on one fixed training batch (`train.gradient_health`)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity: they pass gt=0

    enabled: bool = True
    # None: once per epoch. N: every N optimizer steps (each measurement costs one extra batch).
    every_n_steps: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=128, ge=1, description="size of the fixed probe batch")
    # A layer whose gradient norm leaves [vanishing_below, exploding_above] is warned about.
    vanishing_below: float = Field(default=1e-5, gt=0.0)
    exploding_above: float = Field(default=1e3, gt=0.0)


class ProgressiveResizeConfig(BaseModel):
    """Small images early, full size late (`train.progressive_resize`; pipelines/training/progressive.py)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity: they pass gt=0

    # The first epoch's side as a fraction of data.image_size; 1.0: off (every epoch at full size).
    start_scale: float = Field(default=1.0, ge=0.25, le=1.0)
    # The side grows linearly to the full size, reached after this fraction of the epochs.
    full_size_at: float = Field(default=0.5, gt=0.0, le=1.0)
    # Sides are multiples of this: few distinct shapes, so few retraces of the training step.
    multiple: int = Field(default=8, ge=1, le=64)


class FineTuneConfig(BaseModel):
    """The two phases of a run with `model.pretrained` (`train.fine_tune`; pipelines/training/fine_tune.py)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity: they pass gt=0

    # Phase 1: the new head alone, the backbone frozen, for this many epochs (0: straight to phase 2).
    head_epochs: int = Field(default=3, ge=0, le=1000)
    # Phase 2 (train.epochs): the backbone steps at this x the learning rate, the head at 1 x.
    backbone_lr_scale: float = Field(default=0.1, gt=0.0, le=1.0)


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # no NaN or infinity: they pass gt=0

    epochs: int = Field(default=60, ge=1, le=10_000)
    # Wall-clock budget: stop before the next epoch would overrun it (equal-cost comparisons).
    time_budget_minutes: float | None = Field(default=None, gt=0.0)
    # Per replica: with N devices (or workers) the global batch is N x batch_size.
    batch_size: int = Field(default=64, ge=1, le=8192, description="batch size per replica")
    optimizer: OptimizerConfig = OptimizerConfig()
    loss: LossConfig = LossConfig()
    # The validation metric that picks the best checkpoint and drives the callbacks below.
    # Top-k carries its k (val_top_5_accuracy: models.heads.top_k); prepare checks the model measures it.
    monitor: str = Field(default="val_accuracy", pattern=r"^val_(accuracy|loss|top_\d+_accuracy)$")
    # Epochs without improvement before stopping, counted only after the learning-rate warm-up
    # (a warm-up epoch's weights are never kept as "best"). "auto": 12 with a constant learning
    # rate, off with a schedule (cosine, onecycle, ...): stopping would cut the low-learning-rate
    # end where a schedule earns most of its accuracy; best.keras is kept either way.
    early_stopping_patience: int | Literal["auto"] | None = Field(default="auto", ge=1)
    # auto: each class's loss weighted by N / (K * n_class) (inverse frequency, as scikit-learn's
    # "balanced"), so an imbalanced folder does not train a majority-class guesser.
    class_weight: Literal["none", "auto"] = "none"
    reduce_lr_patience: int | None = Field(default=None, ge=1)
    reduce_lr_factor: float = Field(default=0.5, gt=0.0, lt=1.0)
    min_learning_rate: float = Field(default=1e-6, ge=0.0)
    shuffle_buffer: int = Field(default=10_000, ge=1)
    # Backup for kill-and-resume: every epoch, or also every N steps for long epochs.
    backup_every_n_steps: int | None = Field(default=None, ge=1)
    tensorboard: bool = False
    # auto/epoch: one line per epoch (pipelines/training/callbacks.EpochLine); bar: Keras' own
    # progress bar (two lines an epoch, updated in place); none: silent.
    progress: Literal["auto", "bar", "epoch", "none"] = "auto"
    gradient_health: GradientHealthConfig = GradientHealthConfig()
    progressive_resize: ProgressiveResizeConfig = ProgressiveResizeConfig()
    fine_tune: FineTuneConfig = FineTuneConfig()
    # How many misclassified test images the evaluation report shows.
    misclassified_examples: int = Field(default=25, ge=0, le=100)
    # A snapshot ensemble (Huang et al. 2017): the learning-rate schedule runs this many times
    # over train.epochs, each cycle restarting from the last one's weights; every cycle's final
    # weights are kept and the saved model averages their predictions when that scores at least
    # as well on validation as each cycle alone (pipelines/training/snapshots.py). The folder
    # defaults set it when a small set would stop at the epoch cap with budget left.
    snapshot_cycles: int = Field(default=1, ge=1, le=10)
    # warm: a cycle continues from the last one's weights; fresh: it starts again from the run's
    # starting weights (optimizer state cleared), so the members differ by the data's order and
    # augmentation alone, like independently trained models.
    snapshot_restart: Literal["warm", "fresh"] = "warm"

    @model_validator(mode="after")
    def _cycles_need_a_schedule(self) -> "TrainConfig":
        if self.snapshot_cycles > 1 and self.optimizer.schedule == "constant":
            raise ValueError(
                f"train.snapshot_cycles={self.snapshot_cycles} repeats a learning-rate schedule; "
                "train.optimizer.schedule 'constant' has none (choose onecycle, cosine, step or exponential)"
            )
        if self.snapshot_cycles > self.epochs:
            raise ValueError(
                f"train.snapshot_cycles={self.snapshot_cycles} needs at least as many train.epochs ({self.epochs})"
            )
        return self
