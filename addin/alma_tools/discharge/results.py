"""Writing ``done`` and ``status`` back into the user's own file (command line only).

The file is the user's record of the run, so the only change is the two columns: every other byte of a CSV
(encoding and BOM, delimiter, quoting, line endings, title and footer rows, cells of rows with more cells
than the header) and every other part and cell of a workbook stays as it was. The reader
(:mod:`alma_tools.tables`) decided how the file is written — its dialect, its header row, where each
record starts — and this module reuses that decision: it never detects an encoding or a delimiter itself.

* CSV: the two cells are inserted into each record's text, right after the header's last column (an
  existing ``done``/``status`` column is updated in place instead), and the file is encoded again in its own
  encoding. A status that encoding cannot hold (a title with "ł" in a cp1252 file) sends all results to
  ``<name>.results.csv`` (UTF-8 with a BOM) and leaves the file as it was.
* XLSX/XLSM (whatever the file is named): only the worksheet part is patched
  (:mod:`alma_tools.xlsx_patch`); ``done`` is a TRUE cell, ``status`` an inline string.

Every write replaces the file atomically (:func:`alma_tools.files.atomic_write`): a kill at any moment
leaves the old or the new file, never half of one; the journal holds the truth in between. A copy of the
untouched input is kept as ``<name>.original<ext>`` by the first run.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import os
import re
import shutil
import stat
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alma_tools import files, xlsx_patch
from alma_tools.cells import safe_text
from alma_tools.discharge.outcomes import Outcome
from alma_tools.errors import InputError
from alma_tools.tables import normalise_header

DONE_HEADER = "done"
STATUS_HEADER = "status"
#: the least time between two saves while a run goes on (seconds)
SAVE_INTERVAL = 5.0
#: a save may take at most this share of the run's time: a slow save waits longer before the next one
SAVE_SHARE = 0.02
#: widths (characters) given to new columns in a workbook
XLSX_WIDTHS = {DONE_HEADER: 7.0, STATUS_HEADER: 60.0}

Results = dict[int, tuple[bool, str]]


def original_copy_path(path: Path) -> Path:
    """Where the first run keeps the untouched input: ``items.original.csv`` beside ``items.csv``."""
    return path.with_name(f"{path.stem}.original{path.suffix}")


def sibling_results_path(path: Path) -> Path:
    """Where results go when the file cannot hold them: ``items.results.csv`` beside ``items.csv``."""
    return path.with_name(f"{path.stem}.results.csv")


# ---------------------------------------------------------------------------------------------------------
# The one finder of the done/status columns
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultColumns:
    """Where ``done`` and ``status`` are, 0-based, counting the columns that will be added.

    ``added`` names the columns the header does not have yet, in order; they go at ``width`` and after
    (``width`` is the first free column: right of the header's last cell, or of the widest row).
    """

    done: int
    status: int
    added: tuple[str, ...]
    width: int

    def exists(self, name: str) -> bool:
        """True when the header already has that column (``"done"`` or ``"status"``)."""
        return name not in self.added


def find_result_columns(header: Sequence[Any], *, first_free: int | None = None) -> ResultColumns:
    """Find the ``done`` and ``status`` columns in a header row, or place them right of it.

    ``header`` is the header row's cells as read (text, numbers, None). A rerun updates the columns written
    before (headers compared as the reader matches them, :func:`alma_tools.tables.normalise_header`: any
    case, spacing or invisible marks), never adds a second pair. ``first_free`` (0-based) is
    where new columns start when something right of the header must not be covered (a workbook's cells in
    a column with no header); by default, right after the header's last non-empty cell.
    """
    keys = [normalise_header(cell) for cell in header]
    # any cell with text is the user's, even one that folds to nothing ("-"): new columns go right of it
    width = max((i + 1 for i, cell in enumerate(header) if cell is not None and str(cell).strip()), default=0)
    if first_free is not None:
        width = max(width, first_free)
    places: dict[str, int] = {}
    added: list[str] = []
    for name in (DONE_HEADER, STATUS_HEADER):
        if name in keys:
            places[name] = keys.index(name)
        else:
            places[name] = width + len(added)
            added.append(name)
    return ResultColumns(places[DONE_HEADER], places[STATUS_HEADER], tuple(added), width)


# ---------------------------------------------------------------------------------------------------------
# CSV: the reader's dialect, the records' places in the text
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvForm:
    """How a CSV file is written, as the reader recorded it (``tables.CsvDialect``): what writing needs."""

    codec: str  # Python codec of the text after the BOM ("utf-8", "utf-16-le", "cp1252", "mac_roman", …)
    bom: bytes  # the BOM bytes the file starts with (b"" for none)
    delimiter: str
    quote_all: bool  # every cell quoted (the new cells are then quoted too)
    record_starts: tuple[int, ...]  # offset in the text (after the BOM) where each record starts
    record_lines: tuple[int, ...]  # the line each record starts on: the row number outcomes carry
    lossless: bool  # the text encodes back to the file's bytes


def csv_form(table: Any, raw: bytes) -> CsvForm:
    """The form of the CSV ``table`` was read from: the reader's dialect, or the reader's own reading."""
    dialect = getattr(table, "dialect", None)
    if dialect is None:  # a table made by hand from a file: the reader decides, the same way as for any
        from alma_tools.tables.dialect import parse_csv

        dialect = parse_csv(raw, "file")[2]
    return CsvForm(
        codec=str(dialect.encoding),
        bom=bytes(dialect.bom),
        delimiter=str(dialect.delimiter),
        quote_all=dialect.quoting == csv.QUOTE_ALL,
        record_starts=tuple(dialect.record_starts),
        record_lines=tuple(dialect.record_lines),
        lossless=bool(dialect.lossless),
    )


class CsvText:
    """The file's text with each record's place: start, end of its cells (before the line end), cell count.

    The records are the reader's (:attr:`CsvForm.record_starts`), numbered by the line each starts on
    the way the reader numbers rows, so the row numbers of outcomes find their records here.
    """

    def __init__(self, raw: bytes, form: CsvForm, header_row: int) -> None:
        self.form = form
        body = raw[len(form.bom) :]
        self.text = body.decode(form.codec, errors="strict" if form.lossless else "replace")
        self.starts = list(form.record_starts)
        self.by_row = {line: index for index, line in enumerate(form.record_lines)}
        self.ends = [self._content_end(i) for i in range(len(self.starts))]
        delimiter = re.escape(form.delimiter)
        self._cell_re = re.compile(rf'"(?:[^"]|"")*"[^{delimiter}]*|[^{delimiter}]*')
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=form.delimiter)
        self.widths = [len(record) for record in reader]  # cells in each record
        if len(self.widths) != len(self.starts):
            raise ValueError("the file is not the one that was read (its records differ)")
        index = self.by_row.get(header_row)
        self.header: list[str] = []
        if index is not None:
            header_text = self.text[self.starts[index] : self.ends[index]]
            self.header = next(csv.reader([header_text], delimiter=form.delimiter), [])

    def _content_end(self, index: int) -> int:
        """Where record ``index``'s cells end: before its line end (next record's start, or text's end)."""
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.text)
        if self.text.endswith("\r\n", 0, end):
            return end - 2
        if end and self.text[end - 1] in "\r\n":
            return end - 1
        return end

    def record(self, row: int) -> int | None:
        """Index of the record starting on line ``row`` (None when no record starts there)."""
        return self.by_row.get(row)

    def cell_spans(self, index: int) -> list[tuple[int, int]]:
        """Start and end offset of each cell of record ``index``, quotes included."""
        start, end = self.starts[index], self.ends[index]
        spans: list[tuple[int, int]] = []
        position = start
        while True:
            match = self._cell_re.match(self.text, position, end)
            assert match is not None  # the pattern matches the empty string
            spans.append((position, match.end()))
            if match.end() < end and self.text[match.end()] == self.form.delimiter:
                position = match.end() + 1
                continue
            return spans

    def encode(self, text: str) -> bytes:
        """Text in the file's own encoding and BOM (UnicodeEncodeError for a character it does not have)."""
        return self.form.bom + text.encode(self.form.codec)


