"""The one CSV writer: what a spreadsheet reads back is exactly what was written."""

import csv
import io

from data.tables import csv_text


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
