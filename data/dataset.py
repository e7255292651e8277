"""The in-memory form every source produces: decoded uint8 images, labels, class names."""

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageSet:
    images: np.ndarray  # uint8, (N, H, W, C)
    labels: np.ndarray  # int32, (N,)
    ids: list[str]  # one identifier per image: a relative file path or "<source>:<index>"

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> "ImageSet":
        return ImageSet(self.images[index], self.labels[index], [self.ids[i] for i in index])


@dataclass
class Splits:
    train: ImageSet
    val: ImageSet
    test: ImageSet
    class_names: list[str]
    fingerprint: str
    # (path, reason) for each file that could not be used; listed, never silently dropped.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def manifest(self) -> list[tuple[str, str, str]]:
        """(id, split, class name) rows, saved with the run so the split can be audited."""
        rows = []
        for split_name, part in (("train", self.train), ("val", self.val), ("test", self.test)):
            rows += [(i, split_name, self.class_names[y]) for i, y in zip(part.ids, part.labels, strict=True)]
        return rows


def fingerprint(entries: list[tuple[str, int]]) -> str:
    """A short hash of (name, size) pairs: changes when any file is added, removed or resized."""
    digest = hashlib.sha256()
    for name, size in sorted(entries):
        digest.update(f"{name}\0{size}\n".encode())
    return digest.hexdigest()[:16]
