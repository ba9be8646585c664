"""The ribbon's background jobs: rows that moved, hidden rows, a workbook out of reach, buttons that return.

Driven through xlwings' remote engine against the simulator, like ``test_excel_macros.py``.
"""

from __future__ import annotations

import time

import pytest

import harness
from alma_tools import excel, sheets
from alma_tools.excel import background, crossstop, desktop
from alma_tools.excel.inputs import read_discharge_input
from test_excel_macros import ITEMS, items_payload
from xl_payload import actions, caller_books, replay


@pytest.fixture
def caller_book(tmp_path, monkeypatch):
    yield from caller_books(tmp_path, monkeypatch)


def test_a_sorted_sheet_stops_the_writes_and_says_so(caller_book, data_dir, simulator):
    sim = simulator(latency=(0.05, 0.1))
    data = items_payload(data_dir, sim.base_url, rate=10, limit=40)
    book = caller_book(data)
    read = read_discharge_input(book)
    # the person sorted the sheet after Discharge read it: rows 10 and 11 swapped their items
    expected = dict(read.guard.expected)
    expected[10], expected[11] = expected[11], expected[10]
    read.guard = sheets.RowGuard(read.guard.column, expected)
    run = background.DischargeRun(book, read, interval=0.2)
    run.start()
    assert run.wait(timeout=60)
    assert run.sheet_changed and "sorted or edited" in run.sheet_changed
    text = actions(book, "alert")[-1]["args"][0]
    assert "The sheet was sorted or edited during the run" in text and "press Discharge again" in text
    ws = replay(data, actions(book))[ITEMS]
    assert all(ws.cell(r, 12).value is None for r in range(10, 12))  # nothing landed on the moved rows
    assert run.counts["stopped"] > 0  # the run stopped sending once it knew
    assert sum(sim.stats()["scans"].values()) < 40


def test_rows_hidden_in_the_sheet_are_left_alone(caller_book, data_dir, simulator, monkeypatch):
    sim = simulator()
    data = items_payload(data_dir, sim.base_url, limit=10)
    book = caller_book(data)
    monkeypatch.setattr(desktop, "hidden_rows", lambda sheet, last: frozenset({5, 6}))  # a filter in Excel
    run = excel.discharge(book)
    assert run is not None, actions(book, "alert")
    assert run.wait(timeout=60)
    ws = replay(data, actions(book))[ITEMS]
    assert ws.cell(5, 12).value is None and ws.cell(6, 12).value is None  # untouched, not sent
    assert all(ws.cell(r, 12).value for r in (4, 7, 8, 9, 10, 11, 12, 13))
    assert run.counts["hidden"] == 2
    assert len(sim.stats()["scans"]) <= 8


def test_check_leaves_hidden_rows_as_they_are(caller_book, data_dir, simulator, monkeypatch):
    sim = simulator()
    data = items_payload(data_dir, sim.base_url, limit=10)
    book = caller_book(data)
    monkeypatch.setattr(desktop, "hidden_rows", lambda sheet, last: frozenset({5, 6}))
    job = excel.check(book)
    assert job.wait(timeout=30) and job.result is not None, actions(book, "alert")
    # hidden rows keep what they hold (a block may pass over them, rewriting their own values)
    ws = replay(data, actions(book))[ITEMS]
    assert [ws.cell(r, 12).value for r in (5, 6)] == [None, None]
    cleared = [a for a in actions(book, "setRangeColor") if a["sheet_position"] == 0]
    cleared_rows = {a["start_row"] + 1 + i for a in cleared for i in range(a["row_count"])}
    assert not {5, 6} & cleared_rows and {4, 7} <= cleared_rows  # their marks are not cleared either
    assert sim.stats()["requests"] == 0


def test_each_button_returns_within_a_second(caller_book, data_dir, simulator):
    sim = simulator(latency=(0.2, 0.4))
    book = caller_book(items_payload(data_dir, sim.base_url, rate=5, limit=30))
    for macro in (excel.check, excel.discharge):
        started = time.monotonic()
        job = macro(book)
        assert job is not None, actions(book, "alert")
        assert time.monotonic() - started < 1.0, macro.__name__
        if macro is excel.discharge:
            harness.wait_until(lambda: sim.stats()["scans"], timeout=30, what="a first scan")
            assert excel.stop(book) is job  # Stop reaches the job that runs in this workbook
        assert job.wait(timeout=60)
    assert actions(book, "alert")[-1]["args"][0].startswith("Discharge stopped")


