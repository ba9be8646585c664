"""The ribbon's macros: Check sheet, Discharge, Stop, Concurrent checkouts, Set API key.

Each ribbon button is a VBA ``Sub OnX(control As IRibbonControl)`` that calls
``RunPython "import alma_tools.excel; alma_tools.excel.x()"``. Every macro takes an optional ``book``
(``book or xw.Book.caller()``) so that tests and scripts can hand one in. The macros are thin: they read
the sheet into plain rows, call the same cores as the command line (:mod:`alma_tools.tables`,
:mod:`alma_tools.discharge`, :mod:`alma_tools.concurrency`) and write the results back through
:mod:`alma_tools.sheets`. A mistake a person can fix is shown as a message in plain words; anything else as
"Alma Tools hit an unexpected problem", with the details in a log file, never a traceback in a dialog.

How a long discharge keeps Excel usable, and how Stop works
-----------------------------------------------------------

A discharge of 5,000 items takes about four minutes at Alma's pace (20-25 calls a second), and Excel must
stay usable for all of it. This is how:

1. **One Python process for every button.** The workbook's ``xlwings.conf`` sets ``Use UDF Server = True``,
   so every ``RunPython`` call goes to the same long-lived Python process (xlwings' COM server) instead of
   starting a new one. The Discharge button can therefore leave a run going in that process, and the Stop
   button, pressed later, reaches it.
2. **The macro returns at once.** ``discharge()`` reads the sheet, checks everything it can (columns, ids,
   desks, settings, that an API key is set) and reports those problems straight away. Then it starts a
   background thread and returns; Excel is free again within a second, and staff keep working, in this
   workbook or another one.
3. **xlwings' threading rules.** An xlwings object belongs to the thread that created it, and COM must be
   initialised in every thread that uses it. So the background thread is given plain data (the rows, the
   plan, the workbook's full name), never an xlwings object; it calls ``pythoncom.CoInitialize()`` and opens
   its own ``xw.Book(fullname)``. Only that thread writes to the sheet.
4. **Few writes, retried when Excel is busy.** Results arrive from Alma a few dozen per second; the writer
   collects them and writes ``done`` and ``status`` as contiguous blocks at most about once a second
   (measured: about 65 writes for 1,000 rows, plus one fill per run of highlighted rows; never a write per
   cell). When Excel is busy (someone is typing in a cell, a dialog is open) it refuses the write; the
   writer waits a little and tries again, and keeps the rows queued until Excel accepts them, so nothing
   is lost and Excel is never blocked by Python.
5. **Stop.** The Stop button sets a flag that the run checks before each item. Requests already on their way
   finish and are written; every other row gets "Stopped before this row". The run ends within a few
   seconds with everything so far in the sheet, and shows its summary.
6. **Nothing is lost, even if Excel crashes.** Every scan is written to a journal in a run folder beside the
   workbook (``<workbook name>.alma-run``) before it is sent and after Alma answers. Pressing Discharge
   again skips the rows already done and never scans an item twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import xlwings as xw

from alma_tools import sheets
from alma_tools.alma import AlmaClient, AuthError, describe_key_source, redact, store_api_key
from alma_tools.cells import safe_text
from alma_tools.discharge import DischargeOptions, Journal, Outcome, Plan, make_plan, run_plan
from alma_tools.discharge.journal import run_folder_for
from alma_tools.errors import AlmaToolsError, InputError
from alma_tools.tables import ITEM_COLUMNS, LOCATION_COLUMNS, Table, find_table, read_grid

log = logging.getLogger("alma_tools.excel")

TITLE = "Alma Tools"
LOCATIONS_SHEET = "Locations"
LOG_SHEET = "Alma Tools log"
ERROR_LOG = "errors.log"

#: the Settings sheet's workbook names and their defaults (used when a name is missing or its cell empty)
SETTING_DEFAULTS: dict[str, Any] = {
    "AlmaRegion": "na",
    "AlmaBaseUrl": "",
    "AlmaRate": 20.0,
    "InHouseUse": False,
    "LocationType": "auto",
}

#: how each outcome kind is named in the summary
KIND_WORDS = {
    "returned": "returned (reshelve)",
    "transit": "returned, in transit (set aside)",
    "hold_shelf": "returned, for the hold shelf (set aside)",
    "not_on_loan": "were not on loan",
    "alma_error": "Alma refused",
    "refused": "not sent: fix the cells",
    "duplicate": "same item as another row",
    "no_desk": "not sent: no desk for the location",
    "skipped_done": "done in an earlier run",
    "stopped": "stopped before scanning",
    "unknown": "no answer from Alma (checked on the next run)",
}

_RUNS: dict[str, DischargeRun] = {}
_RUNS_LOCK = threading.Lock()

_F = TypeVar("_F", bound=Callable[..., Any])


# --------------------------------------------------------------------------------------------- messages
def alert(book: Any, text: str) -> None:
    """Show ``text`` to the person at Excel (a message box; a recorded action in the remote engine)."""
    book.app.alert(safe_text(text), TITLE)


def error_log_path(book: Any) -> Path:
    """Where tracebacks go: the run folder beside the workbook (the current folder for an unsaved book)."""
    return run_folder_for(book.fullname) / ERROR_LOG


def report_unexpected(book: Any, error: BaseException) -> Path:
    """Write the traceback (key-free) to the error log and tell the person where it is, in one line."""
    path = error_log_path(book)
    _log_error(path, error)
    first_line = redact(str(error)).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    alert(book, f"Alma Tools hit an unexpected problem: {first_line}. Details are in {path}")
    return path


def _log_error(path: Path, error: BaseException) -> None:
    """Append the traceback of ``error`` to ``path``, with the API key removed.

    Looking the key up first registers it with :func:`redact`, so it is removed even when the failure came
    before any Alma client was made (a key pasted into a cell by mistake could otherwise reach the log).
    """
    describe_key_source()
    details = redact("".join(traceback.format_exception(error)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {dt.datetime.now():%Y-%m-%d %H:%M:%S}\n{details}\n")
    except OSError:
        log.exception("could not write the error log %s", path)


def _reported(macro: _F) -> _F:
    """Run a macro and turn every failure into a message box: plain words, never a traceback."""

    @functools.wraps(macro)
    def wrapper(book: Any = None, *args: Any, **kwargs: Any) -> Any:
        book = book or xw.Book.caller()
        try:
            return macro(book, *args, **kwargs)
        except AlmaToolsError as error:
            alert(book, str(error))
        except Exception as error:
            report_unexpected(book, error)
        return None

    return wrapper  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    """What the Settings sheet says (never the API key: that lives in the OS credential store)."""

    region: str
    base_url: str
    rate: float
    in_house_use: bool
    location_type: str


def _setting(book: Any, name: str) -> Any:
    """The value of workbook name ``name``, or its default when the name is missing or its cell empty."""
    for defined in book.names:
        if defined.name.split("!")[-1] == name:
            try:
                value = defined.refers_to_range.value
            except Exception:  # a name pointing nowhere (#REF!) behaves like a missing one
                break
            if value not in (None, ""):
                return value
            break
    return SETTING_DEFAULTS[name]


def read_settings(book: Any) -> Settings:
    """Read the Settings sheet's named cells, with safe defaults, and say which cell to fix if one is bad."""
    rate_value = _setting(book, "AlmaRate")
    try:
        rate = float(rate_value)
    except (TypeError, ValueError):
        rate = -1.0
    if not 0 < rate <= 25:
        raise InputError(
            f"Settings › AlmaRate is {rate_value!r}: give a number of calls per second from 1 to 25 "
            "(20 leaves room for your other systems)"
        )
    location_type = str(_setting(book, "LocationType")).strip().lower()
    if location_type not in ("auto", "temp", "perm"):
        raise InputError(
            f"Settings › LocationType is {location_type!r}: choose auto (the temporary location when "
            "there is one), temp or perm"
        )
    in_house = _setting(book, "InHouseUse")
    if isinstance(in_house, str):
        in_house = in_house.strip().lower() in ("true", "yes", "1", "wahr", "vrai")
    return Settings(
        region=str(_setting(book, "AlmaRegion")).strip().lower(),
        base_url=str(_setting(book, "AlmaBaseUrl")).strip(),
        rate=rate,
        in_house_use=bool(in_house),
        location_type=location_type,
    )


