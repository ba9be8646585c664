"""The macros against the built workbook itself (workbook/alma_tools.xlsm read back into a payload).

The other Excel tests build books from the sample exports alone; these use the shipped file's own sheets,
Settings names and Locations table, with the exports pasted where its paste sheets say, so a change of
sheet names or settings in the workbook that the macros do not follow fails here.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from alma_tools import excel
from alma_tools.concurrency import report_sheets
from xl_payload import actions, caller_books, locations_rows, payload_from_xlsx, replay, sheet_payload

ROOT = Path(__file__).resolve().parent.parent
WORKBOOK = ROOT / "workbook" / "alma_tools.xlsm"
RIBBON_VBA = ROOT / "workbook" / "vba" / "AlmaRibbon.bas"

pytestmark = pytest.mark.skipif(not WORKBOOK.exists(), reason="workbook/alma_tools.xlsm is not built yet")


@pytest.fixture
def caller_book(tmp_path, monkeypatch):
    yield from caller_books(tmp_path, monkeypatch)


def built_payload(data_dir: Path, base_url: str, active: str, items_limit: int = 20) -> dict:
    """The built workbook, exports pasted into Items and Loans, Settings pointing at the simulator."""
    exports = {
        "items": payload_from_xlsx(data_dir / "items_to_discharge.xlsx")["sheets"][0]["values"],
        "loans": payload_from_xlsx(data_dir / "loans_export.xlsx")["sheets"][0]["values"],
    }
    data = payload_from_xlsx(WORKBOOK, active=active)
    by_name = {sheet["name"]: sheet for sheet in data["sheets"]}
    items = exports["items"]
    by_name["Items"].update(sheet_payload("Items", [*items[: 3 + items_limit], items[-1]]))
    by_name["Loans"].update(sheet_payload("Loans", exports["loans"]))
    tables = by_name[excel.LOCATIONS_SHEET]["tables"]
    by_name[excel.LOCATIONS_SHEET].update(
        sheet_payload(excel.LOCATIONS_SHEET, locations_rows(data_dir), tables)
    )
    settings = by_name["Settings"]["values"]
    for name in data["names"]:
        row, column = _cell(name["address"])
        if name["name"] == "AlmaBaseUrl":
            settings[row][column] = base_url
        elif name["name"] == "AlmaRate":
            settings[row][column] = 25
    return data


def _cell(address: str) -> tuple[int, int]:
    match = re.fullmatch(r"([A-Z]+)(\d+)", address)
    assert match, address
    column = 0
    for letter in match.group(1):
        column = column * 26 + ord(letter) - 64
    return int(match.group(2)) - 1, column - 1


def test_every_ribbon_button_calls_an_existing_macro_that_takes_an_optional_book():
    called = re.findall(r'AlmaRun "(\w+)"', RIBBON_VBA.read_text(encoding="utf-8"))
    assert sorted(called) == [
        "check",
        "concurrency",
        "discharge",
        "fetch_items",
        "fetch_loans",
        "set_api_key",
        "stop",
    ]
    for name in called:
        parameters = list(inspect.signature(getattr(excel, name)).parameters.values())
        assert parameters[0].name == "book" and parameters[0].default is None


def test_settings_of_the_built_workbook_are_read(caller_book, data_dir, simulator):
    sim = simulator()
    book = caller_book(built_payload(data_dir, sim.base_url, active="Items"))
    settings = excel.read_settings(book)
    assert settings.base_url == sim.base_url
    assert settings.rate == 25
    assert settings.location_type == "auto"
    assert settings.in_house_use is False
    assert settings.date_order is None  # auto: the loans reader decides from the file
    assert excel.settings.read_as_of(book) is None  # AsOf blank: now, with a warning for an old export


def test_check_and_discharge_in_the_built_workbook(caller_book, data_dir, simulator):
    sim = simulator()
    data = built_payload(data_dir, sim.base_url, active="Items")
    book = caller_book(data)
    job = excel.check()
    assert job.wait(timeout=30) and job.result is not None, actions(book, "alert")
    assert sim.stats()["requests"] == 0
    run = excel.discharge()
    assert run is not None, actions(book, "alert")
    assert run.wait(timeout=60)
    ws = replay(data, actions(book))["Items"]
    assert [ws.cell(3, 11).value, ws.cell(3, 12).value] == ["done", "status"]
    assert all(ws.cell(r, 12).value for r in range(4, 24))
    assert sum(run.counts.values()) == 20
    assert actions(book, "alert")[-1]["args"][0].startswith("Discharge finished: 20 rows of sheet 'Items'")


def test_concurrency_in_the_built_workbook(caller_book, data_dir, simulator):
    sim = simulator()
    data = built_payload(data_dir, sim.base_url, active="Loans")
    book = caller_book(data)
    job = excel.concurrency()
    assert job.wait(timeout=60) and job.result is not None, actions(book, "alert")
    wb = replay(data, actions(book))
    assert {spec.name for spec in report_sheets(job.result)} <= set(wb.sheetnames)
    assert "Items sheet was not used" in actions(book, "alert")[-1]["args"][0]  # it holds items on loan


def test_concurrency_counts_up_to_the_built_workbooks_asof(caller_book, data_dir, simulator):
    """Settings › AsOf of the shipped file (found by its name, wherever the row sits) is the as-of used."""
    import datetime as dt

    sim = simulator()
    data = built_payload(data_dir, sim.base_url, active="Loans")
    ((address,),) = [[n["address"]] for n in data["names"] if n["name"] == "AsOf"]
    row, column = _cell(address)
    next(s for s in data["sheets"] if s["name"] == "Settings")["values"][row][column] = "2026-06-30 23:59"
    book = caller_book(data)
    job = excel.concurrency()
    assert job.wait(timeout=60) and job.result is not None, actions(book, "alert")
    assert job.result.as_of == dt.datetime(2026, 6, 30, 23, 59)
    message = actions(book, "alert")[-1]["args"][0]
    assert "as of 2026-06-30 23:59" in message and "Settings › AsOf" not in message
