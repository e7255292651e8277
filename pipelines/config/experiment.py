"""The experiment schema: one typed section per concern, each handed only to its own builder."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from data.config import DataConfig
from models.config import ModelConfig, family_config
from pipelines.config.augment import AugmentConfig
from pipelines.config.names import check_alias, check_name
from pipelines.config.train import TrainConfig

# No NaN or infinity in any number of the config: a budget of `inf` minutes or a timeout of `nan`
# seconds passes `gt=0` and fails much later, deep in arithmetic (OverflowError), not here.
STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class RuntimeConfig(BaseModel):
    """Where and how training runs (`runtime`); see pipelines/training/distributed/strategy.py."""

    model_config = STRICT

    # auto: TPU if reachable, else a multi-worker cluster from TF_CONFIG, else all GPUs, else the CPU.
    device: Literal["auto", "cpu", "gpu", "tpu"] = "auto"
    # Split the CPU into N logical devices and mirror over them: distribution code runs (and is
    # tested) on a laptop. Must be set before TensorFlow touches a device, i.e. in a fresh process.
    logical_cpus: int = Field(default=1, ge=1, le=64)
    # true: mixed_float16 on GPU, mixed_bfloat16 on TPU and CPU. auto: the same where the hardware
    # computes in it natively (a GPU, a TPU, a CPU with AVX512-BF16 or AMX: 1.3-1.9x faster steps
    # measured on flowers' VGG, same accuracy), float32 on other CPUs, where bf16 is emulated.
    mixed_precision: bool | Literal["auto"] = False
    jit_compile: bool = False  # XLA: measured ~2x slower for small CNNs on this CPU
    # TensorFlow's thread pools: within one op (a convolution) and across independent ops. 0: its
    # own choice (one per core). Must be set before TensorFlow starts, i.e. in a fresh process.
    intra_op_threads: int = Field(default=0, ge=0, le=1024)
    inter_op_threads: int = Field(default=0, ge=0, le=1024)
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism (slower)
    # Multi-worker: a collective waiting longer than this for a peer fails instead of hanging.
    collective_timeout_seconds: float = Field(default=300.0, gt=0.0)


class TrackingConfig(BaseModel):
    model_config = STRICT

    experiment: str | None = None  # default: one experiment per dataset
    registered_model: str | None = None  # default: "<dataset>-classifier"
    alias: str = "champion"
    register_model: bool = True
    # "if_better": a new version takes the alias only if its best validation value of
    # train.monitor is at least the current holder's; "always": the newest version takes it.
    alias_policy: Literal["if_better", "always"] = "if_better"

    @field_validator("experiment", "registered_model")
    @classmethod
    def _name(cls, value: str | None, info) -> str | None:
        return None if value is None else check_name(value, f"the {info.field_name.replace('_', ' ')} name")

    @field_validator("alias")
    @classmethod
    def _alias(cls, value: str) -> str:
        return check_alias(value)


class EvaluateConfig(BaseModel):
    model_config = STRICT

    # Test-time augmentation, in the test report AND in the served model (models/tta.py):
    # "flip" averages the predictions for the image and its mirror image (2x inference cost),
    # "flip_crops" also those of both shifted by 1/32 of the side up-left and down-right (6x).
    tta: Literal["none", "flip", "flip_crops"] = "none"  # the modes of models/tta.py TTA_MODES


class ExperimentConfig(BaseModel):
    model_config = STRICT

    seed: int = Field(default=42, ge=0, le=2**32 - 1)  # numpy's and TensorFlow's seed range
    output_dir: str = "outputs"
    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    # The family's own config class (models/families/), chosen by model.name; dumped with its own fields.
    model: SerializeAsAny[ModelConfig] = Field(default_factory=family_config)
    train: TrainConfig = TrainConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    tracking: TrackingConfig = TrackingConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    @field_validator("model", mode="before")
    @classmethod
    def _family_class(cls, value):
        return family_config(value)

    @field_validator("output_dir")
    @classmethod
    def _a_folder(cls, value: str) -> str:
        """Run directories are made under it: a file there (or on the way) would be a NotADirectoryError traceback."""
        path = Path(value)
        for part in (path, *path.parents):
            if part.exists():
                if not part.is_dir():
                    where = "is a file" if part == path else f"is under the file '{part}'"
                    raise ValueError(f"output_dir '{value}' {where}; name a folder (created if missing)")
                break
        return value

    @model_validator(mode="after")
    def _default_names(self) -> "ExperimentConfig":
        """The names taken from the dataset when tracking sets none (a folder named 'a:b' or '..')."""
        dataset = self.dataset_name()
        for key, name in (("experiment", dataset), ("registered_model", f"{dataset}-classifier")):
            if getattr(self.tracking, key) is None:
                try:
                    check_name(name, f"the {key.replace('_', ' ')} name {name!r} (from the dataset's name)")
                except ValueError as err:
                    raise ValueError(f"{err}; set tracking.{key}=NAME") from None
        return self

    def dataset_name(self) -> str:
        if self.data.source == "digits":
            return "digits"
        return Path(self.data.path or self.data.source).name or self.data.source
