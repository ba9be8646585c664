"""Executing a plan: scan-in on worker threads, one outcome per row as results arrive.

All workers go through the one :class:`~alma_tools.alma.AlmaClient` and its pacer, so the institution's
per-second limit holds however many threads wait on Alma's latency (0.3-0.8 s a call: at 25 calls/s about 20
requests are in flight). Rows decided without a call (refused, no desk, duplicate, done earlier) are yielded
first; then outcomes come in the order Alma answers. Workers put outcomes on a queue, so a slow consumer
(Excel writing cells) never holds a worker up.

Never scanning an item twice rests on the journal: a ``sent`` line is fsync'd before each scan-in. When no
answer comes (timeout, dropped connection, a kill), the item's loans are read first (a GET, safe to
repeat) and the item is scanned again only if its loan is still open.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

from alma_tools.alma.exceptions import (
    AlmaError,
    AuthError,
    ConnectionFailed,
    DailyLimitError,
    OutcomeUnknown,
    ServerError,
    ThresholdError,
)
from alma_tools.alma.protocols import ScanClient
from alma_tools.alma.responses import Loan
from alma_tools.discharge.barcodes import resolve_barcode_row
from alma_tools.discharge.journal import Journal, JournalError, PastItem
from alma_tools.discharge.outcomes import (
    DONE_EARLIER,
    NO_ANSWER,
    STOPPED_BY_USER,
    Outcome,
    alma_error_status,
    daily_limit_status,
    outcome_from_item,
)
from alma_tools.discharge.plan import DischargeOptions, Plan, PlannedRow

#: errors after which Alma may or may not have carried the scan out: read the loans before anything else
_UNCERTAIN = (OutcomeUnknown, ServerError)
#: connection failures in a row (nothing sent) after which the run stops: Alma is out of reach
LOST_CONTACT_AFTER = 3

#: what a row needs before its scan: nothing, a check that an interrupted scan did not go through
#: ("verify": pending or unknown in the journal), or a check that the item is not on a new loan
#: ("recheck": done in the journal, but the entry may belong to an earlier loan)
Mode = Literal["scan", "verify", "recheck"]


def lost_contact_status(row: int) -> str:
    """The one message of a run that stopped because Alma could no longer be reached."""
    return f"Lost contact with Alma at row {row}; nothing after it was sent; run again to finish"


Ids = tuple[str, str, str]


def _loan_open(loans: list[Loan]) -> bool:
    """Whether any loan is still active (a loan without a status counts as active)."""
    return any((loan.loan_status or "ACTIVE").upper() == "ACTIVE" for loan in loans)


class _Worker:
    """What one row goes through; shared by all threads (state: only the halt reason, under a lock)."""

    def __init__(
        self,
        client: ScanClient,
        journal: Journal | None,
        options: DischargeOptions,
        stop: threading.Event,
    ):
        self.client = client
        self.journal = journal
        self.options = options
        self.stop = stop
        self._halt_lock = threading.Lock()
        self.halt_status: str | None = None  # set once: the daily limit, a key Alma refuses, lost contact
        self.lost_contact = False
        self._failures: list[int] = []  # rows of the connection failures in a row (nothing sent)
        self.unreachable: set[int] = set()  # every row whose call could not be sent (Alma out of reach)

    def halt(self, status: str) -> None:
        with self._halt_lock:
            if self.halt_status is None:
                self.halt_status = status

    def _answered(self) -> None:
        """Alma answered a call: the count of connection failures in a row starts again."""
        with self._halt_lock:
            self._failures.clear()

    def _unreachable(self, prow: PlannedRow, error: ConnectionFailed) -> Outcome:
        """A call that could not be sent: the row stays as it was; the third in a row stops the run."""
        with self._halt_lock:
            self._failures.append(prow.row)
            self.unreachable.add(prow.row)
            if len(self._failures) >= LOST_CONTACT_AFTER and self.halt_status is None:
                self.halt_status = lost_contact_status(min(self._failures))
                self.lost_contact = True
        return Outcome(prow.row, False, self._error_text(prow, error), "stopped")

    def _record(self, prow: PlannedRow, outcome: Outcome) -> Outcome:
        """Journal an outcome; if the journal cannot be written, keep the outcome and stop the run.

        The row's ``sent`` line is on disk, so the next run reads the item's loans before anything else.
        """
        if self.journal is not None:
            try:
                self.journal.outcome(prow.key, outcome)
            except JournalError as error:
                self.halt(str(error))
        return outcome

    def process(self, prow: PlannedRow, mode: Mode, past: PastItem | None = None) -> Outcome:
        """Decide one row; never raises (an unexpected error becomes an ``unknown`` outcome).

        ``past``: what the journal holds for the row's item (for a recheck: its earlier outcome and ids).
        """
        if self.stop.is_set():
            return Outcome(prow.row, False, STOPPED_BY_USER, "stopped")
        if self.halt_status is not None:
            return Outcome(prow.row, False, self.halt_status, "stopped")
        try:
            if mode == "recheck" and past is not None and past.outcome is not None:
                return self._recheck(prow, past.outcome, past.ids)
            return self._process(prow, mode == "verify")
        except ConnectionFailed as error:  # nothing was sent: the row is left as it was, for the next run
            return self._unreachable(prow, error)
        except JournalError as error:  # the sent line could not be written, so nothing was sent
            self.halt(str(error))
            return Outcome(prow.row, False, str(error), "stopped")
        except DailyLimitError as error:
            # refused before Alma acted (quota floor, DAILY_THRESHOLD): close the sent line, resend next time
            status = daily_limit_status(error.remaining)
            self.halt(status)
            return self._record(prow, Outcome(prow.row, False, status, "stopped"))
        except AuthError as error:
            self.halt(f"Stopped: {self._error_text(prow, error)}")
            return self._failed(prow, error)
        except Exception as error:  # a bug must not hang the run or lose the row: it is checked next run
            return self._record(
                prow,
                Outcome(
                    prow.row,
                    False,
                    f"Unexpected problem ({error}); this row will be checked next run",
                    "unknown",
                ),
            )

    def _failed(self, prow: PlannedRow, error: AlmaError) -> Outcome:
        return self._record(prow, Outcome(prow.row, False, self._error_text(prow, error), "alma_error"))

    def _error_text(self, prow: PlannedRow, error: AlmaError) -> str:
        if isinstance(error, ThresholdError):
            return (
                "Alma error PER_SECOND_THRESHOLD: Alma is busy with other systems' calls; "
                "run again later to finish this row"
            )
        if isinstance(error, AuthError) and not error.code:
            return f"Alma refused the API key ({error.message}): check the key and run again"
        if isinstance(error, ConnectionFailed):  # its message says already that nothing was sent
            return f"{error.message}: run again to finish this row"
        return alma_error_status(prow.row, error.code, error.message)

    def _process(self, prow: PlannedRow, verify_first: bool) -> Outcome:
        ids = (prow.mms_id, prow.holding_id, prow.item_id)
        loan_open = False
        if not prow.item_id:  # a barcode-only row: its ids (and perhaps its desk) from Alma's lookup
            try:
                found = resolve_barcode_row(self.client, prow, verify_first)
            except (DailyLimitError, AuthError, ConnectionFailed):
                raise
            except AlmaError as error:
                return self._failed(prow, error)
            if isinstance(found, Outcome):
                return self._record(prow, found)
            prow, ids, loan_open = found.prow, found.ids, found.loan_open
        if verify_first and not loan_open:
            confirmed = self._confirm(prow, ids)
            if confirmed is not None:
                return self._record(prow, confirmed)
        # at most two scans per row and run, and the second only after the loans showed the first did nothing
        for _ in range(2):
            try:
                outcome = self._scan(prow, ids)
                self._answered()
                return self._record(prow, outcome)
            except (DailyLimitError, AuthError, ConnectionFailed):
                raise
            except _UNCERTAIN:
                confirmed = self._confirm(prow, ids)
                if confirmed is not None:
                    return self._record(prow, confirmed)
                # the loan is still open, so that scan did nothing: sending it again is safe
                if self.stop.is_set():
                    return self._record(prow, Outcome(prow.row, False, STOPPED_BY_USER, "stopped"))
            except AlmaError as error:
                return self._failed(prow, error)
        return self._record(prow, Outcome(prow.row, False, NO_ANSWER, "unknown"))

    def _scan(self, prow: PlannedRow, ids: tuple[str, str, str]) -> Outcome:
        if self.journal is not None:
            self.journal.sent(prow.key, prow.row, ids)
        options = self.options
        item = self.client.scan_in(
            *ids,
            library=prow.library,
            circ_desk=prow.circ_desk,
            register_in_house_use=options.register_in_house_use,
            auto_print_slip=options.auto_print_slip,
            place_on_hold_shelf=options.place_on_hold_shelf,
        )
        return outcome_from_item(prow.row, item)

    def _recheck(self, prow: PlannedRow, before: Outcome, known: Ids | None) -> Outcome:
        """A row the journal has settled, in an entry that may belong to an earlier loan: one call reads
        the item's loans; no open loan -> settled as before, else the row is scanned like any other."""
        ids = known or ((prow.mms_id, prow.holding_id, prow.item_id) if prow.item_id else None)
        if ids is None:  # a barcode row from a journal without ids: its lookup shows whether it is on loan
            return self._process(prow, False)
        try:
            loans = self.client.item_loans(*ids)
        except (DailyLimitError, AuthError, ConnectionFailed):
            raise
        except AlmaError as error:
            return self._failed(prow, error)
        self._answered()
        if _loan_open(loans):
            return self._process(prow, False)
        return self._record(prow, _as_before(prow, before))

    def _confirm(self, prow: PlannedRow, ids: tuple[str, str, str]) -> Outcome | None:
        """After an uncertain scan: the row's outcome if the loan is closed, None if it is still open.

        A failure to read (Alma still not answering, the quota spent) ends the row as ``unknown``, never as
        "stopped": the journal must keep it pending, so the next run checks again instead of scanning blind.
        """
        try:
            if _loan_open(self.client.item_loans(*ids)):
                return None
            return outcome_from_item(prow.row, self.client.get_item(*ids), confirmed=True)
        except DailyLimitError as error:
            self.halt(daily_limit_status(error.remaining))
        except AuthError as error:
            self.halt(f"Stopped: {self._error_text(prow, error)}")
        except AlmaError:
            pass
        return Outcome(prow.row, False, NO_ANSWER, "unknown")


