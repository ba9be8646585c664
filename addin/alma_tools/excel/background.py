"""The background discharge run: the button returns at once, a thread scans and writes the results."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import xlwings as xw

from alma_tools import sheets
from alma_tools.alma import AlmaClient
from alma_tools.discharge import DischargeOptions, Journal, Outcome, run_plan
from alma_tools.discharge.journal import run_folder_for
from alma_tools.errors import AlmaToolsError, InputError
from alma_tools.excel.inputs import DischargeInput, read_discharge_input
from alma_tools.excel.logsheet import append_log, ensure_log_sheet
from alma_tools.excel.messages import ERROR_LOG, alert, log_error, report_unexpected, reported
from alma_tools.excel.settings import Settings

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
            log_error(run_folder_for(self.key) / ERROR_LOG, error)
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


@reported
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


@reported
def stop(book: Any = None) -> DischargeRun | None:
    """Stop the discharge running in this workbook; it ends within a few seconds with its summary."""
    run = running_in(book)
    if run is None:
        alert(book, "No discharge is running in this workbook.")
        return None
    run.stop()
    sheets.set_status_bar(book.app, "Alma Tools: stopping; results so far are being written…")
    return run
