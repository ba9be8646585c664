"""The one discharge run, used by every face (command line, Excel, demo).

A face hands over what only it knows: the two tables (or the two files), the run folder, where results go
(a *sink*), how to build the Alma client, a stop event and a progress callback. The session does the rest,
in this order, so the rules hold the same everywhere:

1. plan every row (:func:`~alma_tools.discharge.plan.make_plan`) and refuse a done/status column of the
   user's own;
2. open the run's journal and settle what it can (a row the journal has as done, for the same loan);
3. open the sink; if any row needs Alma, build the client and make one call that proves the key may write
   (the preflight): a refused key or an unreachable Alma stops here, before the sink has written anything;
4. run the rest on worker threads, handing each :class:`Outcome` to the sink as it arrives;
5. close the sink, finish the journal when every row is settled, and return a :class:`RunReport`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import pandas as pd

from alma_tools.alma import exceptions as alma_errors
from alma_tools.alma.keys import describe_key_source
from alma_tools.alma.protocols import OnResponse, ScanClient
from alma_tools.alma.regions import BASE_URL_ENV
from alma_tools.discharge.journal import ANSWERS_NAME, Journal, legacy_run_folder_for, run_folder_for
from alma_tools.discharge.outcomes import (
    KIND_WORDS,
    STOPPED_BY_USER,
    Outcome,
    is_our_done,
    is_our_status,
    is_true_word,
)
from alma_tools.discharge.plan import DischargeOptions, Plan, make_plan, row_count
from alma_tools.discharge.results import DONE_HEADER, STATUS_HEADER, find_result_columns
from alma_tools.discharge.run import Execution, Triage, triage
from alma_tools.errors import AlmaToolsError, InputError
from alma_tools.files import atomic_write
from alma_tools.tables import (
    ITEM_COLUMNS,
    LOCATION_COLUMNS,
    Table,
    find_table,
    normalise_header,
    read_grid,
)
from alma_tools.tables.xlsx_parts import workbook_sheets
from alma_tools.words import either

#: the run folder's record of the result columns runs of this input wrote into (``["done", "status"]``)
COLUMNS_NAME = "columns.json"
#: how many rows that need a person the summary lists (all of them are in the status column)
PEOPLE_SHOWN = 20
#: how many failed rows the summary lists
FAILED_SHOWN = 5
#: the preflight's connect timeout and tries: an unreachable Alma is reported within a few seconds
PREFLIGHT_TIMEOUT = (3.0, 15.0)
PREFLIGHT_CONNECT_TRIES = 2


class PreflightError(AlmaToolsError):
    """The check before the first scan failed (key refused, Alma out of reach): nothing was scanned."""

    exit_code = 2


class ResultSink(Protocol):
    """Where a face writes each row's ``done``/``status``: the file writer, or Excel's sheet writer.

    Opened before the preflight (so a file that cannot take results is found before any call); it must
    change nothing before its first :meth:`record`. A sink may also have ``error: str | None`` to tell "not
    written" (the run stays unfinished) from a mere note (results written beside the file); without it,
    any message from :meth:`close` counts as "not written".
    """

    def record(self, outcome: Outcome) -> None: ...

    def close(self) -> str | None:
        """Write what is left; a message for the user when results are elsewhere or could not be written."""
        ...


#: ``make_client(on_response)``: the run's one client, given the journal's hook for keeping every answer
#: (``alma.client_factory(...)`` makes one; a face's own function taking the hook fits too)
ClientFactory = Callable[[OnResponse], ScanClient]
#: ``progress(rows_finished, rows_in_all)`` after each outcome (called on the thread that runs the session)
ProgressCallback = Callable[[int, int], None]


@dataclass
class RunReport:
    """What one discharge run did: counts per kind, the rows a person must handle, what stopped it."""

    source: str
    total: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    needs_person: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)
    #: why the run stopped before its end (daily limit, refused key, lost contact, journal); said once
    halt: str | None = None
    #: the sink's message: results not written (``results_written`` False) or written elsewhere
    results_message: str | None = None
    results_written: bool = True
    results_where: str | None = None
    notes: list[str] = field(default_factory=list)
    #: True when every row is settled: the run's journal was put away under ``finished/``
    finished: bool = False
    elapsed: float = 0.0

    @property
    def exit_code(self) -> int:
        """0: every row done or deliberately left alone; 1: a row failed or the results were not written."""
        return 1 if self.failed or not self.results_written else 0

    def record(self, outcome: Outcome) -> None:
        self.counts[outcome.kind] += 1
        if outcome.needs_person:
            self.needs_person.append(outcome)
        if outcome.failed:
            self.failed.append(outcome)

    def lines(self) -> list[str]:
        """The summary as plain lines (the CLI prints them, Excel shows and logs them)."""
        out = [f"Discharge of {self.source}: {row_count(self.total)} in {self.elapsed:.0f} s."]
        out += [f"  {self.counts[k]:,} {words}" for k, words in KIND_WORDS.items() if self.counts[k]]
        out += self.notes
        out += _listed(
            self.needs_person,
            PEOPLE_SHOWN,
            f"{row_count(len(self.needs_person))} {either(len(self.needs_person), 'needs', 'need')} a person "
            "(filter the status column on 'set aside'):",
        )
        # rows a halt stopped, and rows that failed for the halt's own reason (a key refused mid-run: the
        # calls in flight), are said once, by the halt's own line
        failed = [o for o in self.failed if not (self.halt and o.kind == "stopped")]
        failed = [o for o in failed if self.halt != f"Stopped: {o.status}"]
        # rows the user's stop left are said once too, with what to do, instead of a row each
        by_user = [o.row for o in failed if o.kind == "stopped" and o.status == STOPPED_BY_USER]
        failed = [o for o in failed if not (o.kind == "stopped" and o.status == STOPPED_BY_USER)]
        more = "; the first ones:" if len(failed) > FAILED_SHOWN else ":"
        out += _listed(failed, FAILED_SHOWN, f"{row_count(len(failed))} not done{more}")
        if by_user:
            out.append(
                f"Stopped before row {min(by_user)}: {row_count(len(by_user))} "
                f"{either(len(by_user), 'was', 'were')} not sent. Run the discharge "
                "again to send them (rows already done are skipped)."
            )
        if self.halt:
            out.append(self.halt)
        if self.results_message:
            out.append(self.results_message)
        elif self.results_where:
            out.append(self.results_where)
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _row_line(outcome: Outcome) -> str:
    """``row 7: <status>``; a status that begins by naming its row ("Row 7 has …") is not prefixed again."""
    own = f"Row {outcome.row} "
    if outcome.status.startswith(own):
        return f"  row {outcome.row} {outcome.status[len(own) :]}"
    return f"  row {outcome.row}: {outcome.status}"


def _listed(outcomes: list[Outcome], shown: int, head: str) -> list[str]:
    if not outcomes:
        return []
    rows = sorted(outcomes, key=lambda o: o.row)
    out = [head, *(_row_line(o) for o in rows[:shown])]
    if len(rows) > shown:
        out.append(f"  … and {len(rows) - shown:,} more")
    return out


def read_tables(
    items_path: str | os.PathLike[str], locations_path: str | os.PathLike[str], *, sheet: str | None = None
) -> tuple[Table, Table]:
    """Read the items export and the locations table (InputError with the fix when either is unusable)."""
    grid = read_grid(items_path, sheet=sheet)
    try:
        items = find_table(grid, ITEM_COLUMNS)
    except InputError as error:
        if sheet is not None or grid.sheet is None:
            raise
        raise InputError(f"{error}{_other_sheets_hint(Path(items_path), grid.sheet)}") from None
    locations = find_table(read_grid(locations_path), LOCATION_COLUMNS)
    return items, locations


def _other_sheets_hint(path: Path, read: str) -> str:
    """When the sheet read by default holds no table: which sheet that was and the workbook's others."""
    try:
        with zipfile.ZipFile(path) as archive:
            sheets, _ = workbook_sheets(archive)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError, SyntaxError):
        return ""
    others = [f"'{i.name}'" for i in sheets if i.name != read and not i.hidden and not i.is_chart]
    if not others:
        return ""
    return (
        f" (That is sheet '{read}', the one shown when the workbook was saved; it also has "
        f"{', '.join(others)}: name the sheet that holds the items with --sheet.)"
    )