def csv_cell(value: str, form: CsvForm) -> str:
    """One new cell's text, quoted the way the file quotes (always, or when the value needs it)."""
    if form.quote_all or any(ch in value for ch in (form.delimiter, '"', "\r", "\n")):
        return '"' + value.replace('"', '""') + '"'
    return value


class CsvResults:
    """The two columns written into a CSV's text, record by record; nothing else changes."""

    def __init__(self, raw: bytes, form: CsvForm, header_row: int, name: str) -> None:
        self.doc = CsvText(raw, form, header_row)
        header_index = self.doc.record(header_row)
        if header_index is None:
            raise InputError(f"{name} changed since it was read: its header is no longer in row {header_row}")
        self.header_row = header_row
        self.header_width = self.doc.widths[header_index]
        self.columns = find_result_columns(self.doc.header)

    def text_with(self, results: Results) -> str:
        """The whole text with the header's new cells and each row's done/status."""
        doc, form, columns = self.doc, self.doc.form, self.columns
        cells = {self.header_row: (DONE_HEADER, STATUS_HEADER)}
        for row, (done, status) in results.items():
            if row > self.header_row:
                cells[row] = ("TRUE" if done else "", str(safe_text(status)))
        pieces: list[str] = []
        position = 0
        for row in sorted(cells):
            index = doc.record(row)
            if index is None:
                continue  # the journal knows this row; the reader no longer sees a record there
            both_new = len(columns.added) == 2
            if both_new and doc.widths[index] <= columns.width:  # the usual case: append after the last cell
                end = doc.ends[index]
                pad = form.delimiter * (columns.width - max(doc.widths[index], 1))
                new = "".join(form.delimiter + csv_cell(v, form) for v in cells[row])
                pieces += [doc.text[position:end], pad, new]
                position = end
                continue
            start, end, record = self._record_with(index, cells[row], row == self.header_row)
            pieces += [doc.text[position:start], record]
            position = end
        pieces.append(doc.text[position:])
        return "".join(pieces)

    def _record_with(self, index: int, values: tuple[str, str], header: bool) -> tuple[int, int, str]:
        """Record ``index`` rebuilt from its own cell texts with the two values in their columns."""
        doc, form, columns = self.doc, self.doc.form, self.columns
        spans = doc.cell_spans(index)
        texts = [doc.text[a:b] for a, b in spans] if doc.widths[index] else []
        if len(texts) != doc.widths[index]:
            raise ValueError(
                f"the record starting at offset {doc.starts[index]} does not split into its cells"
            )
        longer = len(texts) > self.header_width
        new = {DONE_HEADER: values[0], STATUS_HEADER: values[1]}
        for name, place in ((DONE_HEADER, columns.done), (STATUS_HEADER, columns.status)):
            if columns.exists(name) and not longer:  # a longer record's cells are all the user's: kept
                texts += [""] * (place + 1 - len(texts))
                if not header:
                    texts[place] = csv_cell(new[name], form)
        if columns.added:
            texts += [""] * (columns.width - len(texts))
            texts[columns.width : columns.width] = [csv_cell(new[name], form) for name in columns.added]
        return doc.starts[index], doc.ends[index], form.delimiter.join(texts)


