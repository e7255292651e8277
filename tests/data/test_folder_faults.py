"""Folders as people really have them: names that are not UTF-8, files where class folders belong."""

import csv
import io
import os
from pathlib import Path

from data.sources import load_splits
from tests.data.test_sources import folder_cfg, make_folder, write_image


def test_a_file_name_that_is_not_utf8_is_trained_on_and_shown_escaped(tmp_path):
    root = make_folder(tmp_path / "ds", {"cat": 8, "dog": 8})
    # Latin-1 "chaton" as a camera or an old Windows share writes it: b"chaton\xe9" is not UTF-8.
    raw_name = os.fsencode(root / "cat") + b"/chaton\xe9\xff.png"
    write_image(Path(os.fsdecode(raw_name)), 200)
    splits = load_splits(folder_cfg(root), seed=1)
    ids = [row[0] for row in splits.manifest()]
    assert "cat/chaton\\xe9\\xff.png" in ids  # trained on, named by its escaped bytes
    assert len(ids) == 17
    assert not splits.skipped
    # Every id is plain text: the manifest and reports can be written as UTF-8.
    buffer = io.StringIO()
    csv.writer(buffer).writerows(splits.manifest())
    buffer.getvalue().encode("utf-8")
    # The fingerprint sees the raw bytes: renaming the file to another non-UTF-8 name changes it.
    before = splits.fingerprint
    os.rename(raw_name, raw_name.replace(b"\xff", b"\xfe"))
    assert load_splits(folder_cfg(root), seed=1).fingerprint != before


def test_a_class_folder_that_is_a_file_and_loose_files_are_listed_as_skipped(tmp_path):
    root = make_folder(tmp_path / "ds", {"cat": 8, "dog": 8})
    (root / "bird").write_bytes(b"a class folder that is really a file")
    write_image(root / "loose.png", 90)
    splits = load_splits(folder_cfg(root), seed=1)
    skipped = dict(splits.skipped)
    assert skipped == {
        "bird": "a file where a class folder was expected",
        "loose.png": "a file where a class folder was expected",
    }
    assert "skipped 2 file(s)" in splits.skipped_summary()
    assert "loose.png" in splits.skipped_summary()


def test_loose_files_next_to_train_and_val_are_listed_as_skipped(tmp_path):
    root = tmp_path / "ds"
    for part in ("train", "val"):
        make_folder(root / part, {"x": 6, "y": 6})
    write_image(root / "stray.png", 10)
    write_image(root / "train" / "unsorted.png", 20)
    splits = load_splits(folder_cfg(root), seed=1)
    assert {path for path, _ in splits.skipped} == {"stray.png", "train/unsorted.png"}


def test_an_eps_file_named_like_a_photo_is_skipped_and_ghostscript_never_runs(tmp_path, monkeypatch):
    from tests.data.test_decode import EPS, fake_ghostscript

    bin_dir, calls = fake_ghostscript(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    root = make_folder(tmp_path / "ds", {"cat": 8, "dog": 8})
    (root / "cat" / "photo.png").write_bytes(EPS)
    splits = load_splits(folder_cfg(root), seed=1)
    skipped = dict(splits.skipped)
    assert skipped["cat/photo.png"].startswith("not an image (EPS is not accepted")
    assert len(splits.manifest()) == 16
    assert not calls.exists(), f"Ghostscript ran: {calls.read_text()}"
