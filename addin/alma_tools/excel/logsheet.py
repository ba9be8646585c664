"""The log sheet: every Check, Discharge and statistics summary, dated, below the earlier ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

from alma_tools import sheets
from alma_tools.cells import safe_text

LOG_SHEET = "Alma Tools log"


def ensure_log_sheet(book: Any) -> None:
    """Create the log sheet at the end of the book if it is missing, leaving the person's sheet active.

    Called on the button's own thread: adding a sheet activates it, which must not happen later from the
    background thread while someone is working in another sheet.
    """
    names = [s.name for s in book.sheets]
    if LOG_SHEET not in names:
        active = book.sheets.active
        book.sheets.add(LOG_SHEET, after=book.sheets[len(names) - 1])
        active.activate()


def append_log(book: Any, lines: list[str]) -> None:
    """Add dated lines below what the log sheet already holds (the sheet is created if missing)."""
    ensure_log_sheet(book)
    sheet = book.sheets[LOG_SHEET]
    used = sheets.sheet_rows(sheet)
    filled = [i for i, row in enumerate(used, start=1) if any(c not in (None, "") for c in row)]
    next_row = filled[-1] + 2 if filled else 1
    stamp = dt.datetime.now().replace(microsecond=0)
    sheet.range((next_row, 1)).value = [
        [stamp if i == 0 else None, safe_text(line)] for i, line in enumerate(lines)
    ]
