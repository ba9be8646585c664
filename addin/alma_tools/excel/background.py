"""Work that goes on after the button has returned: Discharge, Check sheet, Concurrent checkouts, Set API key.

Under "Use UDF Server" a ``RunPython`` call that does not return within about 90 s times out, and until it
returns Excel is frozen. So each button starts a :class:`Job` and returns within a second:

- the button's thread marshals the caller's workbook to the job's thread (``desktop.book_for_thread``); the
  job's thread is the only one that touches Excel, with bounded COM retries (``desktop``) and messages
  pumped while it waits;
- one job per workbook at a time (a registry keyed by the workbook's full name); Stop reaches it;
- progress goes to the status bar at most once a second; whatever happens, the status bar is given back
  to Excel at the end and the person is told (a message box once no cell is being edited; a window of its
  own when the workbook was closed meanwhile, with the details in ``errors.log``).

The discharge itself is :class:`~alma_tools.discharge.session.DischargeSession` (the same run as the
command line): it runs on a thread of its own and hands each outcome to a :class:`QueueSink`; the job's
thread takes them from the queue, writes them in few blocks (``sheets.BatchWriter``), each block's ids
checked first (``sheets.RowGuard``), and pumps messages between.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alma_tools import sheets
from alma_tools.alma import AlmaClient, ClientFactory, client_factory, describe_key_source, redact
from alma_tools.discharge.journal import run_folder_for
from alma_tools.discharge.outcomes import DECIDED_KINDS, Outcome
from alma_tools.discharge.session import RunReport, describe_address
from alma_tools.errors import AlmaToolsError, InputError
from alma_tools.excel import crossstop, desktop
from alma_tools.excel.inputs import DischargeInput, read_discharge_input
from alma_tools.excel.logsheet import append_log, ensure_log_sheet
from alma_tools.excel.messages import ERROR_LOG, alert, log_error, report_unexpected, reported
from alma_tools.excel.settings import Settings

_JOBS: dict[str, Job] = {}
_JOBS_LOCK = threading.Lock()

#: why an Excel run's journal stays open: the results are in a workbook that may not be saved
UNSAVED = "the results are in the workbook, which is not saved yet"
#: how long the queue is waited on before messages are pumped again (seconds)
_PUMP_EVERY = 0.1


class Job:
    """One button's work on a background thread; ``wait()``, ``stop()``, ``done``, ``result``, ``error``.

    ``work(job, book)`` runs on the job's thread with that thread's own handle on the workbook; an
    :class:`AlmaToolsError` it raises is shown as its message, anything else as "unexpected problem".
    """

    #: how messages name the job ("A discharge is already running…")
    label = "A job"

    def __init__(self, book: Any, work: Callable[[Job, Any], Any] | None = None, *, exclusive: bool = True):
        self.key = str(book.fullname)
        self.exclusive = exclusive
        self.result: Any = None
        self.error: BaseException | None = None
        self._work = work
        self._stop = threading.Event()
        self._last_status = 0.0
        self._open = desktop.book_for_thread(book)
        self._thread = threading.Thread(
            target=self._main, name=f"alma-tools-{type(self).__name__}", daemon=True
        )

    # public ------------------------------------------------------------------------------------------
    def start(self) -> Job:
        """Register the job for its workbook (refused while another runs there) and start its thread."""
        if self.exclusive:
            with _JOBS_LOCK:
                running = _JOBS.get(self.key)
                if running is not None and not running.done:
                    raise InputError(
                        f"{running.label} is already running in this workbook: wait for its summary, or "
                        "press Stop first"
                    )
                _JOBS[self.key] = self
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the job to end at its next step (a discharge: calls in flight finish, no more are sent)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def done(self) -> bool:
        """True when the job has ended and its summary was shown."""
        return self._thread.ident is not None and not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job to end (at most ``timeout`` seconds); True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def progress(self, book: Any, text: str, *, now: bool = False) -> None:
        """Show ``text`` in the status bar, at most once a second unless ``now``."""
        moment = time.monotonic()
        if now or moment - self._last_status >= 1.0:
            self._last_status = moment
            sheets.set_status_bar(book.app, text)

    def tell(self, book: Any, text: str) -> None:
        """Show ``text`` once no cell is being edited (a message box must not land mid-typing)."""
        desktop.wait_until_ready(book.app)
        alert(book, text)

    # the thread --------------------------------------------------------------------------------------
    def run(self, book: Any) -> Any:
        """The job's work (subclasses override; the default calls the ``work`` given)."""
        assert self._work is not None
        return self._work(self, book)

    def _main(self) -> None:
        try:
            with desktop.bounded_com_retries(), self._open() as book:
                # Excel outlives the workbook: the status bar is given back even when the person closed
                # the workbook mid-run (and while COM is still set up for this thread)
                app = book.app
                try:
                    self._run_and_tell(book, app)
                finally:
                    sheets.set_status_bar(app, False)
        except Exception as error:
            self._unreachable(error)
        finally:
            self._release()

    def _run_and_tell(self, book: Any, app: Any) -> None:
        """The work, and any failure shown in plain words (a bug: one line, the details in the log)."""
        try:
            self.result = self.run(book)
        except AlmaToolsError as error:
            self.error = error
            sheets.set_status_bar(app, False)
            self.tell(book, str(error))
        except Exception as error:
            self.error = error
            sheets.set_status_bar(app, False)
            report_unexpected(book, error)

    def _unreachable(self, error: BaseException) -> None:
        """The workbook is out of reach from this thread (closed meanwhile, Excel gone): say so anyway."""
        self.error = self.error or error
        path = run_folder_for(self.key) / ERROR_LOG
        log_error(path, error)
        first = redact(str(error)).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        desktop.native_message(
            f"Alma Tools could not reach the workbook {Path(self.key).name} any more ({first}). Whatever "
            f"was done is kept in the run folder. Details are in {path}"
        )

    def _release(self) -> None:
        with _JOBS_LOCK:
            if _JOBS.get(self.key) is self:
                del _JOBS[self.key]


