"""Every source through load_splits: folders (both layouts), Keras and TFDS caches built here, digits."""

import gzip
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from data.config import DataConfig
from data.sources import load_splits
from tests.conftest import ROOT


def write_image(path, value, size=(12, 12), fmt="PNG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, np.uint8)).save(path, format=fmt)


def make_folder(root, counts, broken=False):
    for c, (name, n) in enumerate(counts.items()):
        for i in range(n):
            write_image(root / name / f"{i}.png", 40 * c + i % 5)
    if broken:
        (root / "cat" / "notes.txt").write_text("not an image")
        (root / "cat" / "fake.jpg").write_text("text named .jpg")
        (root / "cat" / "empty.png").write_bytes(b"")
    return root


def folder_cfg(path, **kw):
    return DataConfig(source="folder", path=str(path), image_size=(8, 8), channels=3, **kw)


def test_folder_skips_and_lists_bad_files_and_keeps_the_rest(tmp_path):
    root = make_folder(tmp_path / "ds", {"cat": 10, "dog": 10}, broken=True)
    splits = load_splits(folder_cfg(root), seed=1)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 20
    reasons = dict(splits.skipped)
    assert set(reasons) == {"cat/notes.txt", "cat/fake.jpg", "cat/empty.png"}
    assert reasons["cat/empty.png"] == "empty file"
    assert "not an image" in reasons["cat/fake.jpg"]
    assert "skipped 3 file(s)" in splits.skipped_summary()
    assert splits.class_names == ["cat", "dog"]
    assert splits.train.images.shape[1:] == (8, 8, 3)


def test_split_is_deterministic_stratified_and_manifested(tmp_path):
    root = make_folder(tmp_path / "ds", {"a": 40, "b": 20, "c": 20})
    first, again, other = (load_splits(folder_cfg(root), seed=s) for s in (7, 7, 8))
    assert first.manifest() == again.manifest()
    assert first.manifest() != other.manifest()
    assert first.fingerprint == other.fingerprint  # same files
    for part, fraction in ((first.val, 0.15), (first.test, 0.2)):
        counts = np.bincount(part.labels, minlength=3)
        np.testing.assert_array_equal(counts, np.round(np.array([40, 20, 20]) * fraction))
    ids = [row[0] for row in first.manifest()]
    assert len(ids) == len(set(ids)) == 80  # every file in exactly one split


def test_fingerprint_changes_when_a_file_changes(tmp_path):
    root = make_folder(tmp_path / "ds", {"a": 8, "b": 8})
    before = load_splits(folder_cfg(root), seed=1).fingerprint
    write_image(root / "a" / "0.png", 0, size=(20, 20))
    assert load_splits(folder_cfg(root), seed=1).fingerprint != before


def test_train_val_test_layout_keeps_the_given_split(tmp_path):
    root = tmp_path / "ds"
    for part, n in (("train", 10), ("val", 3), ("test", 4)):
        make_folder(root / part, {"x": n, "y": n})
    splits = load_splits(folder_cfg(root), seed=1)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 6, 8)
    assert all(i.startswith("val/") for i in splits.val.ids)
    # Without test/, the test split is drawn (stratified) from train/.
    import shutil

    shutil.rmtree(root / "test")
    splits = load_splits(folder_cfg(root), seed=1)
    assert len(splits.val) == 6
    assert len(splits.test) == 4
    assert len(splits.train) == 16
    assert all(i.startswith("train/") for i in splits.test.ids)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "no class sub-folders with images"),
        ({"only": 10}, "a classifier needs at least 2"),
        ({"big": 20, "tiny": 2}, "class 'tiny' has 2 image(s), too few for the split"),
    ],
)
def test_folder_errors_are_one_clear_line(tmp_path, layout, message):
    root = make_folder(tmp_path / "ds", layout)
    root.mkdir(exist_ok=True)
    with pytest.raises(ValueError) as err:
        load_splits(folder_cfg(root), seed=1)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_disk_cache_reuses_decoded_images(tmp_path):
    root = make_folder(tmp_path / "ds", {"a": 8, "b": 8}, broken=False)
    cfg = folder_cfg(root, cache="disk", cache_dir=str(tmp_path / "cache"))
    first = load_splits(cfg, seed=3)
    (entry,) = (tmp_path / "cache").iterdir()
    (root / "a" / "0.png").unlink()  # the cache is keyed by fingerprint: a change is noticed
    write_image(root / "a" / "0.png", 10)
    assert load_splits(cfg, seed=3).manifest() == first.manifest()
    write_image(root / "a" / "extra.png", 10)
    assert len(list((tmp_path / "cache").iterdir())) == 2
    assert entry.is_dir()


