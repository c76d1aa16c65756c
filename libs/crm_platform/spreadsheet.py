"""CSV that a spreadsheet program opens safely (S6: CSV / formula injection).

Excel, WPS and LibreOffice run a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a
formula (``=cmd|' /C calc'!A0``, ``=HYPERLINK(…)``); a tab or carriage return first hides
it. Every export writes its cells through :func:`safe_cell`, which puts an apostrophe in
front of such a cell: the program then shows it as text. A plain number or phone number
(``-12.50``, ``+86 139 0000 0000``) is left as it is, since no formula can hide in it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
# a sign followed only by digits and the separators of numbers and phone numbers
_PLAIN_NUMBER = re.compile(r"[+-][0-9 ().,/-]*\Z")


def safe_cell(value: Any) -> Any:
    """``value`` as a cell no spreadsheet program runs as a formula."""
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    if _PLAIN_NUMBER.match(value):
        return value
    return "'" + value


class SafeWriter:
    """:func:`csv.writer` whose every cell goes through :func:`safe_cell`."""

    def __init__(self, out: IO[str], **fmt: Any) -> None:
        self._writer = csv.writer(out, **fmt)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
