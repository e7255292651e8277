"""Keras' built-in datasets (mnist, fashion_mnist, cifar10, cifar100), read from Keras' own cache.

The cache is the folder Keras' loaders download into (`$KERAS_HOME/datasets`, default
`~/.keras/datasets`), in the exact files and formats they leave there, so a machine without
network trains on whatever was cached once. Only when the files are missing do we call the
Keras loader itself, which downloads them (or fails, offline, with a one-line error).
"""

import gzip
import logging
import os
import pickle
from pathlib import Path

import keras
import numpy as np

from data.config import DataConfig
from data.dataset import ImageSet, Loaded, fingerprint
from data.decode import match_channels, resize_array
from data.errors import first_line

log = logging.getLogger(__name__)

# Files each loader reads, relative to <keras home>/datasets (Keras 3 layout).
CACHE_FILES = {
    "mnist": ["mnist.npz"],
    "fashion_mnist": [
        f"fashion-mnist/{f}"
        for f in (
            "train-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
        )
    ],
    "cifar10": [f"cifar-10-batches-py-target/cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)]
    + ["cifar-10-batches-py-target/cifar-10-batches-py/test_batch"],
    "cifar100": [f"cifar-100-python-target/cifar-100-python/{f}" for f in ("train", "test")],
}
CLASS_NAMES = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


def keras_cache_dir(data_dir: str | None = None) -> Path:
    home = data_dir or os.environ.get("KERAS_HOME") or "~/.keras"
    return Path(home).expanduser() / "datasets"


class KerasSource:
    def __init__(self, cfg: DataConfig):
        self.cfg = cfg
        self.name = cfg.path
        self.cache = keras_cache_dir(cfg.data_dir)
        self.paths = [self.cache / f for f in CACHE_FILES[self.name]]
        self.cached = all(p.is_file() for p in self.paths)
        sizes = [(f"keras:{p.relative_to(self.cache)}", p.stat().st_size) for p in self.paths if p.is_file()]
        self.fingerprint = fingerprint(sizes) if self.cached else None

    def load(self) -> Loaded:
        (x_train, y_train), (x_test, y_test) = self._read() if self.cached else self._download()
        names = self._class_names(int(max(y_train.max(), y_test.max())) + 1)
        parts = {"train": self._shape(x_train, y_train, "train"), "test": self._shape(x_test, y_test, "test")}
        fp = self.fingerprint or fingerprint([(f"keras:{self.name}", len(y_train) + len(y_test))])
        return Loaded(parts, names, fp)

    def _read(self):
        log.info("reading keras dataset '%s' from %s", self.name, self.cache)
        if self.name == "mnist":
            with np.load(self.paths[0], allow_pickle=False) as f:
                return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])
        if self.name == "fashion_mnist":
            y_train, x_train, y_test, x_test = (
                _read_idx(p, offset) for p, offset in zip(self.paths, (8, 16, 8, 16), strict=True)
            )
            return (x_train.reshape(len(y_train), 28, 28), y_train), (x_test.reshape(len(y_test), 28, 28), y_test)
        # CIFAR: pickled batches, read by an unpickler that rebuilds numpy arrays and nothing else.
        key = "labels" if self.name == "cifar10" else "fine_labels"
        batches = [_load_cifar_batch(p, key) for p in self.paths]
        x_train = np.concatenate([b[0] for b in batches[:-1]]).transpose(0, 2, 3, 1)
        y_train = np.concatenate([np.asarray(b[1]) for b in batches[:-1]])
        x_test, y_test = batches[-1][0].transpose(0, 2, 3, 1), np.asarray(batches[-1][1])
        return (x_train, y_train), (x_test, y_test)

    def _download(self):
        log.info("keras dataset '%s' is not in %s; trying Keras' downloader", self.name, self.cache)
        try:
            return getattr(keras.datasets, self.name).load_data()
        except Exception as err:  # urllib, HTTP, hash and archive errors all mean "not available"
            reason = first_line(err, 120)
            raise ValueError(
                f"keras dataset '{self.name}' is not cached in {self.cache} (needs {CACHE_FILES[self.name][0]}"
                f"{', ...' if len(self.paths) > 1 else ''}) and could not be downloaded ({reason}); "
                "run once with network, copy Keras' cache there, or set data.data_dir / KERAS_HOME"
            ) from None

    def _class_names(self, count: int) -> list[str]:
        if self.name in CLASS_NAMES:
            return CLASS_NAMES[self.name]
        meta = self.paths[0].parent / "meta"  # cifar100 ships its class names beside the data
        if meta.is_file():
            names = _unpickle(meta).get(b"fine_label_names")
            if names and len(names) == count:
                return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        return [str(i) for i in range(count)]

    def _shape(self, x: np.ndarray, y: np.ndarray, split: str) -> ImageSet:
        cfg = self.cfg
        x = x if x.ndim == 4 else x[..., None]
        if x.shape[1:] != (*cfg.image_size, cfg.channels):
            x = np.stack([resize_array(match_channels(img, cfg.channels), cfg.image_size, cfg.resize) for img in x])
        ids = [f"keras:{self.name}:{split}:{i}" for i in range(len(y))]
        return ImageSet(np.ascontiguousarray(x, dtype=np.uint8), np.asarray(y, dtype=np.int32).reshape(-1), ids)


def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """CIFAR's files are pickled dicts of bytes, lists and numpy arrays: rebuild those, run nothing else."""

    ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"dataset file refers to {module}.{name}, which is not plain data")


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return _ArraysOnlyUnpickler(f, encoding="bytes").load()


def _load_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, list]:
    """(images (N, 3, 32, 32), labels) of one CIFAR batch file, as Keras' own reader returns them."""
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in _unpickle(path).items()}
    return np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32), batch[label_key]