# --------------------------------------------------------------------------------------------- reading
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


def _column_of(rows: list[list[Any]], header_row: int, label: str) -> int | None:
    """1-based column of the header cell written ``label`` (as find_table recorded it), or None."""
    wanted = str(label).strip()
    for number, cell in enumerate(rows[header_row - 1], start=1):
        if cell is not None and str(cell).strip() == wanted:
            return number
    return None


# --------------------------------------------------------------------------------------------- check
@_reported
def check(book: Any = None) -> Any:
    """Validate the pasted export without calling Alma: mark each problem cell and say what to fix.

    Rows that are not done get a fresh status (the problem, or empty when the row is fine) and lose old
    marks, so pressing Check again after fixing shows only what is left. Done rows are left as they are.
    """
    if running_in(book) is not None:
        raise InputError(
            "A discharge is running in this workbook: wait for its summary, or press Stop, then Check"
        )
    data = read_discharge_input(book)
    sheet = book.sheets[data.sheet_name]
    columns = data.columns
    target = sheets.SheetWriter(sheet, columns)
    target.write_headers()
    known = sheets.known_results(data.rows, columns)
    writer = sheets.BatchWriter(target, known)
    open_rows = [
        row.row for row in data.plan.rows if not (row.decided and row.decided.kind == "skipped_done")
    ]
    decided = {row.row: row.decided for row in data.plan.rows if row.decided is not None}
    last_col = max(columns.last, len(data.rows[data.items.header_row - 1]))
    for first, last in sheets.runs(open_rows):
        sheet.range((first, columns.first), (last, last_col)).color = None
    for row in open_rows:
        outcome = decided.get(row)
        writer.add(row, False, outcome.status if outcome else "")
    writer.close()
    cells: dict[int, list[int]] = {}
    for problem in data.plan.problems:
        column = _column_of(data.rows, data.items.header_row, data.items.label(problem.column))
        if column is not None:
            cells.setdefault(column, []).append(problem.row)
    for column, rows in cells.items():
        for first, last in sheets.runs(sorted(set(rows))):
            sheet.range((first, column), (last, column)).color = sheets.PROBLEM_FILL
    summary = data.plan.summary()
    lines = [f"Check of sheet '{data.sheet_name}' (no call to Alma):", *summary.lines()]
    if data.plan.problems:
        lines.append(
            f"{len(data.plan.problems):,} problem cells are marked in the sheet; the status column says why."
        )
    else:
        lines.append("No problems found.")
    lines.append(describe_key_source())
    append_log(book, lines)
    alert(book, "\n".join(lines))
    return summary


