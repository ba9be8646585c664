"""Remote-engine payloads for driving the Excel face through xlwings' real object model, and back again.

``xw.Book(json=payload)`` gives real xlwings Book/Sheet/Range objects backed by a payload (the format the
xlwings clients send); every write is recorded as an action in ``book.json()["actions"]``. These helpers
build payloads from plain values or from an .xlsx/.xlsm (openpyxl), and replay the recorded actions onto an
openpyxl workbook so a test can assert on the resulting sheet instead of on action lists alone.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlwings as xw
from openpyxl.styles import PatternFill
from openpyxl.utils import get_column_letter, range_boundaries


def sheet_payload(name: str, values: Sequence[Sequence[Any]], tables: Iterable[dict] = ()) -> dict:
    """One sheet of a payload: ``None`` becomes ``""`` (empty), dates ISO text, as the clients send them."""
    rows = [[_cell(value) for value in row] for row in values] or [[]]
    width = max((len(row) for row in rows), default=0)
    rows = [row + [""] * (width - len(row)) for row in rows]
    return {"name": name, "values": rows, "pictures": [], "tables": list(tables)}


def payload(
    sheets: dict[str, Sequence[Sequence[Any]]],
    active: str | None = None,
    names: dict[str, tuple[str, str]] | None = None,
    book_name: str = "alma_tools.xlsm",
) -> dict:
    """A book payload: ``sheets`` name → rows; ``names`` workbook name → (sheet, address like ``B2``)."""
    order = list(sheets)
    return {
        "client": "Microsoft Office Scripts",
        "version": xw.__version__,
        "book": {
            "name": book_name,
            "active_sheet_index": order.index(active) if active else 0,
            "selection": "A1",
        },
        "names": defined_names(order, names or {}),
        "sheets": [sheet_payload(name, rows) for name, rows in sheets.items()],
    }


def defined_names(sheet_order: Sequence[str], names: dict[str, tuple[str, str]]) -> list[dict]:
    """Workbook-scoped names for a payload: name → (sheet, address like ``B2``)."""
    return [
        {
            "name": name,
            "sheet_index": list(sheet_order).index(sheet),
            "address": address,
            "scope_sheet_name": None,
            "scope_sheet_index": None,
            "book_scope": True,
        }
        for name, (sheet, address) in names.items()
    ]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day).isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, dt.time):
        return value.isoformat()
    return value


def locations_rows(data_dir: Path) -> list[list[str]]:
    """The sample locations table (Location Code, Library Code, Circulation Desk) as sheet rows."""
    with (data_dir / "locations.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def workbook_rows(ws: Any) -> list[list[Any]]:
    """An openpyxl worksheet's values from A1, as the Excel client would send them."""
    return [list(row) for row in ws.iter_rows(values_only=True)]


def payload_from_xlsx(path: str | Path, active: str | None = None, extra: dict | None = None) -> dict:
    """A payload from an .xlsx/.xlsm file (values, tables and workbook names), plus ``extra`` sheets.

    This is how tests open the sample exports and the built workbook itself through the remote engine.
    Each call returns a fresh payload; the file is read once per test session (openpyxl is slow here).
    """
    titles, rows, names, tables = _read_xlsx(str(path))
    sheets = dict(zip(titles, copy.deepcopy(rows), strict=True))
    sheets.update(extra or {})
    data = payload(sheets, active=active, names=names, book_name=Path(path).name)
    for sheet, sheet_tables in zip(data["sheets"], tables, strict=False):
        sheet["tables"].extend(copy.deepcopy(sheet_tables))
    return data


def xlsx_rows(path: str | Path, sheet: int = 0) -> list[list[Any]]:
    """One sheet's values as openpyxl reads them (dates as datetime, as Excel hands a range to a UDF)."""
    return copy.deepcopy(_read_xlsx(str(path))[1][sheet])


@functools.lru_cache(maxsize=8)
def _read_xlsx(
    path: str,
) -> tuple[list[str], list[list[list[Any]]], dict[str, tuple[str, str]], list[list[dict]]]:
    wb = openpyxl.load_workbook(path, data_only=True, keep_vba=path.endswith(".xlsm"))
    titles = [ws.title for ws in wb.worksheets]
    names: dict[str, tuple[str, str]] = {}
    for name, defined in wb.defined_names.items():
        for sheet, address in defined.destinations:
            if sheet in titles:
                names[name] = (sheet, address.replace("$", ""))
    rows = [workbook_rows(ws) for ws in wb.worksheets]
    tables = [[_table_payload(table) for table in ws.tables.values()] for ws in wb.worksheets]
    return titles, rows, names, tables


