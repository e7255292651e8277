"""What the test split is, said in one line when the user did not make it; test_fraction=0 allowed."""

import logging

from data.sources import load_splits
from tests.data.test_sources import folder_cfg, make_folder


def test_train_and_val_folders_without_test_say_where_the_test_split_comes_from(tmp_path, caplog):
    root = tmp_path / "ds"
    for part, n in (("train", 10), ("val", 3)):
        make_folder(root / part, {"x": n, "y": n})
    with caplog.at_level(logging.WARNING, logger="data.sources"):
        splits = load_splits(folder_cfg(root, test_fraction=0.2), seed=1)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (16, 6, 4)
    assert splits.test_note.startswith("no test/ folder: the test split is 4 of the 20 train/ images")
    assert "data.test_fraction=0" in splits.test_note
    assert "\n" not in splits.test_note
    assert splits.test_note in caplog.text


def test_test_fraction_zero_trains_on_all_of_train_and_has_no_test_split(tmp_path):
    root = tmp_path / "ds"
    for part, n in (("train", 10), ("val", 3)):
        make_folder(root / part, {"x": n, "y": n})
    splits = load_splits(folder_cfg(root, test_fraction=0), seed=1)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 6, 0)
    assert "report scores the validation split" in splits.test_note

    flat = make_folder(tmp_path / "flat", {"x": 10, "y": 10})
    splits = load_splits(folder_cfg(flat, test_fraction=0, val_fraction=0.2), seed=1)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (16, 4, 0)


def test_a_given_test_folder_needs_no_note(tmp_path):
    root = tmp_path / "ds"
    for part, n in (("train", 10), ("val", 3), ("test", 3)):
        make_folder(root / part, {"x": n, "y": n})
    assert load_splits(folder_cfg(root), seed=1).test_note == ""
