"""The ribbon macros driven through xlwings' real object model (remote engine) against the simulator.

Each test builds a book payload from the sample exports, makes it the mock ``xw.Book.caller()``, runs the
macro the ribbon calls and asserts on the recorded actions (which cells, which values, how many writes),
replayed onto openpyxl where the resulting sheet is easier to check than the action list.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import keyring
import pytest

import harness
from alma_tools import excel, sheets
from alma_tools.concurrency import report_sheets
from fixtures_simulator import TEST_KEY
from samples import make_items
from xl_com import rejected, vba_ignore
from xl_payload import (
    actions,
    caller_books,
    defined_names,
    fill_of,
    locations_rows,
    payload,
    payload_from_xlsx,
    replay,
    sheet_payload,
    workbook_rows,
)

ITEMS = "items_to_discharge"


@pytest.fixture
def caller_book(tmp_path, monkeypatch):
    yield from caller_books(tmp_path, monkeypatch)


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


def result_writes(book) -> list[dict]:
    """setValues actions on the items sheet that write the done/status columns (K and L)."""
    return [a for a in actions(book, "setValues") if a["sheet_position"] == 0 and a["start_column"] == 10]


@pytest.mark.timing
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
    folder = Path.cwd() / excel.error_log_path(book).parent  # beside the workbook (the remote engine: cwd)
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


def test_after_excel_crashed_unsaved_the_journal_fills_the_sheet_without_scanning_again(
    caller_book, data_dir, simulator
):
    sim = simulator()
    data = items_payload(data_dir, sim.base_url, limit=20)
    run = excel.discharge(caller_book(data))
    assert run.wait(timeout=60)
    scans = sum(sim.stats()["scans"].values())
    # Excel crashed before the workbook was saved: the sheet is as pasted, without done or status
    reopened = caller_book(data)
    rerun = excel.discharge(reopened)
    assert rerun.wait(timeout=60)
    assert sum(sim.stats()["scans"].values()) == scans  # nothing scanned twice
    ws = replay(data, actions(reopened))[ITEMS]
    done_again = [r for r in range(4, 24) if ws.cell(r, 11).value is True]
    assert len(done_again) == scans == rerun.counts["skipped_done"]
    assert all(ws.cell(r, 12).value for r in range(4, 24))


def test_busy_excel_delays_the_writes_but_loses_none(caller_book, data_dir, simulator, monkeypatch):
    sim = simulator()
    data = items_payload(data_dir, sim.base_url, limit=30)
    book = caller_book(data)
    failures = {"left": 4}
    real_call = sheets.SheetWriter.__call__

    def busy_then_fine(self, block):
        if failures["left"]:
            failures["left"] -= 1
            raise vba_ignore() if failures["left"] % 2 else rejected()  # a cell in edit mode
        return real_call(self, block)

    monkeypatch.setattr(sheets.SheetWriter, "__call__", busy_then_fine)
    run = excel.discharge(book)
    assert run.wait(timeout=60)
    assert failures["left"] == 0
    ws = replay(data, actions(book))[ITEMS]
    assert all(ws.cell(r, 12).value for r in range(4, 34))
    assert "Discharge finished: 30 rows" in actions(book, "alert")[-1]["args"][0]


@pytest.mark.timing
def test_stop_ends_the_run_within_seconds_with_everything_written(caller_book, data_dir, simulator):
    sim = simulator(latency=(0.3, 0.8))
    data = items_payload(data_dir, sim.base_url, rate=5)
    book = caller_book(data)
    run = excel.discharge()
    assert excel.discharge() is None  # one run per workbook at a time
    assert actions(book, "alert")[-1]["args"][0].startswith("A discharge is already running in this workbook")
    assert excel.check() is None  # Check would write into the same columns
    assert actions(book, "alert")[-1]["args"][0].startswith("A discharge is already running in this workbook")
    assert excel.concurrency() is None
    assert actions(book, "alert")[-1]["args"][0].startswith("A discharge is already running in this workbook")
    harness.wait_until(lambda: len(sim.stats()["scans"]) >= 5, timeout=30, what="five scans before Stop")
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
    assert actions(book, "alert")[-1]["args"][0] == "Nothing is running in this workbook."


def test_check_marks_the_damaged_cells_without_calling_alma(caller_book, data_dir, simulator):
    sim = simulator()
    with (data_dir / "items_excel_damaged.csv").open(encoding="cp1252", newline="") as handle:
        rows = [row for row in csv.reader(handle)]
    data = payload(
        {"Items": rows, "Locations": locations_rows(data_dir), "Settings": settings_rows(sim.base_url)},
        names=SETTING_NAMES,
    )
    book = caller_book(data)
    job = excel.check()
    assert job.wait(timeout=30) and job.result is not None, actions(book, "alert")
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


def loans_payload(data_dir: Path) -> dict:
    """The loans export pasted on the active sheet, with two titles that would run as formulas."""
    data = payload_from_xlsx(data_dir / "loans_export.xlsx")
    values = data["sheets"][0]["values"]
    values[3][0] = '=HYPERLINK("http://example.org","click")'
    values[4][0] = values[3][0]  # same volume: the title shown in the report is the dangerous one
    return data


def test_concurrency_adds_formatted_sheets_and_keeps_titles_as_text(caller_book, data_dir):
    data = loans_payload(data_dir)
    book = caller_book(data)
    started = time.monotonic()
    job = excel.concurrency()
    assert time.monotonic() - started < 1.0  # the button returned; the statistics go on in the background
    assert job.wait(timeout=60), actions(book, "alert")
    stats = job.result
    assert stats is not None, actions(book, "alert")
    recorded = actions(book)
    added = [a["args"][1] for a in recorded if a["func"] == "addSheet"]
    specs = report_sheets(stats)  # the command line's layout: the same sheets, in the same order
    assert added[: len(specs)] == [spec.name for spec in specs]
    assert len(actions(book, "addTable")) == sum(1 for spec in specs if spec.table_name)
    assert {a["args"][3] for a in actions(book, "addTable")} >= {"Statistics", "BuyMoreCopies", "Problems"}
    rules = actions(book, "addConditionalFormat")
    assert {a["args"][0]["type"] for a in rules} == {"DataBar", "ColorScale", "CellValue"}
    weeks = next(spec for spec in specs if any(r.last_column for r in spec.conditional_formats))
    scale = next(r for r in weeks.conditional_formats if r.last_column)
    span = list(weeks.frame.columns).index(scale.last_column) - list(weeks.frame.columns).index(scale.column)
    weeks_rule = next(a for a in rules if a["sheet_position"] == added.index(weeks.name) + 1)
    assert weeks_rule["args"][0]["type"] == "ColorScale" and weeks_rule["column_count"] == span + 1
    chart = next(spec for spec in specs if spec.chart is not None)
    assert [a["args"][1] for a in actions(book, "setChartType")] == ["BarClustered"]
    chart_data = next(
        a
        for a in actions(book, "setValues")
        if a["sheet_position"] == added.index(chart.name) + 1
        and a["values"][0][1:] == [series.name for series in chart.chart.series]
    )
    assert len(chart_data["values"]) == 1 + min(chart.chart.rows, len(chart.frame))
    wb = replay(data, recorded)
    ws = wb["Statistics"]
    header_row = next(r for r in range(1, 10) if ws.cell(r, 1).value == "MMS Id")
    assert ws.cell(header_row + 1, 1).data_type == "s"  # ids as text
    titles = [c for c in ws["C"] if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert titles and all(c.value.startswith("'=") and c.data_type == "s" for c in titles)
    assert not [c for row in wb["Statistics"].iter_rows() for c in row if c.data_type == "f"]
    assert len(stats.volumes) == sum(1 for r in range(header_row + 1, ws.max_row + 1) if ws.cell(r, 1).value)
    alert = actions(book, "alert")[-1]["args"][0]
    assert alert.startswith("Concurrent checkouts of sheet 'Loans'")


def test_concurrency_twice_keeps_the_first_report(caller_book, data_dir):
    data = loans_payload(data_dir)
    book = caller_book(data)
    assert excel.concurrency(book).wait(timeout=60)
    book.sheets["Loans"].activate()  # the report's first sheet was active; the person clicks Loans again
    second = excel.concurrency(book)
    assert second.wait(timeout=60) and second.result is not None
    added = [a["args"][1] for a in actions(book, "addSheet")]
    assert "Statistics (2)" in added
    assert "Statistics_2" in {a["args"][3] for a in actions(book, "addTable")}


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    store = harness.MemoryKeyring()
    keyring.set_keyring(store)
    yield store
    keyring.set_keyring(previous)


def test_set_api_key_keeps_the_key_in_the_keyring_only(
    caller_book, data_dir, simulator, memory_keyring, tmp_path
):
    sim = simulator()
    data = items_payload(data_dir, sim.base_url, limit=3)
    book = caller_book(data)
    started = time.monotonic()
    job = excel.set_api_key(prompt=lambda: time.sleep(1.5) or f"  {TEST_KEY}  ")  # a person pasting
    assert time.monotonic() - started < 1.0  # the button returned; the prompt waits on its own thread
    assert job.wait(timeout=30) and job.result is True
    assert memory_keyring.store == {("alma-tools", "api-key"): TEST_KEY}
    text = actions(book, "alert")[-1]["args"][0]
    assert text == "The key is saved in the system keyring and Alma accepted it."
    assert TEST_KEY not in str(book.json())  # never in a cell, never in a message
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and TEST_KEY in p.read_text(errors="ignore")]


def test_set_api_key_reports_a_key_alma_refuses_and_a_cancelled_prompt(
    caller_book, data_dir, simulator, memory_keyring
):
    sim = simulator()
    book = caller_book(items_payload(data_dir, sim.base_url, limit=3))
    wrong = "not-the-key-0123456789"
    assert excel.set_api_key(book, prompt=lambda: wrong).wait(timeout=30)
    text = actions(book, "alert")[-1]["args"][0]
    assert text.startswith("The key is saved in the system keyring, but Alma did not accept it")
    assert wrong not in text
    job = excel.set_api_key(book, prompt=lambda: None)
    assert job.wait(timeout=30) and job.result is False
    assert actions(book, "alert")[-1]["args"][0] == "No key was entered; nothing changed."


@pytest.mark.timing
@pytest.mark.slow
def test_writes_per_thousand_rows_at_alma_pace(caller_book, data_dir, simulator):
    """The figure for the README: Excel writes per 1,000 rows at 25 calls/s with Alma's real latency."""
    items = make_items(1000, seed=7)
    sim = simulator(items=items, latency=(0.3, 0.8))
    rows = [list(items.columns), *items.to_numpy().tolist()]
    data = payload(
        {
            "Items": rows,
            "Locations": locations_rows(data_dir),
            "Settings": settings_rows(sim.base_url, rate=25),
        },
        names=SETTING_NAMES,
    )
    book = caller_book(data)
    started = time.monotonic()
    run = excel.discharge()
    assert run.wait(timeout=180)
    elapsed = time.monotonic() - started
    result = [a for a in actions(book, "setValues") if a["sheet_position"] == 0 and a["start_row"] > 0]
    covered = sorted({a["start_row"] + i for a in result for i in range(a["row_count"])})
    assert covered == list(range(1, 1001))  # every row's done/status was written
    assert len(result) <= elapsed / 0.75 + 3  # at most one result write per flush interval
    print(
        f"\n1,000 rows in {elapsed:.0f} s: {len(result)} done/status writes, {run.writes} Excel writes "
        f"in all (with {len(run.needs_person)} highlighted rows and 2 headers)"
    )


