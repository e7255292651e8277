"""Pick a source from the config and return decoded, split images."""

import numpy as np

from data.config import DataConfig
from data.dataset import ImageSet, Splits
from data.decode import match_channels, resize_array
from data.splits import stratified_split

SOURCES = ("digits", "folder", "keras", "tfds")


def load_splits(cfg: DataConfig, seed: int) -> Splits:
    """Load the configured source, shape every image to the config, split it by seed."""
    if cfg.source == "digits":
        from data.digits import load_digits_set

        images, class_names, fp = load_digits_set()
        images = _shape_all(images, cfg)
        return _split(images, class_names, fp, cfg, seed, skipped=[])
    if cfg.source == "folder":
        from data.folder import load_folder

        return load_folder(cfg, seed)
    raise ValueError(f"data.source '{cfg.source}' is not available yet; choose one of {', '.join(SOURCES)}")


def _shape_all(images: ImageSet, cfg: DataConfig) -> ImageSet:
    shaped = [resize_array(match_channels(img, cfg.channels), cfg.image_size, cfg.resize) for img in images.images]
    return ImageSet(np.stack(shaped), images.labels, images.ids)


def _split(images, class_names, fp, cfg: DataConfig, seed: int, skipped) -> Splits:
    if len(class_names) < 2:
        raise ValueError(f"found {len(class_names)} class(es) {class_names}: a classifier needs at least 2")
    train, val, test = stratified_split(images, class_names, cfg.val_fraction, cfg.test_fraction, seed)
    return Splits(train, val, test, class_names, fp, skipped)