def running_in(book: Any) -> Job | None:
    """The job running in ``book`` (the registry is keyed by the workbook's full name), if any."""
    with _JOBS_LOCK:
        job = _JOBS.get(str(book.fullname))
    return job if job is not None and not job.done else None


def refuse_if_running(book: Any) -> None:
    """An InputError naming what runs in ``book``, before a new job reads anything."""
    job = running_in(book)
    if job is not None:
        raise InputError(
            f"{job.label} is already running in this workbook: wait for its summary, or press Stop first"
        )


# --------------------------------------------------------------------------------------------- discharge
class QueueSink:
    """The session's sink: outcomes go into a queue for the Excel thread; ``close`` waits for its writes.

    ``record`` and ``close`` run on the session's thread, which never touches Excel.
    """

    CLOSE = object()

    def __init__(self) -> None:
        self.queue: queue.Queue[Any] = queue.Queue()
        self.error: str | None = UNSAVED
        self._closed = threading.Event()
        self._message: str | None = None

    def record(self, outcome: Outcome) -> None:
        self.queue.put(outcome)

    def close(self) -> str | None:
        self.queue.put(self.CLOSE)
        self._closed.wait()
        return self._message

    def closed(self, message: str | None, written: bool) -> None:
        """Called by the Excel thread once the last block was written (or could not be).

        ``error`` is never None: even when every result is in the sheet, it is only in the open workbook
        until the person saves it (Excel may crash first), so the run's journal is never put away as
        finished by an Excel run. A rerun of the same sheet then fills the results in from the journal
        instead of scanning again; the journal's loan check keeps a later week's new loans apart.
        """
        self._message = message
        self.error = message if not written else UNSAVED
        self._closed.set()


