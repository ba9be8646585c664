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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from alma_tools.alma.exceptions import (
    AlmaError,
    AuthError,
    ConnectionFailed,
    DailyLimitError,
    OutcomeUnknown,
    ServerError,
    ThresholdError,
)
from alma_tools.discharge.barcodes import resolve_barcode_row
from alma_tools.discharge.journal import Journal, JournalError
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


def _loan_open(loans: list[Any]) -> bool:
    return any(str(getattr(loan, "loan_status", "") or "ACTIVE").upper() == "ACTIVE" for loan in loans)


class _Worker:
    """What one row goes through; shared by all threads (state: only the halt reason, under a lock)."""

    def __init__(
        self, client: Any, journal: Journal | None, options: DischargeOptions, stop: threading.Event
    ):
        self.client = client
        self.journal = journal
        self.options = options
        self.stop = stop
        self._halt_lock = threading.Lock()
        self.halt_status: str | None = None  # set once: the daily limit, or a key Alma refuses

    def halt(self, status: str) -> None:
        with self._halt_lock:
            if self.halt_status is None:
                self.halt_status = status

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

    def process(self, prow: PlannedRow, verify_first: bool) -> Outcome:
        """Decide one row; never raises (an unexpected error becomes an ``unknown`` outcome)."""
        if self.stop.is_set():
            return Outcome(prow.row, False, STOPPED_BY_USER, "stopped")
        if self.halt_status is not None:
            return Outcome(prow.row, False, self.halt_status, "stopped")
        try:
            return self._process(prow, verify_first)
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
        if isinstance(error, ConnectionFailed):
            return f"Could not reach Alma ({error.message}); nothing was sent: run again to finish this row"
        return alma_error_status(prow.row, error.code, error.message)

    def _process(self, prow: PlannedRow, verify_first: bool) -> Outcome:
        ids = (prow.mms_id, prow.holding_id, prow.item_id)
        loan_open = False
        if not prow.item_id:  # a barcode-only row: its ids (and perhaps its desk) from Alma's lookup
            try:
                found = resolve_barcode_row(self.client, prow, verify_first)
            except (DailyLimitError, AuthError):
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
                return self._record(prow, self._scan(prow, ids))
            except (DailyLimitError, AuthError):
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
            self.journal.sent(prow.key, prow.row)
        options = self.options
        item = self.client.scan_in(
            *ids,
            library=prow.library,
            circ_desk=prow.circ_desk,
            register_in_house_use=options.register_in_house_use,
            done=options.done,
            auto_print_slip=options.auto_print_slip,
            place_on_hold_shelf=options.place_on_hold_shelf,
        )
        return outcome_from_item(prow.row, item)

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


def run_plan(
    plan: Plan,
    client: Any,
    journal: Journal | None,
    options: DischargeOptions,
    stop: threading.Event,
) -> Iterator[Outcome]:
    """Discharge every row of ``plan``; yield one :class:`Outcome` per plan row, as results arrive.

    ``stop`` (set by the Stop button, Ctrl+C) ends the run within a few seconds: calls in flight finish and
    are recorded, the rest say "Stopped before this row". ``journal`` may be ``None`` only where nothing must
    survive the process (tests of the plan logic); the faces always pass one.
    """
    pending: list[tuple[PlannedRow, bool]] = []
    for prow in plan.rows:
        if prow.decided is not None:
            yield prow.decided
            continue
        past = journal.past(prow.key) if journal is not None else None
        if past is not None and past.outcome is not None and not past.pending:
            before = past.outcome
            if before.done:
                yield Outcome(prow.row, True, before.status or DONE_EARLIER, "skipped_done")
                continue
            if before.kind == "not_on_loan":
                yield Outcome(prow.row, False, before.status, "not_on_loan")
                continue
        verify = past is not None and (
            past.pending or (past.outcome is not None and past.outcome.kind == "unknown")
        )
        pending.append((prow, verify))
    if not pending:
        return

    worker = _Worker(client, journal, options, stop)
    results: queue.Queue[Outcome] = queue.Queue()
    abandon = threading.Event()

    def task(prow: PlannedRow, verify: bool) -> None:
        outcome = Outcome(prow.row, False, STOPPED_BY_USER, "stopped")
        try:
            if not abandon.is_set():
                outcome = Outcome(prow.row, False, NO_ANSWER, "unknown")  # if process() itself dies
                outcome = worker.process(prow, verify)
        finally:
            results.put(outcome)  # every row reaches the consumer, whatever happens, so it never hangs

    pool = ThreadPoolExecutor(max_workers=options.worker_count(), thread_name_prefix="alma-discharge")
    try:
        for prow, verify in pending:
            pool.submit(task, prow, verify)
        for _ in range(len(pending)):
            yield results.get()
    finally:
        # the consumer stopped early (or the run ended): queued rows end at once, calls in flight finish
        abandon.set()
        pool.shutdown(wait=True, cancel_futures=True)
