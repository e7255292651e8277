"""scikit-learn's handwritten digits: real data shipped inside a package, so it works offline."""

import numpy as np

from data.dataset import ImageSet, fingerprint


def load_digits_set() -> tuple[ImageSet, list[str], str]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # The pixels are 0..16 ink counts; stretch them to the 0..255 range of any other image.
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int32)
    ids = [f"digits:{i}" for i in range(len(labels))]
    class_names = [str(c) for c in bunch.target_names]
    return ImageSet(images, labels, ids), class_names, fingerprint([("digits", len(labels))])