def _table_payload(table: Any) -> dict:
    min_col, min_row, max_col, max_row = range_boundaries(table.ref)
    first, last = get_column_letter(min_col), get_column_letter(max_col)
    return {
        "name": table.name,
        "range_address": table.ref,
        "header_row_range_address": f"{first}{min_row}:{last}{min_row}",
        "data_body_range_address": f"{first}{min_row + 1}:{last}{max_row}",
        "total_row_range_address": None,
        "show_headers": True,
        "show_totals": False,
        "table_style": table.tableStyleInfo.name if table.tableStyleInfo else "",
        "show_autofilter": True,
    }


def actions(book: Any, func: str | None = None) -> list[dict]:
    """The recorded actions of ``book`` (only those of ``func`` when given)."""
    recorded = book.json()["actions"]
    return [a for a in recorded if func is None or a["func"] == func]


def replay(data: dict, recorded: Iterable[dict]) -> openpyxl.Workbook:
    """An openpyxl workbook holding the payload's sheets after the recorded actions were applied.

    Covers the actions the add-in emits (sheets added or renamed, values, fills) and fails on any other
    action that changes cells, so a new kind of write cannot slip past the assertions unseen. A value
    written as formula-like text would show up as an openpyxl formula cell (``data_type == "f"``).
    """
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for sheet in data["sheets"]:
        ws = wb.create_sheet(sheet["name"])
        for row in sheet["values"]:
            ws.append([None if value == "" else value for value in row])
    ignored = {
        "alert",
        "activateSheet",
        "setAutofit",
        "setColumnWidth",
        "setNumberFormat",
        "setFontProperty",
        "freezePanes",
        "addTable",
        "setTableName",
        "setTableStyle",
        "addPicture",
        "setRowHeight",
        "setWrapText",
        "runMacro",
        "addConditionalFormat",
        "addChart",
        "setChartType",
        "setChartName",
        "setChartTitle",
        "setChartAxisReverseOrder",
        "setChartAxisTitle",
        "setChartSourceData",
        "setChartAxis",
        "freezePaneAtRange",
    }
    for action in recorded:
        func = action["func"]
        if func == "addSheet":
            position, name = action["args"][0], action["args"][1]
            wb.create_sheet(name or f"Sheet{len(wb.sheetnames) + 1}", position)
        elif func == "setSheetName":
            wb.worksheets[action["sheet_position"]].title = action["args"][0]
        elif func == "setValues":
            ws = wb.worksheets[action["sheet_position"]]
            for i, row in enumerate(action["values"]):
                for j, value in enumerate(row):
                    ws.cell(action["start_row"] + 1 + i, action["start_column"] + 1 + j, _from_json(value))
        elif func == "setRangeColor":
            ws = wb.worksheets[action["sheet_position"]]
            color = action["args"][0]
            fill = PatternFill("solid", fgColor=color.lstrip("#").upper()) if color else PatternFill(None)
            for i in range(action["row_count"]):
                for j in range(action["column_count"]):
                    ws.cell(action["start_row"] + 1 + i, action["start_column"] + 1 + j).fill = fill
        elif func not in ignored:
            raise AssertionError(f"replay does not know the action {func!r}")
    return wb


def _from_json(value: Any) -> Any:
    return None if value == "" else value


def fill_of(cell: Any) -> str | None:
    """The solid fill colour of an openpyxl cell as ``#RRGGBB``, or None."""
    if cell.fill is None or cell.fill.fill_type != "solid":
        return None
    return "#" + str(cell.fill.fgColor.rgb)[-6:]


def caller_books(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict], Any]]:
    """Body of the tests' ``caller_book`` fixture: payload → a remote-engine book, the mock caller.

    The current folder is ``tmp_path`` (the remote engine's book has no folder, so the run folder goes
    there), and the simulator's test key is in ``ALMA_API_KEY``. The book gets a copy of the payload
    because the engine edits what it is given; tests replay the actions onto the original.
    """
    from fixtures_simulator import TEST_KEY

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALMA_API_KEY", TEST_KEY)
    # runs announce themselves for a Stop from another Python process: per test, never another test's run
    monkeypatch.setenv("ALMA_TOOLS_RUNS_DIR", str(tmp_path / "alma-tools-runs"))
    books = []

    def make(data: dict) -> Any:
        book = xw.Book(json=copy.deepcopy(data))
        book.set_mock_caller()
        books.append(book)
        return book

    yield make
    if hasattr(xw.Book, "_mock_caller"):
        del xw.Book._mock_caller
    for book in books:
        book.close()
