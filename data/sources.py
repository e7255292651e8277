"""Pick a source from the config and return decoded, split images.

Every source hands over a `Loaded`: either one set ("all") that is split here, stratified by
seed, or the splits it came with (a folder's train/ val/ test/, Keras' train and test, TFDS's
named splits); a missing val or test is split off train.
"""

import importlib
import logging

import numpy as np

from data.cache import load_cached
from data.config import SOURCES, DataConfig
from data.dataset import Loaded, Splits
from data.splits import cap_per_class, split_off, stratified_split

log = logging.getLogger(__name__)


def build_source(cfg: DataConfig):
    """The source object for cfg.source: `.fingerprint` (cheap, before decoding) and `.load()`."""
    module, name = SOURCES[cfg.source].split(":")
    return getattr(importlib.import_module(module), name)(cfg)


def load_splits(cfg: DataConfig, seed: int) -> Splits:
    """Load the configured source, shape every image to the config, split it by seed."""
    source = build_source(cfg)
    described = source.describe() if hasattr(source, "describe") else cfg.source
    log.info("loading data: %s", described, extra={"stage": True})  # shown by the quiet terminal
    if cfg.cache == "disk" and source.fingerprint:
        loaded = load_cached(cfg, source.fingerprint, source.load)
    else:
        loaded = source.load()
    splits = split_loaded(loaded, cfg, seed)
    log.info("data: %s (fingerprint %s)", splits.summary(), splits.fingerprint)
    if splits.skipped:
        log.warning("%s", splits.skipped_summary())
    return splits


def split_loaded(loaded: Loaded, cfg: DataConfig, seed: int) -> Splits:
    names = loaded.class_names
    if len(names) < 2:
        raise ValueError(f"found {len(names)} class(es) {names}: a classifier needs at least 2")
    parts = dict(loaded.parts)
    if cfg.max_images_per_class:
        parts = {k: cap_per_class(v, len(names), cfg.max_images_per_class, seed) for k, v in parts.items()}
    note = "" if cfg.test_fraction else "no test split (data.test_fraction=0): the report scores the validation split"
    if "all" in parts:
        train, val, test = stratified_split(parts["all"], names, cfg.val_fraction, cfg.test_fraction, seed)
    else:
        train = parts["train"]
        test = parts.get("test")
        if test is None:
            before = len(train)
            train, test = split_off(train, names, cfg.test_fraction, seed, "test")
            if cfg.test_fraction:
                note = (
                    f"no test/ folder: the test split is {len(test)} of the {before} train/ images "
                    f"(data.test_fraction={cfg.test_fraction}, stratified, seed {seed}), not trained on; "
                    "data.test_fraction=0 trains on all of train/ and reports validation only"
                )
        val = parts.get("val")
        if val is None:
            train, val = split_off(train, names, cfg.val_fraction, seed + 1, "val")
        _check_all_classes(train, names)
    if note:
        log.warning("%s", note)
    return Splits(train, val, test, names, loaded.fingerprint, loaded.skipped, test_note=note)


def _check_all_classes(train, names: list[str]) -> None:
    counts = np.bincount(train.labels, minlength=len(names))
    empty = [names[i] for i in np.flatnonzero(counts == 0)]
    if empty:
        raise ValueError(f"class(es) {empty} have no training images")
