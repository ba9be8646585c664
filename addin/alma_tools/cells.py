"""Keeping text from Alma or from input as text when it is written to a cell.

Spreadsheet programs treat a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and some also
after a leading tab or carriage return). A title or an Alma message such as ``=HYPERLINK("http://x","y")``
must never run as one, so every writer (CSV, XLSX, xlwings) passes text through :func:`safe_text` — or, where
the writer can mark a cell as text (xlsxwriter's ``write_string``, openpyxl's ``data_type = "s"``), uses
:func:`is_formula_like` to decide.
"""

from __future__ import annotations

from typing import Any

#: first characters that make Excel, LibreOffice or Google Sheets read a cell as a formula
FORMULA_TRIGGERS = ("=", "+", "-", "@")
_LEADING_CONTROL = "\t\r\n"


def is_formula_like(value: Any) -> bool:
    """True when ``value`` is text a spreadsheet would run as a formula."""
    return isinstance(value, str) and value.lstrip(_LEADING_CONTROL).startswith(FORMULA_TRIGGERS)


def safe_text(value: Any) -> Any:
    """Return ``value`` unchanged unless it is formula-like text, which gets Excel's text prefix ``'``.

    Excel hides the apostrophe and shows the rest as text; numbers, dates and ``None`` pass through.
    """
    if is_formula_like(value):
        return "'" + value
    return value
