"""Any TFDS image-classification dataset by name, from a prepared TFDS data dir.

Needs the optional `tensorflow-datasets` package. Images are read as their encoded bytes
and decoded by data.decode like every other image, so training and serving see the same
pixels and an unreadable record is skipped and listed, not fatal.
"""

import logging
import os
from pathlib import Path

import numpy as np

from data.config import DataConfig
from data.dataset import ImageSet, Loaded, fingerprint
from data.decode import DecodeError, decode_image
from data.errors import first_line

log = logging.getLogger(__name__)

# TFDS split names -> ours; other splits (e.g. "extra") are not used.
SPLIT_NAMES = {"train": "train", "validation": "val", "val": "val", "test": "test"}


def tfds_data_dir(data_dir: str | None = None) -> Path:
    return Path(data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets").expanduser()


class TfdsSource:
    def __init__(self, cfg: DataConfig):
        try:
            import tensorflow_datasets as tfds
        except ImportError:
            raise ValueError(
                "data.source 'tfds' needs the optional package tensorflow-datasets: pip install tensorflow-datasets"
            ) from None
        self.tfds, self.cfg, self.name = tfds, cfg, cfg.path
        self.data_dir = tfds_data_dir(cfg.data_dir)
        try:
            self.builder = tfds.builder(self.name, data_dir=str(self.data_dir))
        except Exception as err:  # DatasetNotFoundError and friends: the name is wrong
            raise ValueError(
                f"TFDS dataset '{self.name}' is neither a known TFDS name nor prepared in {self.data_dir} "
                f"({type(err).__name__}); names look like 'tf_flowers' or 'mnist:3.0.1'"
            ) from None
        self._prepare()
        self.image_key, self.label_key = self._keys()
        self.class_names = list(self.builder.info.features[self.label_key].names)
        splits = self.builder.info.splits
        self.splits = {ours: theirs for theirs, ours in SPLIT_NAMES.items() if theirs in splits}
        if "train" not in self.splits:
            raise ValueError(f"TFDS dataset '{self.name}' has no 'train' split (it has {', '.join(splits)})")
        version = self.builder.info.version
        self.fingerprint = fingerprint(
            [(f"tfds:{self.name}:{version}:{s}", splits[s].num_examples) for s in self.splits.values()]
        )

    def load(self) -> Loaded:
        skipped: list[tuple[str, str]] = []
        parts = {ours: self._read(theirs, ours, skipped) for ours, theirs in self.splits.items()}
        if set(parts) == {"train"}:
            parts = {"all": parts["train"]}  # one split: val and test are drawn from it
        return Loaded(parts, self.class_names, self.fingerprint, skipped)

    def _prepare(self) -> None:
        if self.builder.is_prepared():
            return
        log.info("TFDS dataset '%s' is not prepared in %s; trying to download it", self.name, self.data_dir)
        try:
            from tensorflow_datasets.core.download import downloader

            # TFDS retries each URL 10 times with backoff: over 3 minutes to learn that a
            # machine is offline. 3 retries still ride out a flaky network.
            downloader.MAX_RETRIES = min(downloader.MAX_RETRIES, 3)
        except (ImportError, AttributeError):
            pass
        try:
            self.builder.download_and_prepare()
        except Exception as err:  # no network, missing extras, ...: all mean "not available here"
            reason = first_line(err, 120)
            raise ValueError(
                f"TFDS dataset '{self.name}' is not prepared in {self.data_dir} and could not be downloaded "
                f"({type(err).__name__}: {reason}); prepare it once with network (tfds build {self.name}) "
                "or set data.data_dir / TFDS_DATA_DIR to where it is"
            ) from None

    def _keys(self) -> tuple[str, str]:
        tfds, info = self.tfds, self.builder.info
        if info.supervised_keys and len(info.supervised_keys) == 2:
            image_key, label_key = info.supervised_keys
        else:
            features = info.features
            image_key = next((k for k, f in features.items() if isinstance(f, tfds.features.Image)), None)
            label_key = next((k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)), None)
        features = dict(info.features.items())
        if not (
            isinstance(features.get(image_key), tfds.features.Image)
            and isinstance(features.get(label_key), tfds.features.ClassLabel)
        ):
            raise ValueError(
                f"TFDS dataset '{self.name}' is not image classification (needs an Image and a ClassLabel)"
            )
        return image_key, label_key

    def _read(self, split: str, ours: str, skipped: list) -> ImageSet:
        cfg, tfds = self.cfg, self.tfds
        # Encoded bytes, not TFDS's decoded tensors: one decoder for training and serving.
        ds = self.builder.as_dataset(split=split, decoders={self.image_key: tfds.decode.SkipDecoding()})
        images, labels, ids = [], [], []
        for index, example in enumerate(tfds.as_numpy(ds)):
            record = f"tfds:{self.name}:{split}:{index}"
            try:
                image = decode_image(example[self.image_key], cfg.image_size, cfg.channels, cfg.resize, cfg.max_pixels)
            except DecodeError as err:
                skipped.append((record, str(err)))
                continue
            images.append(image)
            labels.append(int(example[self.label_key]))
            ids.append(record)
        if not images:
            raise ValueError(f"TFDS dataset '{self.name}' split '{split}' has no readable images")
        log.info("read %d %s images of TFDS dataset '%s'", len(images), ours, self.name)
        return ImageSet(np.stack(images), np.asarray(labels, dtype=np.int32), ids)
