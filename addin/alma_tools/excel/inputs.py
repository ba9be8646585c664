"""Reading the pasted export, the Locations sheet and the settings into a planned discharge session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alma_tools import sheets
from alma_tools.discharge import Plan
from alma_tools.discharge.journal import legacy_run_folder_for, run_folder_for
from alma_tools.discharge.session import DischargeSession
from alma_tools.errors import InputError
from alma_tools.excel import desktop
from alma_tools.excel.logsheet import LOG_SHEET
from alma_tools.excel.settings import Settings, read_settings
from alma_tools.tables import ITEM_COLUMNS, LOCATION_COLUMNS, Table, find_table, read_grid

LOCATIONS_SHEET = "Locations"
#: the column whose cells tell one row's item from another's, best first (checked before each write)
_ROW_KEYS = ("item_id", "barcode")


@dataclass
class DischargeInput:
    """Everything read from the book: plain data (the session holds the tables and the plan)."""

    sheet_name: str
    rows: list[list[Any]]
    session: DischargeSession
    settings: Settings
    columns: sheets.ResultColumns
    guard: sheets.RowGuard | None

    @property
    def items(self) -> Table:
        return self.session.items

    @property
    def plan(self) -> Plan:
        return self.session.plan


def read_discharge_input(book: Any) -> DischargeInput:
    """Read the active sheet (the pasted export) and the Locations sheet, and decide every row.

    Rows hidden in the sheet (by a filter or by hand) are left alone, as the command line leaves a file's
    hidden rows alone.
    """
    sheet = book.sheets.active
    if sheet.name in (LOCATIONS_SHEET, LOG_SHEET):
        raise InputError(
            f"The active sheet is '{sheet.name}': click the sheet where the Analytics export of the items is "
            "pasted, then press the button again"
        )
    rows = sheets.sheet_rows(sheet)
    grid = read_grid(rows, name=f"sheet '{sheet.name}'", hidden_rows=desktop.hidden_rows(sheet, len(rows)))
    grid.source = f"sheet '{sheet.name}'"
    items = find_table(grid, ITEM_COLUMNS)
    if LOCATIONS_SHEET not in [s.name for s in book.sheets]:
        raise InputError(
            f"This workbook has no '{LOCATIONS_SHEET}' sheet: add one with the columns Location Code, "
            "Library Code, Circulation Desk (one row per location)"
        )
    location_grid = read_grid(
        sheets.sheet_rows(book.sheets[LOCATIONS_SHEET]), name=f"sheet '{LOCATIONS_SHEET}'"
    )
    location_grid.source = f"sheet '{LOCATIONS_SHEET}'"
    locations = find_table(location_grid, LOCATION_COLUMNS)
    settings = read_settings(book)
    session = DischargeSession(
        items,
        locations,
        settings.options,
        run_folder_for(book.fullname),
        name=f"sheet '{sheet.name}'",
        legacy_folder=legacy_run_folder_for(book.fullname),
    )
    return DischargeInput(
        sheet_name=sheet.name,
        rows=rows,
        session=session,
        settings=settings,
        columns=sheets.result_columns(rows, items.header_row),
        guard=row_guard(rows, items),
    )


def row_guard(rows: list[list[Any]], items: Table) -> sheets.RowGuard | None:
    """What each data row's key cell (Item Id, else Barcode) held when read: checked before each write."""
    for key in _ROW_KEYS:
        if items.has(key):
            column = column_of(rows, items.header_row, items.label(key))
            if column is not None:
                expected = {
                    number: rows[number - 1][column - 1] if column <= len(rows[number - 1]) else None
                    for number in range(items.header_row + 1, len(rows) + 1)
                }
                return sheets.RowGuard(column, expected)
    return None


def column_of(rows: list[list[Any]], header_row: int, label: str) -> int | None:
    """1-based column of the header cell written ``label`` (as find_table recorded it), or None."""
    wanted = str(label).strip()
    for number, cell in enumerate(rows[header_row - 1], start=1):
        if cell is not None and str(cell).strip() == wanted:
            return number
    return None