# --------------------------------------------------------------------------------------------- discharge
def book_opener(book: Any) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """How the background thread gets its own handle on the workbook (xlwings objects never cross threads).

    In Excel: COM is initialised for the thread and the book is opened again by its full name. In xlwings'
    remote engine (xlwings Server, tests) a book is plain Python data with no COM apartment, so the same
    object serves.
    """
    if book.app.engine.name == "remote":
        return lambda: contextlib.nullcontext(book)
    fullname = book.fullname
    return lambda: _com_book(fullname)


@contextlib.contextmanager
def _com_book(fullname: str) -> Iterator[Any]:
    """Open ``fullname`` on this thread with COM initialised for it (Windows), and release COM afterwards."""
    if sys.platform == "win32":
        import pythoncom  # pywin32 exists only on Windows

        pythoncom.CoInitialize()
    try:
        yield xw.Book(fullname)
    finally:
        if sys.platform == "win32":
            pythoncom.CoUninitialize()


class DischargeRun:
    """One discharge running on a background thread; ``wait()``, ``stop()``, ``done`` and ``summary``.

    The thread owns everything it touches in Excel (it opens the book itself through ``open_book``); the
    caller keeps only this object. ``interval`` is how often results are written at most.
    """

    def __init__(
        self,
        data: DischargeInput,
        client: Any,
        journal: Journal,
        open_book: Callable[[], contextlib.AbstractContextManager[Any]],
        key: str,
        interval: float = 0.75,
    ) -> None:
        self.data = data
        self.client = client
        self.journal = journal
        self.open_book = open_book
        self.key = key
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self.needs_person: list[int] = []
        self.summary: str | None = None
        self.writes = 0
        self.unwritten = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="alma-tools-discharge", daemon=True)

    # public ------------------------------------------------------------------------------------------
    def start(self) -> DischargeRun:
        """Start the background thread (once)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the run to end: calls in flight finish, every other row says "Stopped before this row"."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once Stop was pressed."""
        return self._stop.is_set()

    @property
    def done(self) -> bool:
        """True when the run has ended and its summary was written."""
        return self._thread.ident is not None and not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end (at most ``timeout`` seconds); True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # the thread --------------------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            with self.open_book() as book:
                try:
                    self._run(book)
                except AlmaToolsError as error:
                    alert(book, str(error))
                except Exception as error:
                    report_unexpected(book, error)
        except Exception as error:
            # the book could not be reached from this thread (closed meanwhile): no dialog is possible, so the
            # details go to the error log; the journal holds every result that was reached
            _log_error(run_folder_for(self.key) / ERROR_LOG, error)
        finally:
            self._release()

    def _run(self, book: Any) -> None:
        data = self.data
        target = sheets.SheetWriter(book.sheets[data.sheet_name], data.columns)
        target.write_headers()
        writer = sheets.BatchWriter(
            target, sheets.known_results(data.rows, data.columns), interval=self.interval
        )
        meter = sheets.RateMeter()
        total = len(data.plan.rows)
        finished = called = 0
        last_status = 0.0
        try:
            for outcome in run_plan(data.plan, self.client, self.journal, data.options, self._stop):
                self._count(outcome)
                writer.add(outcome.row, outcome.done, outcome.status, highlight=outcome.needs_person)
                finished += 1
                if outcome.kind not in ("refused", "duplicate", "no_desk", "skipped_done"):
                    called += 1
                    meter.mark(called)
                writer.flush_due()
                now = time.monotonic()
                if now - last_status >= 1.0:
                    last_status = now
                    sheets.set_status_bar(book.app, sheets.progress_text(finished, total, meter.rate))
        finally:
            complete = writer.close()
            self.writes = target.writes
            self.unwritten = writer.pending
            sheets.set_status_bar(book.app, False)
        self.summary = self._summary(complete)
        append_log(book, self.summary.splitlines())
        self._release()  # the summary box waits for OK; a new run may start meanwhile
        alert(book, self.summary)

    def _release(self) -> None:
        """Close the client and the journal and leave the registry (safe to call twice)."""
        self.client.close()
        self.journal.close()
        with _RUNS_LOCK:
            if _RUNS.get(self.key) is self:
                del _RUNS[self.key]

    def _count(self, outcome: Outcome) -> None:
        self.counts[outcome.kind] += 1
        if outcome.needs_person:
            self.needs_person.append(outcome.row)

    def _summary(self, complete: bool) -> str:
        head = "Discharge stopped" if self.stopping else "Discharge finished"
        lines = [f"{head}: {sum(self.counts.values()):,} rows of sheet '{self.data.sheet_name}'."]
        for kind, words in KIND_WORDS.items():
            if self.counts[kind]:
                lines.append(f"  {self.counts[kind]:,} {words}")
        if self.needs_person:
            rows = sorted(self.needs_person)
            shown = ", ".join(str(r) for r in rows[:10]) + (", …" if len(rows) > 10 else "")
            lines.append(f"{len(rows):,} rows need a person (highlighted): rows {shown}")
        if not complete:
            lines.append(
                f"Excel stayed busy, so {self.unwritten:,} results are not in the sheet yet: press Discharge "
                "again to fill them in from the journal (nothing is scanned twice)."
            )
        if self.stopping or self.counts["unknown"] or self.counts["alma_error"]:
            lines.append("Press Discharge again to continue: rows already done are skipped.")
        lines.append(f"Journal: {self.journal.folder}")
        return "\n".join(lines)