#: headers of the column whose date tells when the row's loan began (Analytics: "Loan Date")
LOAN_DATE_HEADERS = ("loandate", "loandatetime", "loantime")
_DAY = 24 * 3600


def loan_moments(items: Table) -> dict[int, float]:
    """Row -> the latest moment its Loan Date can mean (epoch seconds), for rows that have one.

    A date without a time counts as the end of that day, and a day/month that could be read either way as
    the later reading: a journal entry is then trusted only when it surely comes after the loan. A Loan Date
    written in a way not read here counts as later than any entry (:data:`math.inf`).
    """
    column = next(
        (c for c in items.frame.columns if normalise_header(items.labels.get(c, c)) in LOAN_DATE_HEADERS),
        None,
    )
    if column is None:
        return {}
    moments: dict[int, float] = {}
    texts = items.text(column).tolist()
    for row, value, text in zip(items.rows.tolist(), items.frame[column].tolist(), texts, strict=True):
        moment = _latest_moment(value)
        if moment is not None:
            moments[int(row)] = moment
        elif text.strip():
            # a date written in a way not read here ("01 Dec 2026"): it may be after any entry, so the
            # entry is not trusted and the item's loans are read first (one call) rather than the row skipped
            moments[int(row)] = math.inf
    return moments


#: how a Loan Date may be written: ISO first (never ambiguous), then day and month either way
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)