@dataclass
class Triage:
    """The rows of a plan before any call: those settled without Alma, and those to work on (with how)."""

    settled: list[Outcome] = field(default_factory=list)
    work: list[tuple[PlannedRow, Mode, PastItem | None]] = field(default_factory=list)


def triage(plan: Plan, journal: Journal | None, loan_dates: Mapping[int, float] | None = None) -> Triage:
    """Settle what the plan and the journal decide; say what each other row needs first.

    A journal entry is trusted only for the same loan (see :meth:`Journal.trust`): a row the journal has as
    done is skipped outright only when its entry is recent and older than the row's loan date; otherwise
    its loans are read first ("recheck"). ``loan_dates``: row -> the latest moment of its Loan Date (epoch).
    """
    result = Triage()
    for prow in plan.rows:
        if prow.decided is not None:
            result.settled.append(prow.decided)
            continue
        past = journal.past(prow.key) if journal is not None else None
        if past is None:
            result.work.append((prow, "scan", None))
        elif past.pending or (past.outcome is not None and past.outcome.kind == "unknown"):
            result.work.append((prow, "verify", past))
        elif past.outcome is not None and (past.outcome.done or past.outcome.kind == "not_on_loan"):
            loaned = loan_dates.get(prow.row) if loan_dates else None
            if journal is not None and journal.trust(past, loaned):
                result.settled.append(_as_before(prow, past.outcome))
            else:
                result.work.append((prow, "recheck", past))
        else:
            result.work.append((prow, "scan", None))
    return result


