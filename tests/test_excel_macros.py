"""The ribbon macros driven through xlwings' real object model (remote engine) against the simulator.

Each test builds a book payload from the sample exports, makes it the mock ``xw.Book.caller()``, runs the
macro the ribbon calls and asserts on the recorded actions (which cells, which values, how many writes),
replayed onto openpyxl where the resulting sheet is easier to check than the action list.
"""

from __future__ import annotations

import copy
import csv
import time
from pathlib import Path

import pytest
import xlwings as xw

from alma_tools import excel, sheets
from fixtures_simulator import TEST_KEY
from xl_payload import actions, defined_names, fill_of, payload, payload_from_xlsx, replay, workbook_rows

ITEMS = "items_to_discharge"


def locations_rows(data_dir: Path) -> list[list[str]]:
    with (data_dir / "locations.csv").open(encoding="utf-8-sig", newline="") as handle:
        return [row for row in csv.reader(handle)]


def settings_rows(base_url: str, rate: float = 25) -> list[list]:
    return [["Setting", "Value"], ["AlmaBaseUrl", base_url], ["AlmaRate", rate], ["LocationType", "auto"]]


SETTING_NAMES = {
    "AlmaBaseUrl": ("Settings", "B2"),
    "AlmaRate": ("Settings", "B3"),
    "LocationType": ("Settings", "B4"),
}


def items_payload(data_dir: Path, base_url: str, rate: float = 25, limit: int | None = None) -> dict:
    """The Analytics XLSX export pasted as the active sheet, plus Locations and Settings sheets."""
    data = payload_from_xlsx(
        data_dir / "items_to_discharge.xlsx",
        extra={"Locations": locations_rows(data_dir), "Settings": settings_rows(base_url, rate)},
    )
    sheet = data["sheets"][0]
    if limit is not None:
        sheet["values"] = [*sheet["values"][: 3 + limit], sheet["values"][-1]]
    data["names"] = defined_names([s["name"] for s in data["sheets"]], SETTING_NAMES)
    return data


