"""Fetch from Analytics in Excel: the Items (or Loans) sheet filled straight from Alma, in the background.

The button reads the report's path from the Settings sheet (``ItemsReportPath`` or ``LoansReportPath``),
fetches the report with the command line's fetch (:func:`~alma_tools.alma.analytics.fetch_rows`: the same
pacing, pages and messages) on the job's thread, with the rows so far in the status bar, and writes it into
the sheet: a note row naming the path and the time it was fetched, the header, then the rows, every cell a
text cell (its number format is Text before the values arrive, so Excel never turns an id into a number).
The usual buttons then work on that sheet (the note row is above the header, where title rows may be).

The sheet is the user's: it is filled only while it is empty (the hint a new workbook has in A1 aside); when
it holds anything else, the report goes to a new sheet named after it and the time, and nothing is
overwritten.
"""

from __future__ import annotations

from typing import Any

from alma_tools import sheets
from alma_tools.alma.analytics import Progress, ReportRows, check_path, fetch_rows
from alma_tools.cells import safe_text
from alma_tools.errors import InputError
from alma_tools.excel import desktop
from alma_tools.excel.background import Job, make_client, start_job
from alma_tools.excel.logsheet import append_log
from alma_tools.excel.messages import reported
from alma_tools.excel.settings import Settings, read_report_path, read_settings

#: what the button fills: sheet name and the Settings name holding the report's path
TARGETS = {"items": ("Items", "ItemsReportPath"), "loans": ("Loans", "LoansReportPath")}
NOTE_PREFIX = "Fetched from Analytics:"
#: rows per write into the sheet: a few large writes, with messages pumped between them
ROWS_PER_WRITE = 2000


class Stopped(InputError):
    """Stop was pressed while the report was being fetched: nothing was written."""


class FetchJob(Job):
    """One fetch on the job's thread: the pages from Alma, then the sheet written in a few blocks."""

    label = "A fetch from Analytics"

    def __init__(self, book: Any, kind: str, path: str, settings: Settings) -> None:
        super().__init__(book)
        self.kind = kind
        self.path = path
        self.settings = settings
        self.report: ReportRows | None = None
        self.sheet_name: str | None = None

    def run(self, book: Any) -> ReportRows:
        with make_client(self.settings, lambda _answer: None) as client:
            report = fetch_rows(client, self.path, on_progress=lambda step: self._progress(book, step))
        self.report = report
        self.progress(book, f"Alma Tools: writing {len(report.rows):,} rows into the sheet…", now=True)
        sheet = target_sheet(book, TARGETS[self.kind][0], report)
        write_report(sheet, report)
        sheet.activate()
        self.sheet_name = sheet.name
        lines = [report.summary(), f"It is on sheet '{sheet.name}'; the usual buttons work on it."]
        append_log(book, lines)
        sheets.set_status_bar(book.app, False)
        self.tell(book, "\n".join(lines))
        return report

    def _progress(self, book: Any, progress: Progress) -> None:
        if self.stopping:
            raise Stopped(f"Stopped: the report {self.path} was not written into the workbook")
        desktop.pump_messages()
        self.progress(book, f"Alma Tools: {progress}", now="still running" in progress.message)


def _is_free(sheet: Any) -> bool:
    """True when the sheet holds nothing, or only one cell in A1 (a new workbook's paste hint)."""
    rows = sheets.sheet_rows(sheet)
    filled = [(r, c) for r, row in enumerate(rows) for c, value in enumerate(row) if value not in (None, "")]
    return not filled or filled == [(0, 0)]


def target_sheet(book: Any, name: str, report: ReportRows) -> Any:
    """The sheet to fill: ``name`` when it is free (made when missing), else a new sheet beside it."""
    names = {sheet.name.casefold(): sheet for sheet in book.sheets}
    existing = names.get(name.casefold())
    if existing is not None and _is_free(existing):
        return existing
    base = f"{name} {report.fetched_at:%Y-%m-%d %H%M}"[:31]
    new_name, copy = base, 2
    while new_name.casefold() in names:
        new_name, copy = f"{base[:27]} ({copy})", copy + 1
    return book.sheets.add(new_name, after=existing if existing is not None else book.sheets[-1])


def note_line(report: ReportRows) -> str:
    return (
        f"{NOTE_PREFIX} {report.path}, fetched {report.fetched_at:%Y-%m-%d %H:%M} ({len(report.rows):,} rows)"
    )


def write_report(sheet: Any, report: ReportRows) -> None:
    """Note row, header, rows; every cell a text cell, formula-like text kept as text."""
    width = max(len(report.headings), 1)
    last = 2 + len(report.rows)
    sheet.range((2, 1), (max(last, 2), width)).number_format = "@"
    sheet.range((1, 1)).value = [[safe_text(note_line(report))]]
    sheet.range((2, 1)).value = [[safe_text(heading) for heading in report.headings]]
    for start in range(0, len(report.rows), ROWS_PER_WRITE):
        block = report.rows[start : start + ROWS_PER_WRITE]
        sheet.range((3 + start, 1)).value = [
            [safe_text(value) if value != "" else None for value in row] for row in block
        ]
        desktop.pump_messages()


def _start(book: Any, kind: str) -> Job:
    sheet_name, setting = TARGETS[kind]
    path = read_report_path(book, setting)
    if not path:
        raise InputError(
            f"Settings › {setting} is empty: put the Analytics path of the report there (in Analytics: the "
            "report's More › Properties, e.g. /shared/My University/Reports/Items to discharge), then press "
            "Fetch from Analytics again"
        )
    try:
        check_path(path)
    except InputError as error:
        raise InputError(f"Settings › {setting}: {error}") from None
    job = FetchJob(book, kind, path, read_settings(book))
    return start_job(book, job, f"Alma Tools: asking Analytics for the {sheet_name.lower()}…")


@reported
def fetch_items(book: Any = None) -> Job:
    """Fill the Items sheet from the Analytics report at Settings › ItemsReportPath, in the background."""
    return _start(book, "items")


@reported
def fetch_loans(book: Any = None) -> Job:
    """Fill the Loans sheet from the Analytics report at Settings › LoansReportPath, in the background."""
    return _start(book, "loans")
