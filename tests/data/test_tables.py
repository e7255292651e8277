"""The one CSV writer: what a spreadsheet reads back is what was written, as text, never run as a formula."""

import csv
import io

import pandas as pd
import pytest

from data.tables import csv_text, write_frame_csv


def test_awkward_values_round_trip_through_the_csv_module():
    rows = [("a,b.jpg", 'said "no"'), ("line\nbreak.png", "ok"), {"path": "dict row.png", "reason": "x"}]
    text = csv_text(["path", "reason"], rows)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [
        ["path", "reason"],
        ["a,b.jpg", 'said "no"'],
        ["line\nbreak.png", "ok"],
        ["dict row.png", "x"],
    ]


# A class folder, a file or a run name that a spreadsheet would run as a formula (OWASP's list of starts).
FORMULAS = ["=1+2", "+1+2", "-2+3", "@SUM(1+1).jpg", "\t=1", "\r=1", '=HYPERLINK("http://x","a,b")']


@pytest.mark.parametrize("name", FORMULAS)
def test_formula_cells_are_written_as_text(name):
    text = csv_text(["path", name], [(name, "ok"), {"path": "b.png", name: name}])
    parsed = list(csv.reader(io.StringIO(text)))
    shown = "'" + name.replace("\r", "\\r")  # a CR is a control character: escaped, as on the terminal
    assert parsed == [["path", shown], [shown, "ok"], ["b.png", shown]]


def test_escape_sequences_are_written_escaped():
    assert csv_text(["class"], [("\x1b[31mred",), ("two\nlines",)]) == 'class\r\n\\x1b[31mred\r\n"two\nlines"\r\n'


def test_numbers_stay_numbers_and_plain_text_stays_plain():
    text = csv_text(["class", "precision", "delta"], [("daisy", 0.5, -0.5), ("rose", 1, "-0.25"), ("a-b", None, 3)])
    assert text.splitlines() == ["class,precision,delta", "daisy,0.5,-0.5", "rose,1,-0.25", "a-b,,3"]


def test_tables_from_pandas_get_the_same_care(tmp_path):
    frame = pd.DataFrame({"run": ["=cmd|' /C calc'!A0", "plain"], "=col": [-0.5, float("nan")]})
    write_frame_csv(frame, tmp_path / "table.csv")
    with open(tmp_path / "table.csv", newline="") as f:
        parsed = list(csv.reader(f))
    assert parsed == [["run", "'=col"], ["'=cmd|' /C calc'!A0", "-0.5"], ["plain", ""]]