@pytest.fixture
def caller_book(tmp_path, monkeypatch):
    """Factory: payload → a remote-engine book that is the mock caller; the journal goes to tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALMA_API_KEY", TEST_KEY)
    books = []

    def make(data: dict):
        book = xw.Book(
            json=copy.deepcopy(data)
        )  # the engine edits its payload; tests replay onto the original
        book.set_mock_caller()
        books.append(book)
        return book

    yield make
    if hasattr(xw.Book, "_mock_caller"):
        del xw.Book._mock_caller
    for book in books:
        book.close()


def result_writes(book) -> list[dict]:
    """setValues actions on the items sheet that write the done/status columns (K and L)."""
    return [a for a in actions(book, "setValues") if a["sheet_position"] == 0 and a["start_column"] == 10]


@pytest.mark.slow
def test_discharge_writes_done_and_status_for_every_row_in_a_few_dozen_writes(
    caller_book, data_dir, simulator
):
    sim = simulator()
    data = items_payload(data_dir, sim.base_url)
    book = caller_book(data)
    started = time.monotonic()
    run = excel.discharge()
    assert run is not None, actions(book, "alert")
    assert time.monotonic() - started < 2.0  # the macro returns at once; the run goes on in the background
    assert run.wait(timeout=120)
    wb = replay(data, actions(book))
    ws = wb[ITEMS]
    assert [ws.cell(3, 11).value, ws.cell(3, 12).value] == ["done", "status"]
    statuses = [ws.cell(r, 12).value for r in range(4, 304)]
    assert all(statuses), [r for r, s in zip(range(4, 304), statuses, strict=True) if not s]
    assert ws.cell(304, 12).value is None  # the footer row is left alone
    done = [r for r in range(4, 304) if ws.cell(r, 11).value is True]
    assert len(done) == run.counts["returned"] + run.counts["transit"] + run.counts["hold_shelf"]
    assert len(done) >= 250
    stats = sim.stats()
    assert len(stats["scans"]) == len(done)  # every done row's item was scanned in ...
    assert set(stats["scans"].values()) == {1}  # ... exactly once
    assert stats["in_house_uses"] == 0
    writes = result_writes(book)
    assert len(writes) <= 40, len(writes)
    print(
        f"\n300 rows: {len(writes)} result writes, {run.writes} Excel writes in all "
        f"({1000 * run.writes / 300:.0f} per 1,000 rows)"
    )
    for row in run.needs_person:
        assert fill_of(ws.cell(row, 1)) == sheets.NEEDS_PERSON_FILL
    alert = actions(book, "alert")[-1]["args"]
    assert alert[0].startswith("Discharge finished: 300 rows") and alert[1] == "Alma Tools"
    log = wb[excel.LOG_SHEET]
    assert any(str(c.value).startswith("Discharge finished") for c in log["B"])
    folder = Path.cwd() / "items_to_discharge.alma-run"  # beside the workbook (the remote engine: cwd)
    assert (folder / "journal.jsonl").exists()
    assert all(TEST_KEY not in p.read_text(encoding="utf-8") for p in folder.iterdir())


def test_rerun_skips_done_rows_and_scans_nothing_again(caller_book, data_dir, simulator):
    sim = simulator()
    first = items_payload(data_dir, sim.base_url, limit=20)
    book = caller_book(first)
    run = excel.discharge()
    assert run.wait(timeout=60)
    scans = sum(sim.stats()["scans"].values())
    assert scans > 0
    after = replay(first, actions(book))
    second = items_payload(data_dir, sim.base_url, limit=20)
    second["sheets"][0] = {
        **second["sheets"][0],
        "values": [["" if v is None else v for v in row] for row in workbook_rows(after[ITEMS])],
    }
    book2 = caller_book(second)
    rerun = excel.discharge(book2)
    assert rerun.wait(timeout=60)
    assert sum(sim.stats()["scans"].values()) == scans
    assert rerun.counts["skipped_done"] == scans


def test_busy_excel_delays_the_writes_but_loses_none(caller_book, data_dir, simulator, monkeypatch):
    sim = simulator()
    data = items_payload(data_dir, sim.base_url, limit=30)
    book = caller_book(data)
    failures = {"left": 4}
    real_call = sheets.SheetWriter.__call__

    class Busy(Exception):
        hresult = -2147418111  # RPC_E_CALL_REJECTED: a cell is in edit mode

    def busy_then_fine(self, block):
        if failures["left"]:
            failures["left"] -= 1
            raise Busy(-2147418111, "Call was rejected by callee.", None, None)
        return real_call(self, block)

    monkeypatch.setattr(sheets.SheetWriter, "__call__", busy_then_fine)
    run = excel.discharge(book)
    assert run.wait(timeout=60)
    assert failures["left"] == 0
    ws = replay(data, actions(book))[ITEMS]
    assert all(ws.cell(r, 12).value for r in range(4, 34))
    assert "Discharge finished: 30 rows" in actions(book, "alert")[-1]["args"][0]


def test_stop_ends_the_run_within_seconds_with_everything_written(caller_book, data_dir, simulator):
    sim = simulator(latency=(0.3, 0.8))
    data = items_payload(data_dir, sim.base_url, rate=5)
    book = caller_book(data)
    run = excel.discharge()
    time.sleep(2.0)
    assert excel.stop() is run
    stopped_at = time.monotonic()
    assert run.wait(timeout=10)
    assert time.monotonic() - stopped_at < 5.0
    ws = replay(data, actions(book))[ITEMS]
    statuses = [ws.cell(r, 12).value for r in range(4, 304)]
    assert all(statuses)
    assert statuses.count("Stopped before this row") == run.counts["stopped"] > 200
    assert sum(1 for r in range(4, 304) if ws.cell(r, 11).value is True) == len(sim.stats()["scans"])
    assert actions(book, "alert")[-1]["args"][0].startswith("Discharge stopped")
    assert excel.stop() is None  # nothing is running any more: a message, no error
    assert actions(book, "alert")[-1]["args"][0] == "No discharge is running in this workbook."


def test_check_marks_the_damaged_cells_without_calling_alma(caller_book, data_dir, simulator):
    sim = simulator()
    with (data_dir / "items_excel_damaged.csv").open(encoding="cp1252", newline="") as handle:
        rows = [row for row in csv.reader(handle)]
    data = payload(
        {"Items": rows, "Locations": locations_rows(data_dir), "Settings": settings_rows(sim.base_url)},
        names=SETTING_NAMES,
    )
    book = caller_book(data)
    summary = excel.check()
    assert summary is not None
    assert sim.stats()["requests"] == 0
    wb = replay(data, actions(book))
    ws = wb["Items"]
    header = rows[0]
    mms = header.index("MMS Id") + 1
    # row 3 of the sheet holds 9.93547E+17 in MMS Id: marked, with the row, column and fix in the status
    damaged = next(r for r, row in enumerate(rows, start=1) if row[mms - 1] == "9.93547E+17")
    assert fill_of(ws.cell(damaged, mms)) == sheets.PROBLEM_FILL
    status = ws.cell(damaged, len(header) + 2).value
    assert "MMS Id" in status and f"row {damaged}" in status
    sound = next(r for r, row in enumerate(rows, start=1) if r > 1 and row[mms - 1].endswith("3681"))
    assert fill_of(ws.cell(sound, mms)) is None
    alert = actions(book, "alert")[-1]["args"][0]
    assert alert.startswith("Check of sheet 'Items' (no call to Alma)")


def test_input_mistakes_are_messages_not_tracebacks(caller_book, data_dir):
    book = caller_book(
        payload({"Items": [["Title", "Author"], ["x", "y"]], "Locations": locations_rows(data_dir)})
    )
    assert excel.discharge() is None
    text = actions(book, "alert")[-1]["args"][0]
    assert "Traceback" not in text
    assert "Barcode" in text or "Item Id" in text


def test_bad_setting_names_the_cell(caller_book, data_dir, simulator):
    sim = simulator()
    data = items_payload(data_dir, sim.base_url, rate=40, limit=5)
    book = caller_book(data)
    assert excel.discharge() is None
    assert actions(book, "alert")[-1]["args"][0].startswith("Settings › AlmaRate is 40")
    assert sim.stats()["requests"] == 0
