"""scikit-learn's handwritten digits: real data shipped inside a package, so it works offline."""

import numpy as np
from sklearn.datasets import load_digits

from data.config import DataConfig
from data.dataset import ImageSet, Loaded, fingerprint
from data.decode import match_channels, resize_array


def load_digits_set() -> tuple[ImageSet, list[str], str]:
    """The 1,797 8x8 digits as uint8 images (0..255), their class names and fingerprint."""
    bunch = load_digits()
    # The pixels are 0..16 ink counts; stretch them to the 0..255 range of any other image.
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int32)
    ids = [f"digits:{i}" for i in range(len(labels))]
    class_names = [str(c) for c in bunch.target_names]
    return ImageSet(images, labels, ids), class_names, fingerprint([("digits", len(labels))])


class DigitsSource:
    fingerprint = fingerprint([("digits", 1797)])

    def __init__(self, cfg: DataConfig):
        self.cfg = cfg

    def load(self) -> Loaded:
        images, class_names, fp = load_digits_set()
        cfg = self.cfg
        if images.images.shape[1:] != (*cfg.image_size, cfg.channels):
            # Upscaled to the configured size, like any other source.
            shaped = [resize_array(match_channels(i, cfg.channels), cfg.image_size, cfg.resize) for i in images.images]
            images = ImageSet(np.stack(shaped), images.labels, images.ids)
        return Loaded({"all": images}, class_names, fp)