def running_in(book: Any) -> DischargeRun | None:
    """The discharge running in ``book`` (the registry is keyed by the workbook's full name), if any."""
    with _RUNS_LOCK:
        run = _RUNS.get(book.fullname)
    return run if run is not None and not run.done else None


def make_client(settings: Settings, options: DischargeOptions, journal: Journal) -> AlmaClient:
    """The one Alma client, from the Settings sheet; the key comes from the credential store, never a cell."""
    return AlmaClient(
        base_url=settings.base_url or None,
        region=None if settings.base_url else settings.region,
        rate=options.rate,
        workers=options.worker_count(),
        on_response=journal.save_answer,
    )


@_reported
def discharge(book: Any = None) -> DischargeRun | None:
    """Scan in every row of the active sheet in the background; returns the run (``wait()`` for the end)."""
    key = book.fullname
    if running_in(book) is not None:
        raise InputError("A discharge is already running in this workbook: wait for it, or press Stop first")
    if not Path(key).is_absolute() and book.app.engine.name != "remote":
        raise InputError(
            "Save this workbook first (File › Save As, in a folder of your own): the record of every scan "
            "is kept in a folder beside it, so that nothing is lost or scanned twice"
        )
    data = read_discharge_input(book)
    ensure_log_sheet(book)
    journal = Journal.for_input(key)
    try:
        client = make_client(data.settings, data.options, journal)
    except BaseException:
        journal.close()
        raise
    run = DischargeRun(data, client, journal, book_opener(book), key)
    with _RUNS_LOCK:
        _RUNS[key] = run
    sheets.set_status_bar(book.app, sheets.progress_text(0, len(data.plan.rows), None))
    return run.start()