def test_a_workbook_out_of_reach_is_logged_and_the_job_ends(caller_book, data_dir, tmp_path):
    book = caller_book(items_payload(data_dir, "http://127.0.0.1:9", limit=3))

    def closed() -> None:
        raise OSError("The object invoked has disconnected from its clients.")

    job = background.Job(book, lambda job, b: None)
    job._open = closed  # the workbook was closed before the thread reached it
    job.start()
    assert job.wait(timeout=10) and isinstance(job.error, OSError)
    log = tmp_path / background.run_folder_for(book.fullname) / background.ERROR_LOG
    assert "disconnected from its clients" in log.read_text(encoding="utf-8")
    assert background.running_in(book) is None  # the registry is free for the next button


def test_date_order_setting_reaches_the_loans_reader(caller_book, data_dir):
    from test_excel_macros import loans_payload
    from xl_payload import defined_names, sheet_payload

    data = loans_payload(data_dir)
    data["sheets"].append(sheet_payload("Settings", [["Setting", "Value"], ["DateOrder", "dym"]]))
    data["names"] = defined_names([s["name"] for s in data["sheets"]], {"DateOrder": ("Settings", "B2")})
    book = caller_book(data)
    job = excel.concurrency(book)
    assert job.wait(timeout=60) and job.result is None
    text = actions(book, "alert")[-1]["args"][0]
    assert text.startswith("Settings › DateOrder is 'dym': choose auto, mdy, dmy, ymd")


def test_stop_reaches_a_run_in_another_python_after_save_as(caller_book, data_dir, simulator):
    """Save As mid-run: the next button starts a second Python (xlwings keys its server on the workbook's
    name), whose Stop finds no job of its own; the run it announces itself with is asked to stop."""
    sim = simulator(latency=(0.3, 0.8))
    data = items_payload(data_dir, sim.base_url, rate=5)
    book = caller_book(data)
    run = excel.discharge(book)

    def under_way() -> bool:
        return bool(sim.stats()["scans"]) and any(crossstop.announce_dir().glob("*.json"))

    harness.wait_until(under_way, timeout=30, what="the run announced and scanning")
    renamed = dict(data, book={**data["book"], "name": "items (saved as).xlsx"})
    other = caller_book(renamed)  # the same workbook under its new name, as the second Python sees it
    assert background.running_in(other) is None
    assert excel.stop(other) is None
    text = actions(other, "alert")[-1]["args"][0]
    assert text.startswith(f"A discharge of {book.name} runs in another Python process")
    stopped_at = time.monotonic()
    assert run.wait(timeout=20) and run.stopping
    assert time.monotonic() - stopped_at < 10
    # the remote engine records a message in the active book, which is now the renamed one
    summaries = [a["args"][0] for b in (book, other) for a in actions(b, "alert")]
    assert any(text.startswith("Discharge stopped") for text in summaries)
    assert excel.stop(other) is None  # nothing is left to stop anywhere
    assert actions(other, "alert")[-1]["args"][0] == "Nothing is running in this workbook."


def test_a_workbook_closed_mid_run_ends_the_job_and_logs_it(caller_book, data_dir, tmp_path, monkeypatch):
    from alma_tools.excel import messages

    book = caller_book(items_payload(data_dir, "http://127.0.0.1:9", limit=3))

    def gone(book, text):
        raise OSError("The object invoked has disconnected from its clients.")

    monkeypatch.setattr(messages, "alert", gone)  # every message box now meets a closed workbook
    job = background.Job(book, lambda job, b: (_ for _ in ()).throw(RuntimeError("a bug mid-run")))
    job.start()
    assert job.wait(timeout=10) and isinstance(job.error, RuntimeError)
    log = (tmp_path / background.run_folder_for(book.fullname) / background.ERROR_LOG).read_text("utf-8")
    assert "a bug mid-run" in log and "disconnected from its clients" in log  # both failures are kept
    assert background.running_in(book) is None
