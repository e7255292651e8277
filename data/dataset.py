"""The in-memory form every source produces: decoded uint8 images, labels, class names."""

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ImageSet:
    images: np.ndarray  # uint8, (N, H, W, C)
    labels: np.ndarray  # int32, (N,)
    ids: list[str]  # one identifier per image: a relative file path or "<source>:<split>:<index>"

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> "ImageSet":
        return ImageSet(self.images[index], self.labels[index], [self.ids[i] for i in index])


@dataclass
class Loaded:
    """What a source hands over before splitting: one set ("all") or its own train/val/test."""

    parts: dict[str, ImageSet]
    class_names: list[str]
    fingerprint: str
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Splits:
    train: ImageSet
    val: ImageSet
    test: ImageSet
    class_names: list[str]
    fingerprint: str
    # (path, reason) for each file that could not be used; listed, never silently dropped.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # One line saying what the test split is when it is not a test/ folder the user made ("" if it is).
    test_note: str = ""

    def manifest(self) -> list[tuple[str, str, str]]:
        """(id, split, class name) rows, saved with the run so the split can be audited."""
        rows = []
        for split_name, part in (("train", self.train), ("val", self.val), ("test", self.test)):
            rows += [(i, split_name, self.class_names[y]) for i, y in zip(part.ids, part.labels, strict=True)]
        return rows

    def summary(self) -> str:
        """One line: split sizes and class count."""
        return (
            f"{len(self.train)} train / {len(self.val)} val / {len(self.test)} test images, "
            f"{len(self.class_names)} classes"
        )

    def skipped_summary(self) -> str:
        return skipped_summary(self.skipped)


def skipped_summary(skipped: list[tuple[str, str]], examples: int = 3) -> str:
    """'skipped 3 files: 2 truncated image data, 1 empty file (e.g. a/b.jpg: empty file)', or ''."""
    if not skipped:
        return ""
    reasons = Counter(_reason_kind(reason) for _, reason in skipped)
    counts = ", ".join(f"{n} {kind}" for kind, n in reasons.most_common())
    shown = "; ".join(f"{path}: {reason}" for path, reason in skipped[:examples])
    more = f"; and {len(skipped) - examples} more" if len(skipped) > examples else ""
    return f"skipped {len(skipped)} file(s): {counts} (e.g. {shown}{more})"


def _reason_kind(reason: str) -> str:
    # "image is 100000x100000, over the ..." -> group by the words before any numbers.
    return reason.split(" (")[0].split(":")[0] if not reason.startswith("image is ") else "over the pixel limit"


def fingerprint(entries: list[tuple[str | bytes, int]]) -> str:
    """A short hash of (name, size) pairs: changes when any file is added, removed or resized.

    Names may be bytes (os.fsencode of a file name that is not valid UTF-8); a str name hashes
    as its UTF-8 bytes, so both forms of the same valid name give the same fingerprint.
    """
    digest = hashlib.sha256()
    for name, size in sorted((os.fsencode(name), size) for name, size in entries):
        digest.update(name + f"\0{size}\n".encode())
    return digest.hexdigest()[:16]