def test_an_unexpected_failure_is_one_line_with_the_details_in_a_log(
    caller_book, data_dir, monkeypatch, tmp_path
):
    book = caller_book(items_payload(data_dir, "http://127.0.0.1:9", limit=3))

    def broken(*args, **kwargs):
        raise RuntimeError(f"plan exploded\nsecond line with {TEST_KEY}")

    monkeypatch.setattr(excel.inputs, "find_table", broken)  # a bug, not a user mistake
    job = excel.check()
    assert job.wait(timeout=30) and isinstance(job.error, RuntimeError)
    text = actions(book, "alert")[-1]["args"][0]
    log = excel.error_log_path(book)  # in the run folder beside the workbook (remote engine: the cwd)
    where = log.relative_to(tmp_path) if log.is_absolute() else log
    log = tmp_path / where
    assert text == f"Alma Tools hit an unexpected problem: plan exploded. Details are in {where}"
    details = log.read_text(encoding="utf-8")
    assert "Traceback" in details and "RuntimeError: plan exploded" in details
    assert TEST_KEY not in details  # the key the process knows is redacted from the log


def test_set_api_key_when_alma_cannot_be_reached(caller_book, data_dir, memory_keyring, free_port):
    book = caller_book(items_payload(data_dir, f"http://127.0.0.1:{free_port}", limit=3))
    job = excel.set_api_key(book, prompt=lambda: TEST_KEY)
    assert job.wait(timeout=30) and job.result is True
    text = actions(book, "alert")[-1]["args"][0]
    assert text.startswith("The key is saved in the system keyring, but it could not be checked with Alma")
    assert memory_keyring.store[("alma-tools", "api-key")] == TEST_KEY


def test_concurrency_counts_copies_from_an_items_sheet(caller_book, data_dir):
    data = loans_payload(data_dir)
    loans = data["sheets"][0]["values"]
    header = loans[2]
    mms, call, barcode = (header.index(c) for c in ("MMS Id", "Permanent Call Number", "Barcode"))
    copies = {(row[mms], row[call], row[barcode]) for row in loans[3:] if row[barcode]}
    volume = (loans[3][mms], loans[3][call])
    never_lent = (*volume, "NEVERLENT0001")
    items = [["MMS Id", "Permanent Call Number", "Barcode"], *sorted(copies), list(never_lent)]
    data["sheets"].append(sheet_payload("Items", items))
    book = caller_book(data)
    job = excel.concurrency(book)
    assert job.wait(timeout=60), actions(book, "alert")
    stats = job.result
    row = stats.volumes[
        (stats.volumes["MMS Id"] == volume[0]) & (stats.volumes["Permanent Call Number"] == volume[1])
    ]
    lent = len({c for c in copies if c[:2] == volume})
    assert int(row["Copies"].iloc[0]) == lent + 1
    assert "Items export: sheet 'Items'" in str(replay(data, actions(book))["Buy more copies"]["A2"].value)