# ---------------------------------------------------------------------------------------------------------
# XLSX: the worksheet part patched
# ---------------------------------------------------------------------------------------------------------


class XlsxResults:
    """The two columns written into one worksheet of a workbook held in memory."""

    def __init__(self, raw: bytes, sheet: str | None, header_row: int) -> None:
        self.book = xlsx_patch.Workbook(raw)
        self.member, self.sheet_name = self.book.sheet_member(sheet)
        self.sheet = xlsx_patch.SheetXml(self.book.read(self.member))
        self.header_row = header_row
        header_xml = self._header_cells()
        width = max(header_xml, default=0)
        header = [header_xml.get(column, "") for column in range(1, width + 1)]
        self.columns = find_result_columns(header, first_free=self.sheet.max_column())
        self.header_style = self._header_style()

    def _header_cells(self) -> dict[int, str]:
        for number, row in self.sheet.rows():
            if number == self.header_row:
                shared_needed = [
                    int(v)
                    for v in re.findall(r'<(?:\w+:)?c\b[^>]*\bt="s"[^>]*>\s*<(?:\w+:)?v>(\d+)<', row.group(0))
                ]
                shared = self.book.shared_strings(max(shared_needed, default=-1)) if shared_needed else None
                return self.sheet.row_values(number, shared)
        raise xlsx_patch.WorkbookShapeError(f"the header row {self.header_row} is not in the sheet")

    def _header_style(self) -> str | None:
        """The style of the header's last cell, so the new headers look like the others (bold, fill)."""
        for number, row in self.sheet.rows():
            if number == self.header_row:
                cells = [c for c in self.sheet.cells(row) if c.column <= self.columns.width]
                return cells[-1].style if cells else None
        return None

    def workbook_with(self, results: Results) -> bytes:
        columns = self.columns
        done_col, status_col = columns.done + 1, columns.status + 1
        changes: dict[int, dict[int, xlsx_patch.Text | xlsx_patch.Flag]] = {}
        header: dict[int, xlsx_patch.Text | xlsx_patch.Flag] = {}
        for name in columns.added:
            column = done_col if name == DONE_HEADER else status_col
            header[column] = xlsx_patch.Text(name, self.header_style)
        if header:
            changes[self.header_row] = header
        for row, (done, status) in results.items():
            if row > self.header_row:
                changes[row] = {done_col: xlsx_patch.Flag(done), status_col: xlsx_patch.Text(status)}
        widths = {
            (done_col if name == DONE_HEADER else status_col): XLSX_WIDTHS[name] for name in columns.added
        }
        sheet_xml = xlsx_patch.patch_sheet(self.sheet, changes, widths)
        return self.book.with_member(self.member, sheet_xml)


