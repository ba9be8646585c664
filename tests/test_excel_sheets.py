"""alma_tools.sheets: reading a sheet, batched and retried writes, progress text (remote engine, no Excel)."""

from __future__ import annotations

import copy
import datetime as dt
import threading

import numpy as np
import pandas as pd
import pytest
import xlwings as xw

from alma_tools import sheets
from xl_com import com_error, excel_refused, rejected, vba_ignore
from xl_payload import actions, fill_of, payload, replay


@pytest.fixture
def book():
    opened = []

    def make(data):
        b = xw.Book(json=copy.deepcopy(data))  # the engine edits its payload; tests replay onto the original
        opened.append(b)
        return b

    yield make
    for b in opened:
        b.close()


def test_busy_errors_are_recognised_in_pywin32s_shapes():
    assert sheets.is_busy_error(rejected())  # RPC_E_CALL_REJECTED as the hresult
    assert sheets.is_busy_error(vba_ignore())  # DISP_E_EXCEPTION with VBA_E_IGNORE as excepinfo's scode
    assert not sheets.is_busy_error(excel_refused())  # DISP_E_EXCEPTION with Excel's own reason: not "busy"
    assert not sheets.is_busy_error(com_error(-2147352567, "Exception occurred.", None, None))
    assert not sheets.is_busy_error(ValueError("x"))


def test_sheet_rows_start_at_a1_so_rows_match_the_sheet(book):
    b = book(
        payload({"Items": [[None, None], ["Report", None], [None, None], ["Barcode", "Title"], ["1", "x"]]})
    )
    rows = sheets.sheet_rows(b.sheets["Items"])
    assert rows[3] == ["Barcode", "Title"]
    assert rows[4] == ["1", "x"]
    assert len(rows) == 5


def test_result_columns_reuse_existing_and_append_missing():
    rows = [["Report"], [], ["Barcode", "Title", "Status", None]]
    cols = sheets.result_columns(rows, 3)
    assert (cols.done, cols.status) == (4, 3)
    assert cols.new == ((4, "done"),)
    fresh = sheets.result_columns([["Barcode", "Title"]], 1)
    assert (fresh.done, fresh.status, fresh.new) == (3, 4, ((3, "done"), (4, "status")))


def test_result_columns_go_right_of_a_note_in_a_column_with_no_header():
    rows = [["Barcode", "Title", None, None], ["1", "x", None, "ask Ann"], ["2", "y", None, None]]
    cols = sheets.result_columns(rows, 1)
    assert (cols.done, cols.status, cols.new) == (5, 6, ((5, "done"), (6, "status")))
    rerun = sheets.result_columns([[" DONE ", "Barcode", "status\u200b"], [True, "1", "Discharged"]], 1)
    assert (rerun.done, rerun.status, rerun.new) == (1, 3, ())


def test_progress_text_has_counts_rate_and_time_left():
    assert (
        sheets.progress_text(1240, 5000, 21.0)
        == "Alma Tools: 1,240 of 5,000 scanned in · 21/s · about 3 min left"
    )
    assert sheets.progress_text(0, 10, None) == "Alma Tools: 0 of 10 scanned in"
    assert sheets.progress_text(10, 10, 5.0) == "Alma Tools: 10 of 10 scanned in · 5/s"


def test_plan_blocks_bridges_small_gaps_and_splits_far_rows():
    values = {5: [True, "a"], 6: [True, "b"], 9: [None, "c"], 200: [True, "d"]}
    known = {7: [True, "old"], 8: [None, None]}
    blocks = sheets.plan_blocks(values, {6, 9, 200}, known)
    assert [(b.first_row, b.last_row) for b in blocks] == [(5, 9), (200, 200)]
    assert blocks[0].values[2] == [True, "old"]  # the gap keeps what the sheet already shows
    assert blocks[0].highlight == ((6, 6), (9, 9))


