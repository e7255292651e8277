"""Deterministic stratified train/val/test splits."""

import numpy as np

from data.dataset import ImageSet


def stratified_split(
    images: ImageSet, class_names: list[str], val_fraction: float, test_fraction: float, seed: int
) -> tuple[ImageSet, ImageSet, ImageSet]:
    """Split each class by the same fractions, so every split keeps the class balance.

    Each class needs at least one image in every split; a class too small for that is an
    error naming the class, because a silently empty split would make metrics meaningless.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for label, name in enumerate(class_names):
        members = np.flatnonzero(images.labels == label)
        n_test = int(round(len(members) * test_fraction))
        n_val = int(round(len(members) * val_fraction))
        if min(n_test, n_val) < 1 or len(members) - n_test - n_val < 1:
            needed = int(np.ceil(1 / min(val_fraction, test_fraction))) + 1
            raise ValueError(
                f"class '{name}' has {len(members)} images, too few for the split "
                f"(val {val_fraction}, test {test_fraction}): it needs at least {needed}"
            )
        members = rng.permutation(members)
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    # Sorting keeps the order independent of class iteration; the pipeline shuffles anyway.
    train, val, test = (images.take(np.sort(np.concatenate(parts[k]))) for k in ("train", "val", "test"))
    return train, val, test
