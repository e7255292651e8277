"""Names shown on a terminal as text: control characters escaped, never sent raw.

A class folder or file named with "\\x1b[31m" (an ANSI escape) would recolour the terminal, and
one with "\\r" or "\\x1b[2K" would rewrite the line it is on. Shown escaped, they read as what
they are. Line breaks and tabs in a whole message stay; a name has none.
"""

import logging
import re

# C0 controls but tab and line feed, DEL, C1 controls (0x9b is a one-byte CSI in some terminals).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str, keep_lines: bool = True) -> str:
    """`text` with control characters as escapes (\\x1b); with keep_lines=False, \\n and \\t too."""
    pattern = CONTROL if keep_lines else re.compile(r"[\x00-\x1f\x7f-\x9f]")
    return pattern.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def printable_records(record: logging.LogRecord) -> bool:
    """A logging filter: the message as printable text (names reach the terminal through log lines)."""
    message = record.getMessage()
    if CONTROL.search(message):
        record.msg, record.args = printable(message), ()
    return True
