"""Reading sheets into plain rows and writing results back through xlwings, in few, retried writes.

Why this module exists: every call into Excel crosses a process boundary (COM), so a write per cell would
make a 5,000-row run slow and would fight the person using Excel for the UI thread. The rules here:

- **Reads** take a sheet's values once, from A1 to the last used cell, as plain Python rows (the cores never
  see an xlwings object; see :func:`sheet_rows`).
- **Writes** go through :class:`BatchWriter`, which collects per-row updates (done, status, highlight) and
  writes them as contiguous blocks at most every ``interval`` seconds. Text always passes through
  :func:`alma_tools.cells.safe_text`, so a title or an Alma message never becomes a formula.
- **Excel busy** (a cell in edit mode, a modal dialog) makes COM reject calls with ``RPC_E_CALL_REJECTED`` or
  ``VBA_E_IGNORE``. Those writes are retried with backoff; an update is dropped from the queue only once its
  block was written, so nothing is lost while Excel is busy.
- The **status bar** shows count, rate and time left; engines without one (the remote engine in tests) are
  skipped silently.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alma_tools.cells import safe_text
from alma_tools.discharge.results import find_result_columns
from alma_tools.errors import AlmaToolsError

log = logging.getLogger("alma_tools.excel")

#: COM's "call rejected by callee": Excel is busy (a cell in edit mode, a dialog open); call again later
RPC_E_CALL_REJECTED = -2147418111
#: COM's "exception occurred": the reason is in ``excepinfo[5]`` (its scode)
DISP_E_EXCEPTION = -2147352567
#: Excel's "ignored while busy" (0x800AC472), which reaches Python as DISP_E_EXCEPTION with this scode
VBA_E_IGNORE = -2146777998

#: fill for rows that need a person (items in transit, on the hold shelf, unknown outcomes)
NEEDS_PERSON_FILL = "#FFE699"
#: fill for cells the Check found a problem in
PROBLEM_FILL = "#F8CBAD"

#: two runs of pending rows closer than this are written as one block (the gap rewritten with known values)
MAX_GAP = 40


def is_busy_error(error: BaseException) -> bool:
    """True when ``error`` is COM saying Excel is busy (found without importing pywin32: Linux has none).

    pywin32 raises ``com_error(hresult, strerror, excepinfo, argerror)``: ``RPC_E_CALL_REJECTED`` as the
    hresult, or ``VBA_E_IGNORE`` as the scode (``excepinfo[5]``) of a ``DISP_E_EXCEPTION``. Any other
    ``DISP_E_EXCEPTION`` is a real refusal by Excel (a bad sheet name, a protected cell), not "busy".
    xlwings' own ``ExcelBusyError`` (raised when its retries ran out) is busy too.
    """
    if type(error).__name__ == "ExcelBusyError":
        return True
    args = error.args
    shaped = len(args) == 4 and isinstance(args[0], int)  # pywintypes.com_error's own shape
    hresult = getattr(error, "hresult", args[0] if shaped else None)
    if hresult in (RPC_E_CALL_REJECTED, VBA_E_IGNORE):
        return True
    if hresult != DISP_E_EXCEPTION:
        return False
    excepinfo = getattr(error, "excepinfo", args[2] if shaped else None)
    return isinstance(excepinfo, tuple) and len(excepinfo) > 5 and excepinfo[5] == VBA_E_IGNORE


def sheet_rows(sheet: Any) -> list[list[Any]]:
    """All values of ``sheet`` from A1 to its last used cell, as rows (row 1 of the list is sheet row 1).

    Starting at A1 (not at the used range's corner) keeps list positions equal to sheet rows and columns,
    which the row numbers in every message rely on.
    """
    last = sheet.used_range.last_cell
    values = sheet.range((1, 1), (last.row, last.column)).options(ndim=2).value
    return [list(row) for row in values]


def set_status_bar(app: Any, text: str | bool) -> bool:
    """Show ``text`` in Excel's status bar (``False`` gives it back to Excel); True when it was shown.

    Cosmetic, so never fatal: the remote engine has no status bar (``NotImplementedError``), a busy Excel
    may reject the call, and a closed workbook leaves nothing to show it in. The failure is logged and
    the run goes on.
    """
    try:
        app.status_bar = text
    except NotImplementedError:
        return False
    except Exception as error:
        if not is_busy_error(error):
            log.warning("the status bar could not be set: %s", error)
        return False
    return True


def progress_text(done: int, total: int, rate: float | None) -> str:
    """The status bar line: "Alma Tools: 1,240 of 5,000 scanned in · 21/s · about 3 min left"."""
    text = f"Alma Tools: {done:,} of {total:,} scanned in"
    if rate and rate > 0:
        text += f" · {rate:.0f}/s"
        left = (total - done) / rate
        if done < total:
            text += f" · about {_duration(left)} left"
    return text


def _duration(seconds: float) -> str:
    """Seconds as a person would say them: "40 s", "3 min", "1 h 20 min"."""
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


class RateMeter:
    """Rows per second over the last ``window`` seconds: a recent rate gives an honest time left."""

    def __init__(self, window: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._marks: list[tuple[float, int]] = []

    def mark(self, count: int) -> None:
        """Record that ``count`` rows are finished now."""
        now = self._clock()
        self._marks.append((now, count))
        while len(self._marks) > 2 and now - self._marks[0][0] > self._window:
            self._marks.pop(0)

    @property
    def rate(self) -> float | None:
        """Rows per second, or None before two marks a little apart exist."""
        if len(self._marks) < 2:
            return None
        (t0, c0), (t1, c1) = self._marks[0], self._marks[-1]
        return (c1 - c0) / (t1 - t0) if t1 - t0 >= 0.5 else None


@dataclass(frozen=True)
class ResultColumns:
    """Where the results go: the header row and the 1-based columns of ``done`` and ``status``.

    ``first`` is the table's first column: highlights span ``first`` to the right-most result column.
    ``new`` lists the headers that must be written because the sheet did not have them yet.
    """

    header_row: int
    done: int
    status: int
    first: int = 1
    new: tuple[tuple[int, str], ...] = ()

    @property
    def last(self) -> int:
        """Right-most column the results touch (for highlights)."""
        return max(self.done, self.status)


def result_columns(rows: Sequence[Sequence[Any]], header_row: int) -> ResultColumns:
    """Find the ``done`` and ``status`` columns in the header row, or place them right of the data.

    :func:`alma_tools.discharge.results.find_result_columns` decides (the command line's finder too), so a
    rerun updates the columns it wrote before, never adds a second pair; new columns go right of the
    right-most cell holding anything, so a note in a column with no header is never covered.
    """
    header = list(rows[header_row - 1]) if 0 < header_row <= len(rows) else []
    used = [i for i, cell in enumerate(header, start=1) if _holds(cell)]
    first_free = max((_last_used(row) for row in rows), default=0)
    found = find_result_columns(header, first_free=first_free)
    new = tuple((found.width + 1 + i, name) for i, name in enumerate(found.added))
    return ResultColumns(header_row, found.done + 1, found.status + 1, used[0] if used else 1, new)


def _last_used(row: Sequence[Any]) -> int:
    """1-based column of the row's right-most cell holding a value (0 for an empty row)."""
    return max((i for i, cell in enumerate(row, start=1) if _holds(cell)), default=0)


def _holds(cell: Any) -> bool:
    """True when a cell holds something a person can see (not empty, not only spaces)."""
    return cell is not None and str(cell).strip() != ""


@dataclass(frozen=True)
class Block:
    """One write: ``values`` ([done, status] per row) from sheet row ``first_row``, and rows to highlight."""

    first_row: int
    values: list[list[Any]]
    highlight: tuple[tuple[int, int], ...] = ()

    @property
    def last_row(self) -> int:
        """Sheet row of the block's last value row."""
        return self.first_row + len(self.values) - 1


class SheetChanged(AlmaToolsError):
    """The rows moved under the run (sorted, rows added or removed, ids edited): nothing more is written."""


@dataclass(frozen=True)
class RowGuard:
    """What each data row's key cell held when the sheet was read: ``expected`` by sheet row, ``column``.

    Before a block is written its rows' key cells are read again (one read per block); if any differs,
    the results would land on other items' rows, so :class:`SheetChanged` is raised instead.
    """

    column: int
    expected: dict[int, Any]

    def check(self, sheet: Any, first: int, last: int) -> None:
        now = sheet.range((first, self.column), (last, self.column)).options(ndim=2).value
        for offset, row in enumerate(now):
            number = first + offset
            if number in self.expected and _same(row[0], self.expected[number]) is False:
                raise SheetChanged(
                    f"The sheet was sorted or edited during the run (row {number} no longer holds the item "
                    "it held): Alma Tools stopped writing so that no result lands on the wrong row. Every "
                    "scan is kept in the journal: press Discharge again to fill in the results (nothing "
                    "is scanned twice)."
                )


def _same(now: Any, then: Any) -> bool:
    empty = (None, "")
    if now in empty and then in empty:
        return True
    return bool(now == then)


class SheetWriter:
    """Writes :class:`Block` s into one sheet: one values write per block, one fill per highlighted run.

    Kept apart from :class:`BatchWriter` so a test can put a failing writer in its place, and so the
    background thread builds it from *its own* book object (xlwings objects never cross threads).
    """

    def __init__(self, sheet: Any, columns: ResultColumns, guard: RowGuard | None = None) -> None:
        self.sheet = sheet
        self.columns = columns
        self.guard = guard
        self.writes = 0
        self._headers_written = False

    def write_headers(self) -> None:
        """Write the ``done``/``status`` headers the sheet did not have yet (bold, like a header), once."""
        if self._headers_written:
            return
        self._headers_written = True
        for column, name in self.columns.new:
            cell = self.sheet.range((self.columns.header_row, column))
            cell.value = name
            cell.font.bold = True
            self.writes += 1

    def __call__(self, block: Block) -> None:
        """Write one block (its rows' key cells checked first, then values, then its highlights)."""
        if self.guard is not None:
            self.guard.check(self.sheet, block.first_row, block.last_row)
        self.write_headers()
        done_col, status_col = self.columns.done, self.columns.status
        if status_col == done_col + 1:
            self.sheet.range((block.first_row, done_col)).value = block.values
            self.writes += 1
        else:
            self.sheet.range((block.first_row, done_col)).value = [[row[0]] for row in block.values]
            self.sheet.range((block.first_row, status_col)).value = [[row[1]] for row in block.values]
            self.writes += 2
        for first, last in block.highlight:
            self.sheet.range((first, self.columns.first), (last, self.columns.last)).color = NEEDS_PERSON_FILL
            self.writes += 1


@dataclass
class _Pending:
    values: dict[int, list[Any]] = field(default_factory=dict)
    highlight: set[int] = field(default_factory=set)


class BatchWriter:
    """Coalesces per-row results into contiguous blocks and writes them at most every ``interval`` seconds.

    ``add`` may be called from any thread; ``flush``/``flush_due``/``close`` only from the thread that owns
    the sheet. ``known`` holds the current done/status of every row (read from the sheet at the start), so
    a small gap between two runs of new results is rewritten with what is already there instead of costing
    a second write. An update leaves the queue only after its block was written: a busy Excel delays rows,
    never loses them.
    """

    def __init__(
        self,
        write: Callable[[Block], None],
        known: dict[int, list[Any]] | None = None,
        interval: float = 0.75,
        busy_patience: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self._write = write
        self._ready = ready
        self._known = dict(known or {})
        self._interval = interval
        self._patience = busy_patience
        self._clock = clock
        self._sleep = sleep
        self._pending = _Pending()
        self._lock = threading.Lock()
        self._last_flush = -float("inf")
        self.busy_retries = 0
        self.not_ready = 0

    def add(self, row: int, done: bool, status: str, highlight: bool = False) -> None:
        """Queue the result of one sheet row (a later result for the same row replaces an earlier one)."""
        with self._lock:
            self._pending.values[row] = [True if done else None, safe_text(status)]
            if highlight:
                self._pending.highlight.add(row)

    @property
    def pending(self) -> int:
        """How many rows wait to be written."""
        with self._lock:
            return len(self._pending.values)

    def flush_due(self) -> bool:
        """Flush if ``interval`` has passed since the last flush; True when everything is written."""
        if self._clock() - self._last_flush < self._interval:
            return self.pending == 0
        if not self._ready():
            self.not_ready += 1  # a cell is being edited or a dialog is open: try at the next result
            return False
        return self.flush()

    def flush(self, patience: float | None = None) -> bool:
        """Write every pending row now, retrying busy failures for up to ``patience`` seconds.

        Returns True when nothing is left pending; False when Excel stayed busy (the rows stay queued).
        ``Application.Ready`` (the ``ready`` callable) is waited for within the same patience first.
        """
        self._last_flush = self._clock()
        with self._lock:
            values = dict(self._pending.values)
            highlight = set(self._pending.highlight)
        if not values:
            return True
        if not self._wait_ready(self._patience if patience is None else patience):
            return False
        for block in plan_blocks(values, highlight, self._known):
            if not self._write_with_retry(block, self._patience if patience is None else patience):
                return False
            written = range(block.first_row, block.last_row + 1)
            with self._lock:
                for row in written:
                    self._known[row] = block.values[row - block.first_row]
                    # a newer result that arrived during the write stays queued
                    if self._pending.values.get(row) == values.get(row, object()):
                        del self._pending.values[row]
                self._pending.highlight -= {r for r in highlight if r in written}
        return self.pending == 0

    def close(self, patience: float = 30.0) -> bool:
        """Final flush, patient with a busy Excel; True when every result reached the sheet."""
        return self.flush(patience=patience)

    def _wait_ready(self, patience: float) -> bool:
        """Wait (sleeping) until Excel says it is ready, for up to ``patience`` seconds."""
        deadline = self._clock() + patience
        while not self._ready():
            self.not_ready += 1
            if self._clock() + 0.1 > deadline:
                return False
            self._sleep(0.1)
        return True

    def _write_with_retry(self, block: Block, patience: float) -> bool:
        deadline = self._clock() + patience
        delay = 0.05
        while True:
            try:
                self._write(block)
                return True
            except Exception as error:
                if not is_busy_error(error):
                    raise
                self.busy_retries += 1
                if self._clock() + delay > deadline:
                    return False
                self._sleep(delay)
                delay = min(delay * 2, 1.0)


def plan_blocks(
    values: dict[int, list[Any]],
    highlight: Iterable[int],
    known: dict[int, list[Any]],
    max_gap: int = MAX_GAP,
) -> list[Block]:
    """Group pending rows into contiguous blocks, bridging small gaps with the rows' known values.

    Results arrive a little out of order (worker threads), so bridging gaps of up to ``max_gap`` rows turns
    a scatter of rows into one write. Highlighted rows become runs of consecutive rows (one fill each).
    """
    rows = sorted(values)
    blocks: list[Block] = []
    marked = sorted(set(highlight))
    start = prev = rows[0]
    for row in [*rows[1:], None]:
        if row is not None and row - prev <= max_gap + 1:
            prev = row
            continue
        block_values = [values.get(r, known.get(r, [None, None])) for r in range(start, prev + 1)]
        blocks.append(Block(start, block_values, runs(r for r in marked if start <= r <= prev)))
        if row is not None:
            start = prev = row
    return blocks


def runs(rows: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Sorted rows as (first, last) runs of consecutive numbers: one range (one write) per run."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return tuple(runs)


def known_results(rows: Sequence[Sequence[Any]], columns: ResultColumns) -> dict[int, list[Any]]:
    """The done/status already in the sheet, by sheet row (used to bridge gaps without changing them)."""
    known: dict[int, list[Any]] = {}
    for number in range(columns.header_row + 1, len(rows) + 1):
        row = rows[number - 1]
        done = row[columns.done - 1] if columns.done <= len(row) else None
        status = row[columns.status - 1] if columns.status <= len(row) else None
        known[number] = [done if done not in ("", None) else None, safe_text(status) if status else None]
    return known


def frame_values(frame: Any, blank: Any = None) -> list[list[Any]]:
    """A DataFrame as header + rows of plain Python values for one write (or a UDF's spill).

    Column by column (not cell by cell): datetimes become ``datetime``, missing values ``blank``, numpy
    numbers Python numbers, and text passes through :func:`safe_text` so it can never run as a formula.
    """
    import pandas as pd

    columns: list[list[Any]] = []
    for name in frame.columns:
        column = frame[name]
        missing = column.isna().to_numpy()
        if pd.api.types.is_datetime64_any_dtype(column):
            naive = column.dt.tz_localize(None) if column.dt.tz is not None else column
            values = list(naive.dt.to_pydatetime())
        elif pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            values = column.to_numpy(dtype=object).tolist()
            values = [v.item() if hasattr(v, "item") else v for v in values]
        else:
            values = [_plain(v) for v in column.to_numpy(dtype=object)]
        columns.append([blank if gone else value for value, gone in zip(values, missing, strict=True)])
    header = [safe_text(str(name)) for name in frame.columns]
    return [header, *(list(row) for row in zip(*columns, strict=True))]


def _plain(value: Any) -> Any:
    """One value of a text/mixed column as a cell takes it: text kept out of formulas, other types kept."""
    if isinstance(value, str):
        return safe_text(value)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp (a datetime subclass xlwings may not expect)
        return value.to_pydatetime()
    if isinstance(value, (bool, int, float, dt.datetime, dt.date, dt.time)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return safe_text(str(value))
