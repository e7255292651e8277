"""The `data` slice of an experiment config: where images come from and how they are shaped."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from data.decode import DEFAULT_MAX_PIXELS

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
# The one list of sources (the `source` choices below): name -> "module:class",
# imported on use so that digits never pays for TensorFlow Datasets.
SOURCES = {
    "digits": "data.digits:DigitsSource",
    "folder": "data.folder:FolderSource",
    "keras": "data.keras_source:KerasSource",
    "tfds": "data.tfds_source:TfdsSource",
}


class DataConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal[tuple(SOURCES)] = "digits"
    # folder path for `folder`, dataset name for `keras` (mnist, fashion_mnist, cifar10,
    # cifar100) and `tfds` (any image-classification dataset, e.g. tf_flowers); unused for digits.
    path: str | None = None
    # Where `keras` / `tfds` find their cache: the Keras home (holding datasets/, default
    # $KERAS_HOME or ~/.keras) or the TFDS data dir (default $TFDS_DATA_DIR or ~/tensorflow_datasets).
    data_dir: str | None = None
    image_size: tuple[int, int] = Field(default=(8, 8), description="(height, width) in pixels")
    channels: Literal[1, 3] = 1
    resize: Literal["stretch", "center_crop", "pad"] = "stretch"
    normalization: Literal["scale", "standardize"] = "scale"
    val_fraction: float = Field(default=0.15, gt=0.0, lt=0.5)
    # 0: no test split (tiny sets); the run's report then scores the validation split.
    test_fraction: float = Field(default=0.2, ge=0.0, lt=0.5)
    # At most this many images per class (a seeded stratified sample): quick experiments on big sets.
    max_images_per_class: int | None = Field(default=None, ge=3)
    # memory: decode every run; disk: keep the decoded arrays in cache_dir, keyed by the dataset
    # fingerprint and the decode settings, so the next run skips decoding.
    cache: Literal["memory", "disk"] = "memory"
    cache_dir: str = ".cache/decoded"
    # Decompression-bomb guard: images with more pixels than this are refused.
    max_pixels: int = Field(default=DEFAULT_MAX_PIXELS, gt=0)

    @model_validator(mode="after")
    def _check(self) -> "DataConfig":
        if min(self.image_size) < 1 or max(self.image_size) > 1024:
            raise ValueError(f"image_size {list(self.image_size)} must be within 1..1024 pixels per side")
        if self.val_fraction + self.test_fraction >= 0.8:
            raise ValueError("val_fraction + test_fraction must leave at least 20% for training")
        if self.source in ("folder", "keras", "tfds") and not self.path:
            raise ValueError(f"data.path is required for source '{self.source}'")
        if self.source == "keras" and self.path not in KERAS_DATASETS:
            raise ValueError(f"keras dataset '{self.path}' is unknown; choose one of {', '.join(KERAS_DATASETS)}")
        return self