@_reported
def stop(book: Any = None) -> DischargeRun | None:
    """Stop the discharge running in this workbook; it ends within a few seconds with its summary."""
    run = running_in(book)
    if run is None:
        alert(book, "No discharge is running in this workbook.")
        return None
    run.stop()
    sheets.set_status_bar(book.app, "Alma Tools: stopping; results so far are being written…")
    return run


# --------------------------------------------------------------------------------------------- statistics
#: sheets that are never read as a loans or items export
_OWN_SHEETS = (LOCATIONS_SHEET, LOG_SHEET, "Settings", "Help", "xlwings.conf")
#: the sheet whose items export, when it has one, gives copy counts (volumes with copies never lent)
ITEMS_SHEET = "Items"
#: chart size in points
_CHART_SIZE = (620, 340)


@_reported
def concurrency(book: Any = None, as_of: dt.datetime | None = None) -> Any:
    """Concurrent-checkout statistics of the loans on the active sheet, as new formatted sheets of this book.

    The same computation and the same sheet layout as ``alma-tools concurrency`` (``report_sheets``): only
    the rendering differs (xlwings here, xlsxwriter there). ``as_of`` defaults to now.
    """
    from alma_tools.concurrency import compute, read_loans, report_sheets

    sheet = book.sheets.active
    if sheet.name in _OWN_SHEETS:
        raise InputError(
            f"The active sheet is '{sheet.name}': click the sheet where the loans export is pasted, then "
            "press Concurrent checkouts again"
        )
    loans_rows = sheets.sheet_rows(sheet)
    notes: list[str] = []
    items_rows = None
    names = [s.name for s in book.sheets]
    if ITEMS_SHEET in names and sheet.name != ITEMS_SHEET:
        candidate = sheets.sheet_rows(book.sheets[ITEMS_SHEET])
        if sum(1 for row in candidate if any(c not in (None, "") for c in row)) > 1:
            items_rows = candidate
    try:
        loans = read_loans(loans_rows, items=items_rows)
    except InputError as error:
        if items_rows is None:
            raise
        loans = read_loans(loans_rows)  # the loans alone still give every figure except never-lent copies
        notes.append(f"The {ITEMS_SHEET} sheet was not used for copy counts: {error}")
    loans.source = f"sheet '{sheet.name}'"
    if loans.items_source:
        loans.items_source = f"sheet '{ITEMS_SHEET}'"
    stats = compute(loans, as_of=as_of)
    added = []
    after = sheet  # the report sits next to the loans it was made from
    for spec in report_sheets(stats):
        after = render_sheet(book, spec, after)
        added.append(after.name)
    book.sheets[added[0]].activate()
    lines = [
        f"Concurrent checkouts of sheet '{sheet.name}' as of {stats.as_of:%Y-%m-%d %H:%M}: "
        f"{len(stats.volumes):,} volumes, {int(stats.volumes['Loans'].sum()):,} loans, "
        f"{len(stats.problems):,} data problems.",
        "New sheets: " + ", ".join(added),
        *notes,
    ]
    append_log(book, lines)
    alert(book, "\n".join(lines))
    return stats


