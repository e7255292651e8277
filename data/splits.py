"""Deterministic stratified splits: the same seed gives the same files in the same split."""

import hashlib

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
        n_test, n_val = _counts(len(members), (test_fraction, val_fraction))
        if n_val < 1 or (test_fraction and n_test < 1) or len(members) - n_test - n_val < 1:
            needed = _smallest_class(val_fraction, test_fraction)
            raise ValueError(
                f"class '{name}' has {len(members)} image(s), too few for the split "
                f"(val {val_fraction}, test {test_fraction}): it needs at least {needed}"
            )
        members = rng.permutation(members)
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    # Sorting keeps the order independent of class iteration; the pipeline shuffles anyway.
    train, val, test = (images.take(np.sort(np.concatenate(parts[k]))) for k in ("train", "val", "test"))
    return train, val, test


def split_off(images: ImageSet, class_names: list[str], fraction: float, seed: int, what: str):
    """(rest, part): a stratified `fraction` of `images` split off as `what` (e.g. "val")."""
    if fraction == 0:
        return images, images.take(np.zeros(0, dtype=np.int64))
    rng = np.random.default_rng(seed)
    rest, part = [], []
    for label, name in enumerate(class_names):
        members = rng.permutation(np.flatnonzero(images.labels == label))
        (n_part,) = _counts(len(members), (fraction,))
        if n_part < 1 or len(members) - n_part < 1:
            raise ValueError(
                f"class '{name}' has {len(members)} training image(s), too few to split off "
                f"{what} ({what}_fraction {fraction}): it needs at least {_smallest_class(fraction)}"
            )
        part.append(members[:n_part])
        rest.append(members[n_part:])
    return images.take(np.sort(np.concatenate(rest))), images.take(np.sort(np.concatenate(part)))


def cap_per_class(images: ImageSet, num_classes: int, limit: int, seed: int) -> ImageSet:
    """At most `limit` images of each class, a seeded sample (order kept)."""
    rng = np.random.default_rng(seed)
    keep = []
    for label in range(num_classes):
        members = np.flatnonzero(images.labels == label)
        keep.append(rng.choice(members, limit, replace=False) if len(members) > limit else members)
    return images.take(np.sort(np.concatenate(keep)))


def split_fingerprint(val: ImageSet, test: ImageSet, class_names: list[str]) -> str:
    """A short hash of which images (ids) with which labels a run was validated and tested on.

    Two runs share it exactly when their figures were measured on the same images: a different
    data.test_fraction, seed, folder or cap gives another. The image size is left out on purpose:
    the same photos at 64 or 96 px are a fair comparison of two models.
    """
    digest = hashlib.sha256()
    for split_name, part in (("val", val), ("test", test)):
        for image_id, label in sorted(zip(part.ids, part.labels.tolist(), strict=True)):
            digest.update(f"{split_name}\0{image_id}\0{class_names[label]}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:12]


def _counts(size: int, fractions: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(round(size * f) for f in fractions)


def _smallest_class(*fractions: float) -> int:
    """The smallest class size that leaves >= 1 image in every split (a fraction of 0: no split)."""
    fractions = tuple(f for f in fractions if f > 0)
    for size in range(2, 10_000):
        counts = _counts(size, fractions)
        if min(counts) >= 1 and size - sum(counts) >= 1:
            return size
    return 10_000
