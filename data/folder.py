"""Image folders: one sub-folder per class, or train/ val/ [test/] each holding class folders."""

import logging
from pathlib import Path

import numpy as np

from data.config import DataConfig
from data.dataset import ImageSet, Splits, fingerprint
from data.decode import DecodeError, decode_image
from data.splits import stratified_split

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def load_folder(cfg: DataConfig, seed: int) -> Splits:
    root = Path(cfg.path).expanduser()
    if not root.is_dir():
        raise ValueError(f"data.path '{root}' is not a directory")
    files = _class_files(root)
    class_names = sorted(files)
    if len(class_names) < 2:
        raise ValueError(f"'{root}' has {len(class_names)} class folder(s) with images; a classifier needs at least 2")
    skipped: list[tuple[str, str]] = []
    images = _decode_all(root, files, class_names, cfg, skipped)
    if skipped:
        log.warning("skipped %d unreadable file(s); see the skipped-files report", len(skipped))
    fp = fingerprint([(i, (root / i).stat().st_size) for i in images.ids])
    train, val, test = stratified_split(images, class_names, cfg.val_fraction, cfg.test_fraction, seed)
    return Splits(train, val, test, class_names, fp, skipped)


def _class_files(root: Path) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        members = sorted(p for p in class_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if members:
            files[class_dir.name] = members
    return files


def _decode_all(root, files, class_names, cfg: DataConfig, skipped) -> ImageSet:
    images, labels, ids = [], [], []
    for label, name in enumerate(class_names):
        for path in files[name]:
            rel = str(path.relative_to(root))
            try:
                images.append(decode_image(path.read_bytes(), cfg.image_size, cfg.channels, cfg.resize, cfg.max_pixels))
            except DecodeError as err:
                skipped.append((rel, str(err)))
                continue
            labels.append(label)
            ids.append(rel)
    if not images:
        raise ValueError(f"no readable images under '{root}' ({len(skipped)} unreadable)")
    return ImageSet(np.stack(images), np.asarray(labels, dtype=np.int32), ids)