def test_batch_writer_writes_blocks_into_the_sheet(book):
    rows = [["Barcode", "Title"]] + [[str(i), f"t{i}"] for i in range(1, 11)]
    data = payload({"Items": rows})
    b = book(data)
    cols = sheets.result_columns(rows, 1)
    target = sheets.SheetWriter(b.sheets["Items"], cols)
    target.write_headers()
    writer = sheets.BatchWriter(target, sheets.known_results(rows, cols))
    for row in (2, 4, 3, 11):
        writer.add(row, row != 4, f"=row {row}", highlight=row == 3)
    assert writer.flush()
    wb = replay(data, actions(b))
    ws = wb["Items"]
    assert [ws.cell(1, c).value for c in (3, 4)] == ["done", "status"]
    assert ws.cell(2, 3).value is True and ws.cell(4, 3).value is None
    assert ws.cell(3, 4).value == "'=row 3"  # formula-like text is written as text
    assert ws.cell(3, 4).data_type == "s"
    assert fill_of(ws.cell(3, 1)) == sheets.NEEDS_PERSON_FILL and fill_of(ws.cell(2, 1)) is None
    assert len(actions(b, "setValues")) == 2 + 1  # two headers, then one block for rows 2-11


def test_busy_excel_delays_writes_without_losing_any():
    written: list[sheets.Block] = []
    failures = {"left": 3}

    def flaky(block):
        if failures["left"]:
            failures["left"] -= 1
            raise vba_ignore()
        written.append(block)

    writer = sheets.BatchWriter(flaky, busy_patience=0.0, sleep=lambda s: None)
    writer.add(2, True, "Returned")
    assert not writer.flush()  # busy, no patience: stays queued
    writer.add(3, True, "Returned")
    assert not writer.flush()
    assert writer.pending == 2
    assert writer.close(patience=5.0)
    assert writer.pending == 0
    assert writer.busy_retries == 3
    assert [(b.first_row, b.values) for b in written] == [(2, [[True, "Returned"], [True, "Returned"]])]


def test_other_errors_are_not_swallowed():
    def broken(block):
        raise excel_refused()

    writer = sheets.BatchWriter(broken)
    writer.add(2, True, "x")
    with pytest.raises(com_error):
        writer.flush()
    assert writer.pending == 1


def test_flush_due_respects_the_interval():
    now = {"t": 100.0}
    calls = []
    writer = sheets.BatchWriter(calls.append, interval=1.0, clock=lambda: now["t"])
    writer.add(2, True, "a")
    writer.flush_due()
    writer.add(3, True, "b")
    now["t"] += 0.5
    writer.flush_due()
    assert len(calls) == 1
    now["t"] += 0.6
    writer.flush_due()
    assert len(calls) == 2


def test_results_added_from_other_threads_all_arrive():
    written: dict[int, list] = {}

    def record(block):
        for i, v in enumerate(block.values):
            written[block.first_row + i] = v

    writer = sheets.BatchWriter(record, interval=0.0)

    def worker(start):
        for row in range(start, start + 250):
            writer.add(row, True, f"r{row}")

    threads = [threading.Thread(target=worker, args=(2 + 250 * k,)) for k in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        writer.flush_due()
    assert writer.close()
    assert all(written[row] == [True, f"r{row}"] for row in range(2, 1002))


def test_status_bar_is_skipped_where_the_engine_has_none(book):
    b = book(payload({"Items": [["x"]]}))
    sheets.set_status_bar(
        b.app, "Alma Tools: 1 of 2 scanned in"
    )  # remote engine: NotImplementedError, ignored


def test_frame_values_keep_types_and_text_out_of_formulas():
    frame = pd.DataFrame(
        {
            "n": [1.5, np.nan, 3.0],
            "t": pd.to_datetime(["2024-01-01", None, "2024-02-01"]),
            "s": pd.array(["=x", None, "+1"], dtype="string"),
            "mixed": pd.Series([np.int64(5), "@y", pd.Timestamp("2024-01-02")], dtype=object),
        }
    )
    rows = sheets.frame_values(frame, blank="")
    assert rows[0] == ["n", "t", "s", "mixed"]
    assert rows[1] == [1.5, dt.datetime(2024, 1, 1), "'=x", 5]
    assert rows[2] == ["", "", "", "'@y"]
    assert rows[3] == [3.0, dt.datetime(2024, 2, 1), "'+1", dt.datetime(2024, 1, 2)]
    assert type(rows[3][3]) is dt.datetime and type(rows[1][3]) is int
