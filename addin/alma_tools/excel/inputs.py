"""Reading the pasted export, the Locations sheet and the settings, on the button's thread."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alma_tools import sheets
from alma_tools.discharge import DischargeOptions, Plan, make_plan
from alma_tools.errors import InputError
from alma_tools.excel.logsheet import LOG_SHEET
from alma_tools.excel.settings import Settings, read_settings
from alma_tools.tables import ITEM_COLUMNS, LOCATION_COLUMNS, Table, find_table, read_grid

LOCATIONS_SHEET = "Locations"


@dataclass
class DischargeInput:
    """Everything read from the book on the caller's thread: plain data, safe to hand to another thread."""

    sheet_name: str
    rows: list[list[Any]]
    items: Table
    plan: Plan
    options: DischargeOptions
    settings: Settings
    columns: sheets.ResultColumns


def read_discharge_input(book: Any) -> DischargeInput:
    """Read the active sheet (the pasted export) and the Locations sheet, and decide every row."""
    sheet = book.sheets.active
    if sheet.name in (LOCATIONS_SHEET, LOG_SHEET):
        raise InputError(
            f"The active sheet is '{sheet.name}': click the sheet where the Analytics export of the items is "
            "pasted, then press the button again"
        )
    rows = sheets.sheet_rows(sheet)
    grid = read_grid(rows)
    grid.source = f"sheet '{sheet.name}'"
    items = find_table(grid, ITEM_COLUMNS)
    if LOCATIONS_SHEET not in [s.name for s in book.sheets]:
        raise InputError(
            f"This workbook has no '{LOCATIONS_SHEET}' sheet: add one with the columns Location Code, "
            "Library Code, Circulation Desk (one row per location)"
        )
    location_grid = read_grid(sheets.sheet_rows(book.sheets[LOCATIONS_SHEET]))
    location_grid.source = f"sheet '{LOCATIONS_SHEET}'"
    locations = find_table(location_grid, LOCATION_COLUMNS)
    settings = read_settings(book)
    options = DischargeOptions(
        location_type=settings.location_type, rate=settings.rate, register_in_house_use=settings.in_house_use
    )
    plan = make_plan(items, locations, options)
    return DischargeInput(
        sheet_name=sheet.name,
        rows=rows,
        items=items,
        plan=plan,
        options=options,
        settings=settings,
        columns=sheets.result_columns(rows, items.header_row),
    )


def column_of(rows: list[list[Any]], header_row: int, label: str) -> int | None:
    """1-based column of the header cell written ``label`` (as find_table recorded it), or None."""
    wanted = str(label).strip()
    for number, cell in enumerate(rows[header_row - 1], start=1):
        if cell is not None and str(cell).strip() == wanted:
            return number
    return None
