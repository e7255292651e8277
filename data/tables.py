"""CSV text through the `csv` module (quoting and escaping done right): the one writer of the project."""

import csv
import io
from collections.abc import Iterable, Mapping, Sequence


def csv_text(header: Sequence[str], rows: Iterable[Sequence | Mapping]) -> str:
    """Header + rows as CSV text; rows are sequences in header order or mappings keyed by it."""
    out = io.StringIO()
    plain = csv.writer(out)
    plain.writerow(header)
    keyed = csv.DictWriter(out, fieldnames=list(header), extrasaction="ignore")
    for row in rows:
        if isinstance(row, Mapping):
            keyed.writerow(row)
        else:
            plain.writerow(row)
    return out.getvalue()