def _unique(name: str, taken: set[str], limit: int = 31) -> str:
    """``name``, or ``name (2)``, ``name (3)``… so an earlier report is never overwritten."""
    if name.casefold() not in taken:
        return name[:limit]
    number = 2
    while True:
        candidate = f"{name[: limit - 5]} ({number})"
        if candidate.casefold() not in taken:
            return candidate
        number += 1


def render_sheet(book: Any, spec: Any, after: Any) -> Any:
    """Write one :class:`~alma_tools.concurrency.report.SheetSpec` as a new sheet after ``after``.

    Titles on top, then the frame as an Excel table (one write for header and data), number formats and
    widths per column, conditional formats, a frozen header, and the chart as a native Excel chart.
    """
    name = _unique(spec.name, {s.name.casefold() for s in book.sheets})
    sheet = book.sheets.add(name, after=after)
    if spec.title_lines:
        sheet.range((1, 1)).value = [[safe_text(line)] for line in spec.title_lines]
        sheet.range((1, 1)).font.bold = True
        sheet.range((1, 1)).font.size = 14
    frame = spec.frame
    top = spec.header_row + 1  # 1-based row of the table's header
    width = max(len(frame.columns), 1)
    last = top + max(len(frame), 1)
    columns = {column: position for position, column in enumerate(frame.columns, start=1)}
    for column in spec.text_columns:
        # ids stay text: the cells are text before the values arrive, so Excel never reads them as numbers
        sheet.range((top + 1, columns[column]), (last, columns[column])).number_format = "@"
    sheet.range((top, 1)).value = sheets.frame_values(frame)
    for column, number_format in spec.number_formats.items():
        sheet.range((top + 1, columns[column]), (last, columns[column])).number_format = number_format
    for column, size in spec.widths.items():
        sheet.range((top, columns[column])).column_width = size
    if spec.table_name and len(frame.columns):
        taken = {t.name.casefold() for s in book.sheets for t in s.tables}
        sheet.tables.add(
            source=sheet.range((top, 1), (last, width)),
            name=_unique(spec.table_name, taken, limit=255).replace(" (", "_").replace(")", ""),
            table_style_name=spec.table_style.replace(" ", ""),
        )
    for rule in spec.conditional_formats:
        cells = sheet.range((top + 1, columns[rule.column]), (last, columns[rule.column]))
        if rule.kind == "data_bar":
            cells.conditional_formats.add_data_bar(rule.color, minimum=0)
        elif rule.kind == "color_scale":
            cells.conditional_formats.add_color_scale(["#FFFFFF", rule.color])
        else:
            cells.conditional_formats.add_cell_value("greater_than", 0, fill_color=rule.color)
    if spec.freeze_header:
        sheet.freeze_panes.freeze_at(f"1:{top}")  # titles and header stay in view while scrolling
    if spec.chart is not None and spec.chart.series:
        _render_chart(sheet, spec, top, width)
    return sheet