class DischargeRun(Job):
    """One discharge: the session on its own thread, the results written by the job's (Excel) thread."""

    label = "A discharge"

    def __init__(self, book: Any, data: DischargeInput, interval: float = 0.75) -> None:
        super().__init__(book)
        self.data = data
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self.needs_person: list[int] = []
        self.report: RunReport | None = None
        self.summary: str | None = None
        self.writes = 0
        self.unwritten = 0
        self.sheet_changed: str | None = None

    def run(self, book: Any) -> RunReport | None:
        data = self.data
        target = sheets.SheetWriter(book.sheets[data.sheet_name], data.columns, guard=data.guard)
        writer = sheets.BatchWriter(
            target,
            sheets.known_results(data.rows, data.columns),
            interval=self.interval,
            ready=lambda: desktop.excel_ready(book.app),
        )
        sink = QueueSink()
        outcome_box: dict[str, Any] = {}
        session_thread = threading.Thread(
            target=self._session, args=(sink, outcome_box), name="alma-tools-session", daemon=True
        )
        session_thread.start()
        try:
            with crossstop.Announcement(self.data.session.run_folder, Path(self.key).name) as presence:
                self._write_until_closed(book, sink, writer, presence)
        finally:
            self.writes = target.writes
            self.unwritten = writer.pending
        session_thread.join()
        if "error" in outcome_box:
            raise outcome_box["error"]
        self.report = outcome_box["report"]
        self.counts = Counter(self.report.counts)  # the sink does not see the rows left alone (hidden)
        self.summary = "\n".join(self._summary(self.report))
        append_log(book, self.summary.splitlines())
        sheets.set_status_bar(book.app, False)
        self.tell(book, self.summary)
        return self.report

    def _session(self, sink: QueueSink, box: dict[str, Any]) -> None:
        """The session's thread: the whole run, outcomes to the sink (no Excel here)."""
        settings = self.data.settings
        try:
            box["report"] = self.data.session.run(
                lambda: sink,
                run_clients(settings),
                stop=self._stop,
                key_source=describe_key_source(),
                address=describe_address(*settings.gateway(), base_url_setting="Settings › AlmaBaseUrl"),
            )
        except BaseException as error:
            box["error"] = error
            if not sink._closed.is_set():  # the run failed before it closed its sink
                sink.queue.put(QueueSink.CLOSE)

    def _write_until_closed(
        self, book: Any, sink: QueueSink, writer: sheets.BatchWriter, presence: crossstop.Announcement
    ) -> None:
        """The Excel thread: take outcomes from the queue, write them in blocks, pump messages meanwhile."""
        total = len(self.data.plan.rows)
        meter = sheets.RateMeter()
        finished = called = 0
        while True:
            if presence.beat():  # Stop pressed in another Python (the workbook was saved under a new name)
                self.stop()
            try:
                item = sink.queue.get(timeout=_PUMP_EVERY)
            except queue.Empty:
                desktop.pump_messages()
                self._flush(writer, due=True)
                continue
            if item is QueueSink.CLOSE:
                break
            self._count(item)
            finished += 1
            if item.kind not in DECIDED_KINDS:
                called += 1
                meter.mark(called)
            if self.sheet_changed is None:
                writer.add(item.row, item.done, item.status, highlight=item.needs_person)
                self._flush(writer, due=True)
            self.progress(book, sheets.progress_text(finished, total, meter.rate))
        complete = self._flush(writer, due=False)
        message = None if complete else self._unwritten_message(writer.pending)
        sink.closed(message, complete)

    def _flush(self, writer: sheets.BatchWriter, *, due: bool) -> bool:
        """Write what is due (or everything, patiently, at the end); a moved sheet stops the run."""
        if self.sheet_changed is not None:
            return False
        try:
            return writer.flush_due() if due else writer.close()
        except sheets.SheetChanged as error:
            self.sheet_changed = str(error)
            self.stop()  # nothing more is sent; what was sent is in the journal
            return False

    def _unwritten_message(self, pending: int) -> str:
        if self.sheet_changed is not None:
            return self.sheet_changed
        return (
            f"Excel stayed busy, so {pending:,} results are not in the sheet yet: press Discharge again to "
            "fill them in from the journal (nothing is scanned twice)."
        )

    def _count(self, outcome: Outcome) -> None:
        self.counts[outcome.kind] += 1
        if outcome.needs_person:
            self.needs_person.append(outcome.row)

    def _summary(self, report: RunReport) -> list[str]:
        head = "Discharge stopped" if self.stopping else "Discharge finished"
        lines = [f"{head}: {report.total:,} rows of sheet '{self.data.sheet_name}'.", *report.lines()[1:]]
        if self.stopping or report.counts["unknown"] or report.counts["alma_error"]:
            lines.append("Press Discharge again to continue: rows already done are skipped.")
        lines.append(f"Journal: {self.data.session.run_folder}")
        return lines


def make_client(
    settings: Settings, on_response: Callable[[Any], None] | None, *, api_key: str | None = None
) -> AlmaClient:
    """An Alma client from the Settings sheet (Fetch, the key check); the key comes from the credential
    store (or ``api_key``), never a cell. A discharge builds its client with :func:`run_clients`."""
    base_url, region = settings.gateway()
    return AlmaClient(
        base_url=base_url,
        region=region,
        api_key=api_key,
        rate=settings.options.rate,
        workers=settings.options.worker_count(),
        on_response=on_response,
    )


def run_clients(settings: Settings) -> ClientFactory:
    """The discharge's client factory from the Settings sheet (:func:`alma_tools.alma.client_factory`, as
    the command line's run builds its client)."""
    base_url, region = settings.gateway()
    return client_factory(
        base_url=base_url, region=region, rate=settings.options.rate, workers=settings.options.worker_count()
    )


@reported
def discharge(book: Any = None) -> DischargeRun | None:
    """Scan in every row of the active sheet in the background; returns the run (``wait()`` for the end)."""
    refuse_if_running(book)
    if not Path(book.fullname).is_absolute() and not desktop.is_remote(book):
        raise InputError(
            "Save this workbook first (File › Save As, in a folder of your own): the record of every scan "
            "is kept in a folder beside it, so that nothing is lost or scanned twice"
        )
    data = read_discharge_input(book)
    data.session.check_user_columns()
    ensure_log_sheet(book)
    sheets.set_status_bar(book.app, sheets.progress_text(0, len(data.plan.rows), None))
    run = DischargeRun(book, data)
    run.start()
    return run


@reported
def stop(book: Any = None) -> Job | None:
    """Stop what runs in this workbook (a discharge, a check, the statistics); it ends within seconds."""
    job = running_in(book)
    if job is None:
        elsewhere = crossstop.request_stop_elsewhere()
        if elsewhere:
            alert(
                book,
                f"A discharge of {', '.join(sorted(set(elsewhere)))} runs in another Python process (the "
                "workbook was saved under another name during the run): it was asked to stop and ends within "
                "a few seconds with its summary.",
            )
        else:
            alert(book, "Nothing is running in this workbook.")
        return None
    job.stop()
    sheets.set_status_bar(book.app, "Alma Tools: stopping; results so far are being written…")
    return job


def start_job(book: Any, job: Job, status: str) -> Job:
    """Start ``job`` after showing ``status`` (the button returns right after)."""
    refuse_if_running(book)
    sheets.set_status_bar(book.app, status)
    return job.start()
