"""Fetch from Analytics in Excel, driven through xlwings' real object model (remote engine) against the
simulator over real sockets: the Items or Loans sheet filled in the background, ids as text cells."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import harness
from alma_tools import excel, sheets
from alma_tools.alma.analytics import ReportNotFound
from alma_tools.cells import safe_text
from test_analytics_client import HEADER, REPORT, source_rows, write_csv
from xl_payload import (
    actions,
    caller_books,
    defined_names,
    locations_rows,
    payload,
    payload_from_xlsx,
    replay,
)

HINT = "Paste the Analytics export of items on loan here (click A1, then Ctrl+V), header row included."


@pytest.fixture
def caller_book(tmp_path, monkeypatch):
    yield from caller_books(tmp_path, monkeypatch)


def book_payload(base_url: str, items: list[list] | None = None, report: str = REPORT) -> dict:
    settings = [
        ["Setting", "Value"],
        ["AlmaBaseUrl", base_url],
        ["AlmaRate", 25],
        ["ItemsReportPath", report],
        ["LoansReportPath", "/shared/Sample University/Reports/Loans"],
    ]
    names = {
        "AlmaBaseUrl": ("Settings", "B2"),
        "AlmaRate": ("Settings", "B3"),
        "ItemsReportPath": ("Settings", "B4"),
        "LoansReportPath": ("Settings", "B5"),
    }
    sheets = {"Items": items or [[HINT]], "Loans": [[""]], "Settings": settings}
    return payload(sheets, active="Settings", names=names)


def test_fetch_items_fills_the_items_sheet_with_a_note_the_header_and_text_cells(
    caller_book, simulator, tmp_path: Path, monkeypatch
) -> None:
    shown: list[str] = []
    real = sheets.set_status_bar  # the remote engine has no status bar: what would be shown is recorded

    def status_bar(app, text):
        shown.append(text)
        return real(app, text)

    monkeypatch.setattr(sheets, "set_status_bar", status_bar)
    rows = source_rows(1200)
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", rows)})
    data = book_payload(sim.base_url)
    book = caller_book(data)
    started = time.monotonic()
    job = excel.fetch_items()
    assert job is not None, actions(book, "alert")
    assert time.monotonic() - started < 2.0  # the macro returns at once; the fetch goes on in the background
    assert job.wait(timeout=120)
    assert job.error is None, job.error
    recorded = actions(book)
    wb = replay(data, recorded)
    ws = wb["Items"]
    note = ws.cell(1, 1).value
    assert note.startswith(f"Fetched from Analytics: {REPORT}, fetched ") and "(1,200 rows)" in note
    assert [ws.cell(2, c).value for c in range(1, len(HEADER) + 1)] == HEADER
    for number, source in enumerate(rows, start=3):
        got = [ws.cell(number, c).value for c in range(1, len(HEADER) + 1)]
        assert got == [safe_text(v) if v else None for v in source], number
        assert all(ws.cell(number, c).data_type == "s" for c in range(1, 6) if ws.cell(number, c).value)
    formats = [a for a in recorded if a["func"] == "setNumberFormat"]
    assert formats and formats[0]["args"][0] == "@"  # text cells before the values arrive
    first_values = next(i for i, a in enumerate(recorded) if a["func"] == "setValues")
    assert recorded.index(formats[0]) < first_values
    assert len([a for a in recorded if a["func"] == "setValues" and a["sheet_position"] == 0]) <= 3
    assert "Alma Tools: writing 1,200 rows into the sheet…" in shown
    alert = actions(book, "alert")[-1]["args"][0]
    assert alert.startswith("1,200 rows in 2 pages from Analytics report")


def test_then_discharge_loans_works_on_the_fetched_sheet(caller_book, simulator, data_dir, tmp_path) -> None:
    sim = simulator()
    data = book_payload(sim.base_url, report="/shared/Sample University/Reports/Items to discharge")
    book = caller_book(data)
    job = excel.fetch_items()
    assert job.wait(timeout=60) and job.error is None, actions(book, "alert")
    assert job.sheet_name == "Items" and len(job.report.rows) == 300
    # the sheet as Excel now has it, with a Locations sheet, Items active: press Discharge loans
    fetched = tmp_path / "fetched.xlsx"
    replay(data, actions(book)).save(fetched)
    settings = [["Setting", "Value"], ["AlmaBaseUrl", sim.base_url], ["AlmaRate", 25]]
    after = payload_from_xlsx(
        fetched, active="Items", extra={"Locations": locations_rows(data_dir), "Settings": settings}
    )
    order = [sheet["name"] for sheet in after["sheets"]]
    after["names"] = defined_names(order, {"AlmaBaseUrl": ("Settings", "B2"), "AlmaRate": ("Settings", "B3")})
    discharging = caller_book(after)
    run = excel.discharge()
    assert run is not None, actions(discharging, "alert")
    assert run.wait(timeout=120)
    summary = actions(discharging, "alert")[-1]["args"][0]
    assert summary.startswith("Discharge finished: 300 rows of sheet 'Items'"), summary
    assert len(sim.stats()["scans"]) >= 250  # the note row above the header is passed over like a title


def test_a_sheet_with_data_is_left_alone_and_a_new_sheet_gets_the_report(caller_book, simulator) -> None:
    sim = simulator()
    mine = [["My own list"], ["a", "b"]]
    data = book_payload(
        sim.base_url, items=mine, report="/shared/Sample University/Reports/Items to discharge"
    )
    book = caller_book(data)
    job = excel.fetch_items()
    assert job.wait(timeout=60) and job.error is None, actions(book, "alert")
    wb = replay(data, actions(book))
    assert [wb["Items"].cell(1, 1).value, wb["Items"].cell(2, 2).value] == ["My own list", "b"]
    assert job.sheet_name.startswith("Items 20") and job.sheet_name in wb.sheetnames
    assert wb[job.sheet_name].cell(2, 1).value == "Title"


def test_fetch_loans_fills_the_loans_sheet(caller_book, simulator) -> None:
    sim = simulator()
    data = book_payload(sim.base_url)
    book = caller_book(data)
    job = excel.fetch_loans()
    assert job.wait(timeout=60) and job.error is None, actions(book, "alert")
    wb = replay(data, actions(book))
    ws = wb["Loans"]
    assert ws.cell(2, 1).value == "Title" and ws.cell(2, 2).value == "MMS Id"
    assert str(ws.cell(3, 2).value).isdigit()  # the MMS Id as text, all digits


def test_missing_path_and_unknown_report_are_messages(caller_book, simulator) -> None:
    sim = simulator()
    empty = caller_book(book_payload(sim.base_url, report=""))
    assert excel.fetch_items() is None
    assert "Settings › ItemsReportPath is empty" in actions(empty, "alert")[-1]["args"][0]
    assert sim.stats()["requests"] == 0
    unknown = caller_book(book_payload(sim.base_url, report="/shared/Nowhere/Reports/X"))
    job = excel.fetch_items()
    assert job.wait(timeout=60)
    message = actions(unknown, "alert")[-1]["args"][0]
    assert "/shared/Nowhere/Reports/X" in message and "Properties" in message
    assert isinstance(job.error, ReportNotFound)


def test_stop_ends_a_fetch_and_writes_nothing(caller_book, simulator, tmp_path: Path) -> None:
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", source_rows(50))}, analytics_delay=30)
    data = book_payload(sim.base_url)
    book = caller_book(data)
    job = excel.fetch_items()
    # Alma is "still running" the report: the fetch has asked once and waits for it
    harness.wait_until(lambda: sim.stats()["by_endpoint"].get("analytics"), timeout=30, what="a first fetch")
    assert excel.stop() is job
    assert job.wait(timeout=15)
    assert "Stopped: the report" in actions(book, "alert")[-1]["args"][0]
    assert not [a for a in actions(book) if a["func"] == "setValues"]  # nothing written into the workbook
