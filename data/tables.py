"""CSV text through the `csv` module (quoting and escaping done right): the one writer of the project.

Cells come from untrusted names (class folders, file names): a cell starting with `=`, `+`, `-`,
`@`, tab or CR is a formula to a spreadsheet (`=1+2`, `@SUM(1+1).jpg`, `=HYPERLINK(...)`). As
OWASP recommends, such text cells get a leading `'` (shown as text, never evaluated), and the
`csv` module quotes and escapes every cell that needs it, so a quote or comma in a name cannot
end the cell early and start a new one. Numbers, also negative ones and numbers in text form
(-0.5), stay numbers. Control characters are escaped (data/printable.py): a CSV on standard
output or under `cat` must not recolour the terminal.
"""

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence

from data.printable import printable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def inert_cell(value):
    """The cell as written: text that a spreadsheet would run as a formula gets a leading quote, and
    control characters are escaped as on the terminal (a CSV is often read with `cat`)."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
        value = "'" + value
    return printable(value)


def csv_text(header: Sequence[str], rows: Iterable[Sequence | Mapping]) -> str:
    """Header + rows as CSV text; rows are sequences in header order or mappings keyed by it."""
    out = io.StringIO()
    writer = csv.writer(out)  # quotes a cell holding a comma, quote or line break, doubling its quotes
    writer.writerow([inert_cell(name) for name in header])
    for row in rows:
        cells = [row.get(name, "") for name in header] if isinstance(row, Mapping) else row
        writer.writerow([inert_cell(value) for value in cells])
    return out.getvalue()


def write_frame_csv(frame, path) -> None:
    """A pandas table to a CSV file with the same care (compare's tables), column names included."""
    frame.rename(columns=inert_cell).map(inert_cell).to_csv(path, index=False)