def _render_chart(sheet: Any, spec: Any, top: int, width: int) -> None:
    """A native scatter-with-lines chart of copies out over time, from a chart-data block beside the table.

    Excel builds a scatter chart from one X column and one Y column per series, so the volumes' own step
    series (each with its own times) are merged on one time axis, each volume's count held until it changes.
    """
    import pandas as pd

    parts = []
    for series in spec.chart.series:
        points = spec.frame[[series.x_column, series.y_column]].iloc[: series.points]
        parts.append(points.set_axis(["Time", series.name], axis=1))
    merged = pd.concat(parts, ignore_index=True).sort_values("Time", kind="stable")
    names = [series.name for series in spec.chart.series]
    merged[names] = merged[names].ffill().fillna(0)
    first_column = width + 2
    sheet.range((top - 1, first_column)).value = [["Chart data"]]
    sheet.range((top, first_column)).value = sheets.frame_values(merged.reset_index(drop=True))
    sheet.range((top + 1, first_column), (top + len(merged), first_column)).number_format = "yyyy-mm-dd hh:mm"
    source = sheet.range((top, first_column), (top + len(merged), first_column + len(names)))
    chart = sheet.charts.add(left=40, top=15 * (top + 2), width=_CHART_SIZE[0], height=_CHART_SIZE[1])
    chart.set_source_data(source)
    chart.chart_type = "xy_scatter_lines_no_markers"


# --------------------------------------------------------------------------------------------- API key
def _masked_prompt() -> str | None:
    """Ask for the key in a small window that shows dots, never the key (tkinter ships with Python)."""
    import tkinter
    from tkinter import simpledialog

    root = tkinter.Tk()
    root.withdraw()
    root.attributes("-topmost", True)
    try:
        return simpledialog.askstring(
            TITLE,
            "Paste the Alma API key (Bibs read/write).\nIt is kept in Windows Credential Manager.",
            show="*",
            parent=root,
        )
    finally:
        root.destroy()


@_reported
def set_api_key(book: Any = None, prompt: Callable[[], str | None] | None = None) -> bool:
    """Ask for the API key (masked), keep it in the OS credential store, and check it with Alma.

    The key is never written to a cell, the file or a log; the message says where it went, never the key.
    """
    key = (prompt or _masked_prompt)()
    if key is None or not key.strip():
        alert(book, "No key was entered; nothing changed.")
        return False
    where = store_api_key(key)
    try:
        settings = read_settings(book)
        client = AlmaClient(
            base_url=settings.base_url or None,
            region=None if settings.base_url else settings.region,
            api_key=key,
        )
    except AlmaToolsError as error:
        alert(book, f"The key is saved in {where}, but it could not be checked: {error}")
        return True
    try:
        client.test_key()
    except AuthError as error:
        alert(book, f"The key is saved in {where}, but Alma did not accept it: {error}")
        return True
    except AlmaToolsError as error:
        alert(book, f"The key is saved in {where}, but it could not be checked with Alma now: {error}")
        return True
    finally:
        client.close()
    alert(book, f"The key is saved in {where} and Alma accepted it.")
    return True


# --------------------------------------------------------------------------------------------- log sheet
def ensure_log_sheet(book: Any) -> None:
    """Create the log sheet at the end of the book if it is missing, leaving the person's sheet active.

    Called on the button's own thread: adding a sheet activates it, which must not happen later from the
    background thread while someone is working in another sheet.
    """
    names = [s.name for s in book.sheets]
    if LOG_SHEET not in names:
        active = book.sheets.active
        book.sheets.add(LOG_SHEET, after=book.sheets[len(names) - 1])
        active.activate()


def append_log(book: Any, lines: list[str]) -> None:
    """Add dated lines below what the log sheet already holds (the sheet is created if missing)."""
    ensure_log_sheet(book)
    sheet = book.sheets[LOG_SHEET]
    used = sheets.sheet_rows(sheet)
    filled = [i for i, row in enumerate(used, start=1) if any(c not in (None, "") for c in row)]
    next_row = filled[-1] + 2 if filled else 1
    stamp = dt.datetime.now().replace(microsecond=0)
    sheet.range((next_row, 1)).value = [
        [stamp if i == 0 else None, safe_text(line)] for i, line in enumerate(lines)
    ]
