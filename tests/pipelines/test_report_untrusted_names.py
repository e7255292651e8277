"""Report CSVs name classes and files from the user's folder: a name that is a spreadsheet formula stays text."""

import csv
import warnings

import numpy as np

from pipelines.evaluation.report import Evaluation, write_report


def read(path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def test_formula_class_and_file_names_are_inert_in_every_report_csv(tmp_path):
    names = ["=1+2", "@SUM(1+1)", "$\\bad$"]  # the last one is mathtext to matplotlib: the plots failed
    labels = np.array([0, 1, 2, 2])
    probabilities = np.array([[0.1, 0.8, 0.1], [0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]])
    ids = ["=1+2/a.jpg", "@SUM(1+1)/+b.jpg", "$\\bad$/c.jpg", "$\\bad$/-d.jpg"]
    write_report(Evaluation(names, labels, probabilities, None), tmp_path, np.zeros((4, 8, 8, 3), np.uint8), ids=ids)

    per_class = read(tmp_path / "per_class.csv")
    assert [row[0] for row in per_class[1:4]] == ["'=1+2", "'@SUM(1+1)", "$\\bad$"]
    confusion = read(tmp_path / "confusion_matrix.csv")
    assert confusion[0] == ["true\\predicted", "'=1+2", "'@SUM(1+1)", "$\\bad$"]
    assert [row[0] for row in confusion[1:]] == ["'=1+2", "'@SUM(1+1)", "$\\bad$"]
    assert all(cell.lstrip("-").isdigit() for row in confusion[1:] for cell in row[1:])  # counts stay numbers
    mistakes = {row[0]: row for row in read(tmp_path / "misclassified.csv")[1:]}
    assert mistakes["'=1+2/a.jpg"][1:3] == ["'=1+2", "'@SUM(1+1)"]
    assert mistakes["'@SUM(1+1)/+b.jpg"][1:3] == ["'@SUM(1+1)", "'=1+2"]
    assert mistakes["$\\bad$/-d.jpg"][1:4] == ["$\\bad$", "'=1+2", "0.7"]
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 0


def test_an_escape_in_a_class_name_is_drawn_escaped_not_sent_raw(tmp_path):
    """Matplotlib warned 'Glyph 27 (\\x1b) missing' with the raw escape, which reached the terminal."""
    names = ["\x1b[31mred", "ok"]
    labels = np.array([0, 1])
    probabilities = np.array([[0.2, 0.8], [0.9, 0.1]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_report(Evaluation(names, labels, probabilities, None), tmp_path, np.zeros((2, 8, 8, 3), np.uint8))
    assert not [w for w in caught if "Glyph" in str(w.message)]
    assert read(tmp_path / "per_class.csv")[1][0] == "\\x1b[31mred"  # in the CSV too: `cat` shows it as text
