"""Concurrent checkouts in Excel and Settings › AsOf: the end of the period, and a warning when it is empty.

Loans without a return count as out until the as-of. Left empty, AsOf means now, so a June export read in
December added five months to every loan still out while looking right. Driven through xlwings' remote
engine (``xw.Book(json=...)``), like ``test_excel_macros.py``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from alma_tools import excel
from alma_tools.excel.logsheet import LOG_SHEET
from test_concurrency_loans import HEADER, MMS, OTHER
from xl_payload import actions, caller_books, payload, replay

#: one volume with three copies and another with a loan never returned; the latest date 2025-09-04 08:00
STALE_LOANS = [
    ["Three", MMS, "QA1 .B1", "0031111", "09/01/2025", "08:00:00", "09/03/2025", "08:00:00"],
    ["Three", MMS, "QA1 .B1", "0031112", "09/02/2025", "08:00:00", "09/04/2025", "08:00:00"],
    ["Three", MMS, "QA1 .B1", "0031113", "09/02/2025", "20:00:00", "09/02/2025", "22:00:00"],
    ["One", OTHER, "QA2 .C1", "0041111", "09/01/2025", "08:00:00", "", ""],
]
#: the warning with the fix in Excel's words (the command line's says --as-of instead)
EXCEL_WARNING = (
    "1 loan without a return counts as out until now (",
    "), but the latest loan or return in the export is 2025-09-04 08:00: if the export was made then, type "
    "2025-09-04 08:00 (or the date the export was made) in Settings › AsOf and press Concurrent checkouts "
    "again.",
)


@pytest.fixture
def caller_book(tmp_path, monkeypatch):
    yield from caller_books(tmp_path, monkeypatch)


def loans_book(loans: list[list[str]], as_of: object = None, *, named: bool = True) -> dict:
    """The loans on the active Loans sheet, and a Settings sheet whose AsOf cell holds ``as_of``."""
    settings = [["Setting", "Value"], ["Statistics as of (optional)", as_of]]
    names = {"AsOf": ("Settings", "B2")} if named else {}
    return payload({"Loans": [HEADER, *loans], "Settings": settings}, active="Loans", names=names)


def run_concurrency(book) -> tuple[object, str]:
    job = excel.concurrency(book)
    assert job is not None, actions(book, "alert")
    assert job.wait(timeout=60) and job.result is not None, actions(book, "alert")
    return job.result, actions(book, "alert")[-1]["args"][0]


@pytest.mark.parametrize("named", [True, False], ids=["AsOf empty", "no AsOf in an older workbook"])
def test_an_old_export_with_asof_empty_warns_in_the_message_the_log_and_the_report(caller_book, named):
    data = loans_book(STALE_LOANS, named=named)
    book = caller_book(data)
    before = dt.datetime.now().replace(microsecond=0)
    stats, message = run_concurrency(book)
    assert before <= stats.as_of <= dt.datetime.now()  # now: nothing told otherwise
    assert EXCEL_WARNING[0] in message and EXCEL_WARNING[1] in message
    assert "--as-of" not in message  # the command line's fix is no use in Excel
    wb = replay(data, actions(book))
    logged = [str(row[1]) for row in wb[LOG_SHEET].iter_rows(values_only=True) if row[1]]
    assert any(EXCEL_WARNING[0] in line and EXCEL_WARNING[1] in line for line in logged)
    titles = [str(cell.value) for cell in wb["Statistics"]["A"][:6] if cell.value]
    assert any(EXCEL_WARNING[1] in title for title in titles)  # the report itself says it, as the CLI's


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (dt.datetime(2025, 9, 30, 23, 59), dt.datetime(2025, 9, 30, 23, 59)),  # a date cell
        ("2025-09-30 23:59", dt.datetime(2025, 9, 30, 23, 59)),  # text Excel did not take for a date
        (45930.5, dt.datetime(2025, 9, 30, 12)),  # a date cell without a date format: its serial
    ],
    ids=["date", "text", "serial"],
)
def test_asof_set_is_the_as_of_used_and_nothing_warns(caller_book, cell, expected):
    book = caller_book(loans_book(STALE_LOANS, cell))
    stats, message = run_concurrency(book)
    assert stats.as_of == expected
    assert message.startswith(f"Concurrent checkouts of sheet 'Loans' as of {expected:%Y-%m-%d %H:%M}: ")
    assert "counts as out until now" not in message and "Settings › AsOf" not in message
    volume = stats.volumes.set_index("MMS Id").loc[OTHER]
    assert volume["Open Loans"] == 1 and pd.isna(volume["Last Return"])  # still out, up to AsOf only
    assert not any("until now" in note for note in stats.notes)


def test_a_cell_that_is_not_a_date_is_refused_naming_settings_asof(caller_book):
    book = caller_book(loans_book(STALE_LOANS, "next week"))
    assert excel.concurrency(book) is None  # refused at the button: nothing read, nothing added
    message = actions(book, "alert")[-1]["args"][0]
    assert message.startswith("Settings › AsOf is 'next week': type the end of the period as a date")
    assert "leave it empty to count up to now" in message
    assert not actions(book, "addSheet")


def test_a_recent_export_with_asof_empty_does_not_warn(caller_book):
    """An export made today: now is the right as-of, and a warning would teach people to ignore it."""
    day = dt.date.today() - dt.timedelta(days=2)
    stamp = f"{day:%m/%d/%Y}"
    loans = [
        ["Three", MMS, "QA1 .B1", "0031111", stamp, "08:00:00", stamp, "10:00:00"],
        ["One", OTHER, "QA2 .C1", "0041111", stamp, "09:00:00", "", ""],
    ]
    stats, message = run_concurrency(caller_book(loans_book(loans)))
    assert int(stats.volumes["Open Loans"].sum()) == 1
    assert "counts as out until now" not in message and "Settings › AsOf" not in message


def test_the_as_of_given_to_the_macro_wins_over_the_setting(caller_book):
    book = caller_book(loans_book(STALE_LOANS, dt.datetime(2025, 9, 30)))
    job = excel.concurrency(book, as_of=dt.datetime(2025, 9, 10))
    assert job is not None and job.wait(timeout=60) and job.result is not None, actions(book, "alert")
    assert job.result.as_of == dt.datetime(2025, 9, 10)


def test_an_asof_before_every_loan_is_refused_in_excels_words(caller_book):
    """A report of 0 volumes reads as a finding: refused as the command line refuses it, in Excel's words."""
    book = caller_book(loans_book(STALE_LOANS, dt.datetime(2025, 8, 1)))
    job = excel.concurrency(book)
    assert job is not None and job.wait(timeout=60) and job.result is None
    message = actions(book, "alert")[-1]["args"][0]
    assert "starts after the as-of moment 2025-08-01 00:00 (the first on 2025-09-01 08:00)" in message
    assert "type a later date in Settings › AsOf (blank: now)." in message and "--as-of" not in message
    assert not actions(book, "addSheet")
