"""Reading tables: CSV, XLSX or values from a sheet → a raw grid → a table of recognised columns.

Library staff hand us whatever Alma Analytics, Excel or a colleague produced: a CSV with a byte-order mark,
a semicolon CSV from a European Excel, a cp1252 or Mac Roman file saved by Excel, UTF-16 "Unicode text", an
``.xlsx`` with a report title above the header and an "Applied filters" footer below the data. This package
turns all of them into one shape without ever changing a value: ids are text from file to URL, so nothing
here converts a cell to a number (the damage Excel already did is *detected* by :mod:`alma_tools.ids`,
never repaired by guessing).

Two steps, so the Excel face can hand over values it read with xlwings and get the same treatment:

* :func:`read_grid` — cells exactly as read, with the row number the user sees next to each row
  (CSV line number counting the header line as 1, or the sheet row number), and for CSV the
  :class:`CsvDialect` that read it (:mod:`.dialect`), for workbooks the sheet and its hidden rows
  (:mod:`.xlsx`);
* :func:`find_table` — finds the header row (:mod:`.headers`), recognises columns by alias, drops blank
  rows and sets aside footers, totals and repeated headers (:mod:`.table`).

Every problem a person can fix is an :class:`~alma_tools.errors.InputError` naming the file, the row or the
column, and what to do. The modules: :mod:`.cells` (one cell as text), :mod:`.dialect` (CSV bytes → text),
:mod:`.xlsx_parts` (a workbook's parts, without pandas), :mod:`.xlsx` (a worksheet cell by cell),
:mod:`.xlsx_columns` (a large worksheet a column at a time), :mod:`.grid` (any source → :class:`Grid`),
:mod:`.headers` (columns and the header row), :mod:`.aside` (footers, totals, repeated headers),
:mod:`.table` (:class:`Table`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alma_tools.tables.cells import INVISIBLE_CHARS, STRIP_CHARS, cell_text, visible
    from alma_tools.tables.dialect import CsvDialect, sniff_csv
    from alma_tools.tables.grid import Grid, read_grid
    from alma_tools.tables.headers import (
        HEADER_SEARCH_ROWS,
        ITEM_COLUMNS,
        LOCATION_COLUMNS,
        Column,
        ColumnSet,
        normalise_header,
    )
    from alma_tools.tables.table import Table, find_table

#: where each name is defined. They load on first use (PEP 562), so the modules that need no pandas
#: (:mod:`.xlsx_parts`, :mod:`.xlsx_columns`) can be imported, and a large workbook's parse started, while
#: pandas is still loading
_HOMES = {
    "INVISIBLE_CHARS": "cells", "STRIP_CHARS": "cells", "cell_text": "cells", "visible": "cells",
    "CsvDialect": "dialect", "sniff_csv": "dialect", "Grid": "grid", "read_grid": "grid",
    "HEADER_SEARCH_ROWS": "headers", "ITEM_COLUMNS": "headers", "LOCATION_COLUMNS": "headers",
    "Column": "headers", "ColumnSet": "headers", "normalise_header": "headers",
    "Table": "table", "find_table": "table",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_HOMES[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "HEADER_SEARCH_ROWS",
    "INVISIBLE_CHARS",
    "ITEM_COLUMNS",
    "LOCATION_COLUMNS",
    "STRIP_CHARS",
    "Column",
    "ColumnSet",
    "CsvDialect",
    "Grid",
    "Table",
    "cell_text",
    "find_table",
    "normalise_header",
    "read_grid",
    "sniff_csv",
    "visible",
]