def _as_before(prow: PlannedRow, before: Outcome) -> Outcome:
    """A row the journal settles: done (skipped) or not on loan, in the words of its earlier outcome."""
    if before.done:
        return Outcome(prow.row, True, before.status or DONE_EARLIER, "skipped_done")
    return Outcome(prow.row, False, before.status, "not_on_loan")


class Execution:
    """The rows of a triage worked on by threads; iterate for one outcome per row, as answers arrive.

    After the run: :attr:`halt_status` is why it stopped early (daily limit, refused key, journal, lost
    contact), :attr:`lost_contact` whether it was Alma out of reach. ``client`` may be None only when there
    is no work (every row settled before any call).
    """

    def __init__(
        self,
        work: list[tuple[PlannedRow, Mode, PastItem | None]],
        client: ScanClient | None,
        journal: Journal | None,
        options: DischargeOptions,
        stop: threading.Event,
    ) -> None:
        if work and client is None:
            raise ValueError("rows to send need a client")
        self.work = work
        self.options = options
        self._worker = _Worker(client, journal, options, stop) if client is not None else None

    @property
    def halt_status(self) -> str | None:
        return self._worker.halt_status if self._worker else None

    @property
    def lost_contact(self) -> bool:
        return self._worker.lost_contact if self._worker else False

    def not_reached(self, outcome: Outcome) -> bool:
        """True for a row Alma never saw: its call could not be sent, or lost contact stopped it first.

        The faces leave such a row's ``done``/``status`` as they were (the summary says why, once).
        """
        worker = self._worker
        if worker is None:
            return False
        return outcome.row in worker.unreachable or (worker.lost_contact and outcome.kind == "stopped")

    def __iter__(self) -> Iterator[Outcome]:
        worker = self._worker
        if not self.work or worker is None:
            return
        results: queue.Queue[Outcome] = queue.Queue()
        abandon = threading.Event()

        def task(prow: PlannedRow, mode: Mode, known: PastItem | None) -> None:
            outcome = Outcome(prow.row, False, STOPPED_BY_USER, "stopped")
            try:
                if not abandon.is_set():
                    outcome = Outcome(prow.row, False, NO_ANSWER, "unknown")  # if process() itself dies
                    outcome = worker.process(prow, mode, known)
            finally:
                results.put(outcome)  # every row reaches the consumer, whatever happens, so it never hangs

        workers = self.options.worker_count()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alma-discharge")
        try:
            for prow, mode, known in self.work:
                pool.submit(task, prow, mode, known)
            for _ in range(len(self.work)):
                yield results.get()
        finally:
            # the consumer stopped early (or the run ended): queued rows end at once, calls in flight finish
            abandon.set()
            pool.shutdown(wait=True, cancel_futures=True)


def run_plan(
    plan: Plan,
    client: ScanClient | None,
    journal: Journal | None,
    options: DischargeOptions,
    stop: threading.Event,
    loan_dates: Mapping[int, float] | None = None,
) -> Iterator[Outcome]:
    """Discharge every row of ``plan``; yield one :class:`Outcome` per plan row, as results arrive.

    ``stop`` (set by the Stop button, Ctrl+C) ends the run within a few seconds: calls in flight finish and
    are recorded, the rest say "Stopped before this row". ``journal`` may be ``None`` only where nothing must
    survive the process (tests of the plan logic); the faces always pass one (through the session).
    """
    sorted_out = triage(plan, journal, loan_dates)
    yield from sorted_out.settled
    yield from Execution(sorted_out.work, client, journal, options, stop)
