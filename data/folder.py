"""Image folders: one sub-folder per class, or train/ val/ [test/] each holding class folders."""

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from data.config import DataConfig
from data.dataset import ImageSet, Loaded, fingerprint
from data.decode import IMAGE_SUFFIXES, DecodeError, decode_image

log = logging.getLogger(__name__)

SPLIT_DIRS = {"train": ("train",), "val": ("val", "validation"), "test": ("test",)}


class FolderSource:
    """Scans the folder (cheap: names and sizes) so the fingerprint is known before decoding."""

    def __init__(self, cfg: DataConfig):
        self.cfg = cfg
        self.root = Path(cfg.path).expanduser()
        if not self.root.is_dir():
            raise ValueError(f"data.path '{self.root}' is not a directory")
        self.layout = _split_layout(self.root)  # {"train": Path, "val": Path, ...} or {"all": root}
        self.files: dict[str, dict[str, list[Path]]] = {}
        self.ignored: list[tuple[str, str]] = []
        if "all" not in self.layout:  # train/ val/ [test/]: anything else at the top is left out
            self._report_loose_files(sorted(p for p in self.root.iterdir() if not p.name.startswith(".")))
        for part, folder in self.layout.items():
            self.files[part] = self._class_files(folder)
        self.class_names = sorted({name for per_class in self.files.values() for name in per_class})
        self._check_classes()
        # Raw bytes of each name (os.fsencode): names that are not valid UTF-8 hash too.
        sizes = [
            (os.fsencode(p.relative_to(self.root)), p.stat().st_size)
            for per_class in self.files.values()
            for ps in per_class.values()
            for p in ps
        ]
        self.fingerprint = fingerprint(sizes)

    def image_count(self) -> int:
        return sum(len(paths) for per_class in self.files.values() for paths in per_class.values())

    def describe(self) -> str:
        """What the scan found, for the run's first line: files, classes, folder."""
        layout = "" if "all" in self.layout else f" ({' '.join(f'{p.name}/' for p in self.layout.values())})"
        return f"{self.image_count():,} image files in {len(self.class_names)} class folders under {self.root}{layout}"

    def load(self) -> Loaded:
        size = "x".join(str(d) for d in (*self.cfg.image_size, self.cfg.channels))
        kept = (
            "kept for the next run in the disk cache" if self.cfg.cache == "disk" else "data.cache=disk would keep them"
        )
        # A stage line: decoding is the long silent part of a first run on a big folder.
        log.info("decoding %s images to %s (%s)", f"{self.image_count():,}", size, kept, extra={"stage": True})
        skipped = list(self.ignored)
        parts = {part: self._decode(per_class, skipped) for part, per_class in self.files.items()}
        return Loaded(parts, self.class_names, self.fingerprint, skipped)

    def _class_files(self, folder: Path) -> dict[str, list[Path]]:
        files: dict[str, list[Path]] = {}
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        self._report_loose_files(entries)
        for class_dir in (p for p in entries if p.is_dir()):
            members = []
            for path in sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith(".")):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    members.append(path)
                else:
                    self.ignored.append((self._rel(path), f"not an image file type ({path.suffix or 'no extension'})"))
            if members:
                files[class_dir.name] = members
        return files

    def _report_loose_files(self, entries: list[Path]) -> None:
        # A class "folder" that is a file, or an image lying next to the class folders: it is
        # not trained on, so it is listed in the skipped report rather than silently dropped.
        for path in entries:
            if not path.is_dir():
                self.ignored.append((self._rel(path), "a file where a class folder was expected"))

    def _check_classes(self) -> None:
        where = self.root if "all" in self.layout else self.layout["train"]
        if not self.class_names:
            loose = sum(1 for p in where.iterdir() if p.is_file())
            raise ValueError(
                f"'{where}' has no class sub-folders with images ({loose} loose file(s)); "
                "expected one sub-folder per class, or train/ and val/ holding class sub-folders"
            )
        if len(self.class_names) < 2:
            raise ValueError(
                f"'{where}' has one class ('{self.class_names[0]}'); a classifier needs at least 2 class folders"
            )
        if "train" in self.files:
            missing = [c for c in self.class_names if c not in self.files["train"]]
            if missing:
                raise ValueError(f"class folder(s) {missing} have images outside train/ but none in '{where}'")

    def _decode(self, per_class: dict[str, list[Path]], skipped: list) -> ImageSet:
        cfg = self.cfg
        jobs = [(self.class_names.index(name), path) for name, paths in per_class.items() for path in paths]

        def decode(job):
            label, path = job
            try:
                data = path.read_bytes()
                return label, path, decode_image(data, cfg.image_size, cfg.channels, cfg.resize, cfg.max_pixels)
            except (DecodeError, OSError) as err:
                return (
                    label,
                    path,
                    f"unreadable file ({err})"
                    if isinstance(err, OSError) and not isinstance(err, DecodeError)
                    else str(err),
                )

        images, labels, ids = [], [], []
        # Pillow releases the GIL while decoding: threads use every core.
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for label, path, result in pool.map(decode, jobs):
                if isinstance(result, str):
                    skipped.append((self._rel(path), result))
                    continue
                images.append(result)
                labels.append(label)
                ids.append(self._rel(path))
        if not images:
            raise ValueError(f"no readable images under '{self.root}' ({len(skipped)} unreadable file(s))")
        return ImageSet(np.stack(images), np.asarray(labels, dtype=np.int32), ids)

    def _rel(self, path: Path) -> str:
        """The path for reports and manifests: names that are not UTF-8 shown escaped (b'\\xff' -> '\\xff')."""
        raw = os.fsencode(path.relative_to(self.root))
        return raw.decode("utf-8", errors="backslashreplace")


def _split_layout(root: Path) -> dict[str, Path]:
    """train/ + val/ (+ test/) sub-folders mean the user made the split; anything else is flat."""
    found = {}
    for part, names in SPLIT_DIRS.items():
        for name in names:
            if (root / name).is_dir():
                found[part] = root / name
                break
    if "train" in found and "val" in found:
        return found
    if "train" in found or "test" in found:
        log.warning("'%s' has %s but not both train/ and val/: reading it as class folders", root, sorted(found))
    return {"all": root}
