"""`data.cache=disk` is keyed by what the files hold: edits in place and swaps are decoded again."""

import numpy as np

from data.sources import load_splits
from tests.data.test_sources import folder_cfg, write_image


def pixels_by_id(splits) -> dict[str, tuple[int, str]]:
    """{file id: (mean pixel value, class name)} over every split."""
    out = {}
    for part in (splits.train, splits.val, splits.test):
        for image, label, name in zip(part.images, part.labels, part.ids, strict=True):
            out[name] = (int(np.round(image.mean())), splits.class_names[label])
    return out


def cached_setup(tmp_path):
    # BMP: uncompressed, so every 12x12 image has the same byte count whatever its pixels.
    root = tmp_path / "ds"
    for c, name in enumerate(("a", "b")):
        for i in range(8):
            write_image(root / name / f"{i}.bmp", 40 * c + i, fmt="BMP")
    cfg = folder_cfg(root, cache="disk", cache_dir=str(tmp_path / "cache"))
    return root, cfg, pixels_by_id(load_splits(cfg, seed=3))


def test_a_photo_edited_in_place_at_the_same_size_is_decoded_again(tmp_path):
    root, cfg, before = cached_setup(tmp_path)
    path = root / "a" / "1.bmp"
    size = path.stat().st_size
    write_image(path, 200, fmt="BMP")  # edited in place: other pixels, the same byte count
    assert path.stat().st_size == size
    after = pixels_by_id(load_splits(cfg, seed=3))
    assert before["a/1.bmp"][0] == 1
    assert after["a/1.bmp"][0] == 200
    assert {k: v for k, v in after.items() if k != "a/1.bmp"} == {k: v for k, v in before.items() if k != "a/1.bmp"}


def test_photos_swapped_between_classes_take_their_new_folders_pixels(tmp_path):
    root, cfg, before = cached_setup(tmp_path)
    a, b = root / "a" / "2.bmp", root / "b" / "2.bmp"
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    assert len(a_bytes) == len(b_bytes)
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    after = pixels_by_id(load_splits(cfg, seed=3))
    assert after["a/2.bmp"] == (before["b/2.bmp"][0], "a")
    assert after["b/2.bmp"] == (before["a/2.bmp"][0], "b")


def test_unchanged_files_are_read_from_the_cache(tmp_path, caplog):
    root, cfg, before = cached_setup(tmp_path)
    (root / "a" / "3.bmp").touch()  # a new mtime alone does not cost a decode
    caplog.set_level("INFO", logger="data.cache")
    assert pixels_by_id(load_splits(cfg, seed=3)) == before
    assert "read decoded images from the disk cache" in caplog.text
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_a_fifo_named_like_a_photo_does_not_hang_the_cache_key(tmp_path):
    import os

    root, cfg, before = cached_setup(tmp_path)
    os.mkfifo(root / "a" / "pipe.bmp")
    assert pixels_by_id(load_splits(cfg, seed=3)) == before  # returns: nothing waits on the FIFO