# ---------------------------------------------------------------------------------------------------------
# The file
# ---------------------------------------------------------------------------------------------------------


class ResultsChanged(OSError):
    """The file was changed by someone else during the run: our write would undo their change."""


class ResultsFile:
    """One CSV or workbook (decided by its bytes, not its name) whose done/status columns are written.

    ``table`` is what the reader made of the file: its header row, sheet and (for CSV) dialect. The file is
    read once, here; every write starts from those bytes, so a write costs the patching only. Raises
    InputError, before anything is sent to Alma, when the file is open in Excel (its ``~$`` owner file
    beside it) or not what the reader read (changed in between). A read-only file is not refused here:
    the run goes on, and :class:`ResultsWriter` says how to fill the results in afterwards.
    """

    def __init__(self, path: str | os.PathLike[str], table: Any) -> None:
        self.path = Path(path)
        self.header_row = int(table.header_row)
        files.check_not_open(self.path)  # open in Excel: refused before anything is sent to Alma
        try:
            raw = self.path.read_bytes()
        except OSError as error:
            raise InputError(
                f"{self.path.name} cannot be read again to write the results ({error.strerror}): close it in "
                "other programs and run again; nothing was sent to Alma."
            ) from None
        self.original = raw
        self.is_excel = raw.startswith(b"PK\x03\x04")
        self.csv: CsvResults | None = None
        self.xlsx: XlsxResults | None = None
        try:
            if self.is_excel:
                self.xlsx = XlsxResults(raw, getattr(table, "sheet", None), self.header_row)
                self._check_same_sheet(getattr(table, "sheet", None))
            else:
                self.csv = CsvResults(raw, csv_form(table, raw), self.header_row, self.path.name)
        except (xlsx_patch.WorkbookShapeError, UnicodeError, ValueError, csv.Error) as error:
            raise InputError(
                f"{self.path.name} cannot take the results ({error}): save it again from Excel (or choose "
                "another copy) and run again; nothing was sent to Alma."
            ) from None
        self.sibling: Path | None = None  # set once results had to go beside the file
        self._stamp = self._file_stamp()

    def _check_same_sheet(self, read: str | None) -> None:
        """The results go into the sheet the items were read from, never another (a hidden first one)."""
        assert self.xlsx is not None
        if self.xlsx.sheet_name != read:
            raise InputError(
                f"{self.path.name}: the results would go into sheet '{self.xlsx.sheet_name}', not the sheet "
                f"the items were read from ({read or 'unknown'}): name the sheet with --sheet and run again; "
                "nothing was sent to Alma."
            )

    @property
    def columns(self) -> ResultColumns:
        assert self.xlsx or self.csv
        return (self.xlsx or self.csv).columns  # type: ignore[union-attr]

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return info.st_size, info.st_mtime_ns

    def keep_original(self) -> None:
        """Copy the untouched input beside it: a file with no done/status columns yet is a fresh export
        (next week's, saved under the same name), so its copy replaces an earlier one; a file that has
        them was written by a run, and the copy made before that run is kept."""
        copy = original_copy_path(self.path)
        fresh = not self.columns.exists("done") and not self.columns.exists("status")
        if fresh or not copy.exists():
            shutil.copy2(self.path, copy)

    def write(self, results: Results) -> str | None:
        """Write ``{row: (done, status)}`` into the file, atomically; a message when they went elsewhere.

        OSError when the file cannot be written (read-only, locked, changed by someone else during the run).
        """
        if not os.access(self.path, os.W_OK) or not self.path.stat().st_mode & stat.S_IWUSR:
            raise PermissionError(errno.EACCES, "the file is read-only", str(self.path))
        if self._file_stamp() != self._stamp:
            raise ResultsChanged(errno.EBUSY, "it was changed by another program during the run")
        if self.xlsx is not None:
            data = self.xlsx.workbook_with(results)
        else:
            assert self.csv is not None
            return self._write_csv(results)
        files.atomic_write(self.path, data)
        self._stamp = self._file_stamp()
        return None

    def _write_csv(self, results: Results) -> str | None:
        assert self.csv is not None
        doc = self.csv.doc
        text = self.csv.text_with(results)
        why = None
        if not doc.form.lossless:
            why = f"some of its bytes are not {doc.form.codec} text, so it cannot be written back unchanged"
        else:
            try:
                data = doc.encode(text)
            except UnicodeEncodeError as error:
                row, character = self._first_unwritable(results, doc.form.codec, error)
                why = f"its encoding ({doc.form.codec}) has no '{character}' (the status of row {row})"
        if why is None:
            files.atomic_write(self.path, data)
            self._stamp = self._file_stamp()
            return None
        return self._write_beside(text, why)

    @staticmethod
    def _first_unwritable(results: Results, codec: str, error: UnicodeEncodeError) -> tuple[int | str, str]:
        """The first row whose status the codec cannot hold, and the character, for the message."""
        for row, (_, status) in sorted(results.items()):
            for character in status:
                try:
                    character.encode(codec)
                except UnicodeEncodeError:
                    return row, character
        return "?", error.object[error.start]

    def _write_beside(self, text: str, why: str) -> str:
        """All results into ``<name>.results.csv`` (UTF-8 with BOM); the file itself back as it was."""
        sibling = sibling_results_path(self.path)
        files.atomic_write(sibling, codecs.BOM_UTF8 + text.encode("utf-8"))
        if self.sibling is None and self.path.read_bytes() != self.original:
            files.atomic_write(self.path, self.original)  # an earlier save of this run wrote into it
            self._stamp = self._file_stamp()
        self.sibling = sibling
        return (
            f"The results (done, status) are in {sibling.name}, not in {self.path.name}: {why}. "
            f"{self.path.name} is unchanged; open {sibling.name} for this run's results."
        )