def test_max_images_per_class_samples_evenly(tmp_path):
    root = make_folder(tmp_path / "ds", {"a": 30, "b": 12})
    splits = load_splits(folder_cfg(root, max_images_per_class=10), seed=1)
    total = np.bincount(np.concatenate([splits.train.labels, splits.val.labels, splits.test.labels]))
    np.testing.assert_array_equal(total, [10, 10])


def test_digits_are_upscaled_to_the_configured_size():
    splits = load_splits(DataConfig(source="digits", image_size=(16, 16), channels=3), seed=0)
    assert splits.train.images.shape[1:] == (16, 16, 3)
    assert len(splits.class_names) == 10


# ---- keras: a cache in the exact files and formats Keras' loaders leave behind ----


def build_keras_cache(home, name, per_split=30):
    rng = np.random.default_rng(0)
    datasets = home / "datasets"
    gray = name in ("mnist", "fashion_mnist")
    shape = (28, 28) if gray else (3, 32, 32)
    x = {s: rng.integers(0, 256, (per_split, *shape), dtype=np.uint8) for s in ("train", "test")}
    y = {s: np.arange(per_split, dtype=np.uint8) % 10 for s in ("train", "test")}
    if name == "mnist":
        datasets.mkdir(parents=True)
        np.savez(datasets / "mnist.npz", x_train=x["train"], y_train=y["train"], x_test=x["test"], y_test=y["test"])
    elif name == "fashion_mnist":
        folder = datasets / "fashion-mnist"
        folder.mkdir(parents=True)
        for split, prefix in (("train", "train"), ("test", "t10k")):
            with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
                f.write(b"\0" * 8 + y[split].tobytes())
            with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
                f.write(b"\0" * 16 + x[split].tobytes())
    else:
        inner = (
            "cifar-10-batches-py-target/cifar-10-batches-py"
            if name == "cifar10"
            else "cifar-100-python-target/cifar-100-python"
        )
        folder = datasets / inner
        folder.mkdir(parents=True)
        key = b"labels" if name == "cifar10" else b"fine_labels"
        files = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"] if name == "cifar10" else ["train", "test"]
        for i, fname in enumerate(files):
            split = "test" if "test" in fname else "train"
            batch = {b"data": x[split].reshape(per_split, -1), key: y[split].tolist()}
            (folder / fname).write_bytes(pickle.dumps(batch))
            del i
        if name == "cifar100":
            (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": [f"c{i}".encode() for i in range(10)]}))
    return x, y


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10", "cifar100"])
def test_keras_datasets_read_from_a_populated_cache(tmp_path, name):
    x, _y = build_keras_cache(tmp_path / "keras_home", name)
    channels = 1 if "mnist" in name else 3
    size = (28, 28) if "mnist" in name else (32, 32)
    cfg = DataConfig(
        source="keras",
        path=name,
        data_dir=str(tmp_path / "keras_home"),
        image_size=size,
        channels=channels,
        val_fraction=0.2,
    )
    splits = load_splits(cfg, seed=0)
    assert len(splits.test) == 30
    assert len(splits.train) + len(splits.val) == (150 if name == "cifar10" else 30)
    assert splits.test.ids[0] == f"keras:{name}:test:0"
    expected = x["test"][0] if channels == 1 else x["test"][0].transpose(1, 2, 0)
    np.testing.assert_array_equal(splits.test.images[0].reshape(expected.shape), expected)
    assert (
        splits.class_names[0]
        == {"mnist": "0", "fashion_mnist": "T-shirt/top", "cifar10": "airplane", "cifar100": "c0"}[name]
    )


def test_keras_without_cache_or_network_is_one_line_naming_the_path(tmp_path):
    cfg = DataConfig(source="keras", path="mnist", data_dir=str(tmp_path / "empty"), image_size=(28, 28))
    with pytest.raises(ValueError) as err:
        load_splits(cfg, seed=0)
    message = str(err.value)
    assert "keras dataset 'mnist' is not cached in" in message
    assert str(tmp_path / "empty") in message
    assert "\n" not in message


def test_unknown_keras_dataset_is_refused_by_the_config():
    with pytest.raises(ValueError, match="choose one of mnist, fashion_mnist, cifar10, cifar100"):
        DataConfig(source="keras", path="imagenet")


# ---- tfds: a tiny real dataset prepared by a real builder in a temp data dir ----

TINY_BUILDER = """
import sys
import numpy as np
import tensorflow_datasets as tfds

class TinyShapes(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")
    def _info(self):
        features = tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3)),
            "label": tfds.features.ClassLabel(names=["dark", "light"]),
        })
        return tfds.core.DatasetInfo(builder=self, features=features, supervised_keys=("image", "label"))
    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(24), "test": self._generate_examples(6)}
    def _generate_examples(self, n):
        for i in range(n):
            yield i, {"image": np.full((10, 14, 3), 30 + 180 * (i % 2), np.uint8), "label": i % 2}

TinyShapes(data_dir=sys.argv[1]).download_and_prepare()
"""


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    pytest.importorskip("tensorflow_datasets", reason="tensorflow-datasets (optional extra) is not installed")
    data_dir = tmp_path_factory.mktemp("tfds")
    script = data_dir / "build_tiny.py"
    script.write_text(TINY_BUILDER)
    # A separate process, so this one finds the dataset from its files alone, as a user's would.
    out = subprocess.run(
        [sys.executable, str(script), str(data_dir)], capture_output=True, text=True, timeout=180, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return data_dir


def test_tfds_dataset_reads_from_a_prepared_data_dir(tfds_dir):
    cfg = DataConfig(
        source="tfds", path="tiny_shapes", data_dir=str(tfds_dir), image_size=(8, 8), channels=3, val_fraction=0.25
    )
    splits = load_splits(cfg, seed=0)
    assert splits.class_names == ["dark", "light"]
    assert len(splits.test) == 6
    assert len(splits.train) + len(splits.val) == 24
    light = splits.test.images[splits.test.labels == 1]
    assert light.min() == 210
    assert splits.test.images[splits.test.labels == 0].max() == 30
    assert splits.test.ids[0].startswith("tfds:tiny_shapes:test:")


def test_tfds_unknown_name_is_one_line(tfds_dir):
    cfg = DataConfig(source="tfds", path="no_such_dataset_xyz", data_dir=str(tfds_dir), image_size=(8, 8))
    with pytest.raises(ValueError) as err:
        load_splits(cfg, seed=0)
    assert "TFDS dataset 'no_such_dataset_xyz'" in str(err.value)
    assert "\n" not in str(err.value)


def test_tfds_known_but_unprepared_dataset_offline_fails_fast_in_one_line(tfds_dir, tmp_path):
    import time

    cfg = DataConfig(source="tfds", path="mnist", data_dir=str(tmp_path / "empty"), image_size=(28, 28))
    started = time.perf_counter()
    with pytest.raises(ValueError) as err:
        load_splits(cfg, seed=0)
    assert "TFDS dataset 'mnist' is not prepared in" in str(err.value)
    assert "\n" not in str(err.value)
    assert time.perf_counter() - started < 60


def test_tiff_photos_are_trained_on_and_batch_predict_reads_the_same_types(tmp_path):
    from app.batch_predict import expand_paths

    root = make_folder(tmp_path / "ds", {"cat": 10, "dog": 10})
    for i in range(3):
        Image.fromarray(np.full((12, 12, 3), 30 * i, np.uint8)).save(root / "dog" / f"scan{i}.tiff")
    splits = load_splits(folder_cfg(root), seed=1)
    ids = splits.train.ids + splits.val.ids + splits.test.ids
    assert sorted(i for i in ids if i.endswith(".tiff")) == [f"dog/scan{i}.tiff" for i in range(3)]
    assert not splits.skipped
    predicted = sorted(p.name for p in expand_paths([str(root / "dog")]))
    assert predicted == sorted([f"{i}.png" for i in range(10)] + [f"scan{i}.tiff" for i in range(3)])