def _readings(text: str) -> list[dt.datetime]:
    """Every reading of a date text (an ISO date has one; 03/04/2026 has two)."""
    found = []
    for form in _DATE_FORMATS:
        try:
            found.append(dt.datetime.strptime(text, form))
        except ValueError:
            continue
        if form.startswith("%Y"):
            break
    return found


def _latest_moment(value: object) -> float | None:
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime.combine(value, dt.time())
    else:
        found = _readings(str(value or "").strip())
        if not found:
            return None
        stamp = max(found)
    if stamp.tzinfo is None and stamp.time() == dt.time():
        stamp += dt.timedelta(seconds=_DAY - 1)  # a date alone: the loan may have begun late that day
    return stamp.timestamp()


def _shorten(text: str, length: int = 40) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def describe_address(
    base_url: str | None, region: str | None, *, base_url_setting: str = "--base-url"
) -> str:
    """Which setting chose the Alma host, for the message when it cannot be reached."""
    if base_url:
        return f"the address comes from {base_url_setting}"
    if region:
        return f"the address comes from the region setting ({region})"
    return f"the address comes from the {BASE_URL_ENV} environment variable"


class DischargeSession:
    """One discharge of one items table: plan now, :meth:`run` (or :meth:`dry_run_lines`) later.

    ``run_folder``: where the journal lives (``<file name>.alma-run`` beside a file; the Excel face uses the
    workbook's). ``legacy_folder``: an old stem-named run folder to read as evidence (see the journal).
    """

    def __init__(
        self,
        items: Table,
        locations: Table,
        options: DischargeOptions,
        run_folder: str | os.PathLike[str],
        *,
        name: str | None = None,
        legacy_folder: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.items = items
        self.locations = locations
        self.options = options
        self.run_folder = Path(run_folder)
        self.legacy_folder = Path(legacy_folder) if legacy_folder is not None else None
        self.name = name or items.source
        self.clock = clock
        self.plan: Plan = make_plan(items, locations, options)

    @classmethod
    def from_files(
        cls,
        items_path: str | os.PathLike[str],
        locations_path: str | os.PathLike[str],
        options: DischargeOptions,
        *,
        clock: Callable[[], float] = time.time,
    ) -> DischargeSession:
        """The session of an items file (its sheet ``options.sheet``): the run folder beside it, named after
        the whole file name."""
        items, locations = read_tables(items_path, locations_path, sheet=options.sheet)
        name = Path(items_path).name
        return cls(
            items,
            locations,
            options,
            run_folder_for(items_path),
            name=f"{name}, sheet '{items.sheet}'" if items.sheet else name,
            legacy_folder=legacy_run_folder_for(items_path),
            clock=clock,
        )

    # -- what the faces show before a run ----------------------------------------------------------------
    def reading_notes(self) -> list[str]:
        """What the reader noticed (merged cells, footers, rows set aside), in plain lines; a row set aside
        that a note already names is not said twice."""
        notes = [str(note) for note in self.items.notes]
        for row, why in self.items.set_aside:
            if not any(note.startswith(f"Row {row} ") for note in notes):
                notes.append(f"Row {row} set aside (not data, left as it is): {why}")
        return notes

    def dry_run_lines(self, key_source: str | None = None) -> list[str]:
        """The plan, what the reader noticed, where the key comes from; no call is made.

        InputError, as for a run, when a ``done``/``status`` column holds the user's own notes.
        """
        self.check_user_columns()
        lines = [f"Plan for {self.name}:", *self.plan.summary().lines(), *self.reading_notes()]
        lines.append(key_source if key_source is not None else describe_key_source())
        lines.append("Dry run: nothing was sent to Alma.")
        return lines

    # -- the user's columns -------------------------------------------------------------------------------
    def _result_columns(self) -> dict[str, str]:
        """``{"done"|"status": frame column}`` of the result columns the items table already has."""
        frame_columns = list(self.items.frame.columns)
        found = find_result_columns([self.items.label(str(c)) for c in frame_columns])
        return {
            name: str(frame_columns[index])
            for name, index in ((DONE_HEADER, found.done), (STATUS_HEADER, found.status))
            if found.exists(name)
        }

    def _known_columns(self) -> set[str]:
        """The result columns (``done``, ``status``) earlier runs of this input wrote into."""
        known: set[str] = set()
        for folder in (self.run_folder, self.legacy_folder):
            if folder is None:
                continue
            with contextlib.suppress(OSError, ValueError, TypeError):
                known.update(str(n) for n in json.loads((folder / COLUMNS_NAME).read_text("utf-8")))
        return known

    def check_user_columns(self) -> None:
        """Refuse, before any call, a ``done``/``status`` column that holds the user's own notes.

        A column is ours when every cell is empty or a text Alma Tools writes, or when a run folder of this
        input records that a run wrote into it.
        """
        known = self._known_columns()
        columns = self._result_columns()
        for name, column in columns.items():
            if name in known:
                continue
            ours = is_our_status if name == STATUS_HEADER else is_our_done
            texts = self.items.text(column)
            self._refuse_notes(column, texts[~texts.map(ours)])
        if DONE_HEADER in columns and DONE_HEADER not in known:
            self._refuse_notes(columns[DONE_HEADER], self._marks_without_status(columns))

    def _marks_without_status(self, columns: dict[str, str]) -> pd.Series:
        """The ``done`` cells marked true with no status beside them: Alma Tools writes both together, so
        such marks are the user's own (a "Done: yes" column of theirs), not rows an earlier run scanned."""
        marks = self.items.text(columns[DONE_HEADER])
        marked = marks.map(is_true_word).astype(bool)
        if STATUS_HEADER in columns:
            marked &= self.items.text(columns[STATUS_HEADER]).str.strip() == ""
        return marks[marked]

    def _refuse_notes(self, column: str, theirs: pd.Series) -> None:
        """InputError naming the first of ``theirs`` (cells of ``column`` Alma Tools did not write)."""
        if theirs.empty:
            return
        row = int(self.items.rows[theirs.index[0]])
        note = _shorten(theirs.iloc[0])
        raise InputError(
            f"Column '{self.items.label(column)}' already holds your own notes (row {row}: '{note}'): rename "
            "or move it, then run again"
        )

    def _remember_columns(self) -> None:
        """Record in the run folder that runs of this input write ``done`` and ``status`` (before they do)."""
        known = sorted(self._known_columns() | {DONE_HEADER, STATUS_HEADER})
        self.run_folder.mkdir(parents=True, exist_ok=True)
        atomic_write(self.run_folder / COLUMNS_NAME, json.dumps(known).encode("utf-8"))

    # -- the run -----------------------------------------------------------------------------------------
    def _journal(self) -> Journal:
        return Journal(self.run_folder, legacy=self.legacy_folder, clock=self.clock)

    def run(
        self,
        make_sink: Callable[[], ResultSink],
        make_client: ClientFactory,
        *,
        stop: threading.Event | None = None,
        progress: ProgressCallback | None = None,
        key_source: str | None = None,
        address: str = "",
    ) -> RunReport:
        """Discharge every row; results go to the sink ``make_sink()`` opens (before the preflight, so a
        file that cannot take results is found first; see :class:`ResultSink`).

        ``key_source`` and ``address`` go into the preflight's message (where the key came from, which
        setting chose the host); the defaults describe the key lookup and name no setting.
        """
        stop = stop or threading.Event()
        started = time.monotonic()
        self.check_user_columns()
        left_out = self.plan.summary().left_out_lines()  # hidden rows, missing desks: as the dry run says
        report = RunReport(self.name, total=len(self.plan.rows), notes=[*left_out, *self.reading_notes()])
        with self._journal() as journal:
            sorted_out = triage(self.plan, journal, loan_moments(self.items))
            sink = make_sink()
            try:
                execution = self._execute(
                    report,
                    sink,
                    sorted_out,
                    journal,
                    make_client,
                    stop,
                    progress,
                    key_source=key_source,
                    address=address,
                )
            finally:
                report.results_message = sink.close()
                report.results_written = getattr(sink, "error", report.results_message) is None
            report.halt = execution.halt_status
            if journal.answers_lost:
                report.notes.append(
                    f"{journal.answers_lost:,} of Alma's answers could not be kept in {ANSWERS_NAME} (is the "
                    "disk full?); the results and the journal are complete."
                )
            settled = not any(o.kind in ("unknown", "stopped") for o in report.failed)
            if settled and report.results_written:
                report.finished = journal.finish(prow.key for prow, _, _ in sorted_out.work)
        report.elapsed = time.monotonic() - started
        return report

    def _execute(
        self,
        report: RunReport,
        sink: ResultSink,
        sorted_out: Triage,
        journal: Journal,
        make_client: ClientFactory,
        stop: threading.Event,
        progress: ProgressCallback | None,
        *,
        key_source: str | None,
        address: str,
    ) -> Execution:
        """The client, the preflight, the rows on worker threads; the client closed whatever happens."""
        client = make_client(journal.save_answer) if sorted_out.work else None
        try:
            if client is not None:
                preflight(client, key_source=key_source, address=address)
                self._remember_columns()
            execution = Execution(sorted_out.work, client, journal, self.options, stop)
            self._feed(report, sink, sorted_out.settled, execution, progress)
        finally:
            if client is not None:
                client.close()
        return execution

    def _feed(
        self,
        report: RunReport,
        sink: ResultSink,
        settled: list[Outcome],
        execution: Execution,
        progress: ProgressCallback | None,
    ) -> None:
        """Hand every outcome to the report, and to the sink unless its row is left as it is: hidden rows,
        and rows Alma never saw (unreachable, or after lost contact: the summary says once why)."""
        for finished, outcome in enumerate(_chain(settled, execution), start=1):
            report.record(outcome)
            if not (outcome.left_alone or execution.not_reached(outcome)):
                sink.record(outcome)
            if progress is not None:
                progress(finished, report.total)


def _chain(settled: list[Outcome], execution: Execution) -> Iterator[Outcome]:
    yield from settled
    yield from execution


@contextmanager
def _quick(client: ScanClient) -> Iterator[None]:
    """The preflight's short connect timeout and few tries (the client's own settings afterwards)."""
    saved = client.timeout, client.retry
    client.timeout = PREFLIGHT_TIMEOUT
    client.retry = dataclasses.replace(client.retry, connect_attempts=PREFLIGHT_CONNECT_TRIES)
    try:
        yield
    finally:
        client.timeout, client.retry = saved


def preflight(client: ScanClient, *, key_source: str | None = None, address: str = "") -> None:
    """One call that proves the key may write (``POST /bibs/test``); :class:`PreflightError` if not.

    Nothing else has been sent and the results file is untouched when this raises.
    """
    host = urlsplit(client.base_url).hostname or "the configured address"
    untouched = "No item was scanned and the file is unchanged."
    try:
        with _quick(client):
            client.test_key(write=True)
    except alma_errors.AuthError as error:
        source = key_source if key_source is not None else describe_key_source()
        raise PreflightError(
            f"Alma refused the API key: {error.message}. {source} Check the key (a discharge needs Bibs "
            f"read/write) and run again. {untouched}"
        ) from None
    except alma_errors.ConnectionFailed as error:
        where = f" ({address})" if address else ""
        raise PreflightError(
            f"{error.message}{where}. Check the address and the network, then run again; "
            "the file is unchanged."
        ) from None
    except alma_errors.DailyLimitError as error:
        raise PreflightError(f"{error} {untouched}") from None
    except (alma_errors.OutcomeUnknown, alma_errors.ServerError) as error:
        raise PreflightError(
            f"Alma at {host} did not answer the key check ({error.message}): run again later. {untouched}"
        ) from None
    except alma_errors.AlmaError as error:
        raise PreflightError(f"Alma refused the key check at {host}: {error}. {untouched}") from None