class ResultsWriter:
    """Collects outcomes and saves them from its own thread, now and then and at :meth:`close`.

    A save waits at least :data:`SAVE_INTERVAL` seconds after the last one, and longer when saves are
    slow (a save takes at most :data:`SAVE_SHARE` of the time), so a large file does not cost the run its
    CPU; the journal holds every outcome in between. A file that cannot be written (open in Excel on
    Windows, read-only, changed meanwhile) does not stop the run: :meth:`close` says how to recover.
    """

    def __init__(self, target: ResultsFile, interval: float = SAVE_INTERVAL) -> None:
        self.target = target
        self.interval = interval
        self.error: str | None = None
        self.note: str | None = None
        self._results: Results = {}
        self._dirty = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._wait = interval
        self._kept_original = False
        self._thread = threading.Thread(target=self._loop, name="alma-tools-results", daemon=True)
        self._thread.start()

    def record(self, outcome: Outcome) -> None:
        with self._lock:
            self._results[outcome.row] = (outcome.done, outcome.status)
            self._dirty = True

    def _fail(self, error: BaseException) -> None:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        self.error = (
            f"Could not write the results into {self.target.path.name} ({reason}). "
            "Nothing is lost: close the file (or make it writable) and run the same command again; the "
            "journal fills in done and status without calling Alma again."
        )

    def _save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            snapshot = dict(self._results)
            self._dirty = False
        if not self._kept_original:  # at the first save, not before: a refused key leaves no trace
            try:
                self.target.keep_original()
                self._kept_original = True
            except OSError as error:
                with self._lock:
                    self._dirty = True
                self._fail(error)
                return
        started = time.thread_time()  # this thread's CPU: the workers' is not the save's
        try:
            self.note = self.target.write(snapshot)
        except Exception as error:  # any failure to save is reported, never raised: the run goes on
            with self._lock:
                self._dirty = True
            self._fail(error)
        else:
            self.error = None
        cost = time.thread_time() - started
        self._wait = max(self.interval, cost / SAVE_SHARE)

    def _loop(self) -> None:
        while not self._closing:
            self._wake.wait(self._wait)
            if not self._closing:
                self._save()

    def close(self) -> str | None:
        """Stop the thread and save what is left; a message when results are elsewhere or not written."""
        self._closing = True
        self._wake.set()
        self._thread.join()
        self._save()
        return self.error or self.note
