"""Writing ``done`` and ``status`` back into the user's own file (command line only).

The file is the user's record of the run, so it is changed as little as possible: the same encoding
(BOM kept), delimiter, quoting and line endings for CSV; other sheets and cell types kept for XLSX; title
rows above the header and footer rows left alone; ``done``/``status`` updated where those columns exist,
else added at the right of the header row. Every write goes to a temporary file in the same folder and is
renamed over the original, so a kill at any moment leaves either the old or the new file, never half of
one. A copy of the untouched input is kept as ``<name>.original<ext>`` by the first run.

A writer thread saves at most every few seconds and at the end, so workers never wait for the disk.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path

from alma_tools.cells import is_formula_like, safe_text
from alma_tools.discharge.outcomes import Outcome
from alma_tools.errors import InputError

DONE_HEADER = "done"
STATUS_HEADER = "status"
#: how often the writer thread saves while a run goes on (seconds)
SAVE_INTERVAL = 5.0
_DELIMITERS = (",", ";", "\t")


def original_copy_path(path: Path) -> Path:
    """Where the first run keeps the untouched input: ``items.original.csv`` beside ``items.csv``."""
    return path.with_name(f"{path.stem}.original{path.suffix}")


def _norm(header: object) -> str:
    return "".join(str(header or "").split()).lower()


def _atomic_replace(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        shutil.copymode(path, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultsFile:
    """One CSV or XLSX file whose ``done``/``status`` columns are written in place."""

    def __init__(self, path: str | os.PathLike[str], header_row: int, sheet: str | None = None) -> None:
        self.path = Path(path)
        self.header_row = header_row  # 1-based: line of the CSV, row of the sheet
        self.sheet = sheet
        self.is_excel = self.path.suffix.lower() in (".xlsx", ".xlsm")

    def keep_original(self) -> None:
        """Copy the untouched input beside it, once (the first run)."""
        copy = original_copy_path(self.path)
        if not copy.exists():
            shutil.copy2(self.path, copy)

    def write(self, results: dict[int, tuple[bool, str]]) -> None:
        """Write ``{row: (done, status)}`` into the file, atomically.

        A file marked read-only is respected even where the rename would replace it anyway (POSIX, or an
        administrator's account): PermissionError.
        """
        if not os.access(self.path, os.W_OK) or not self.path.stat().st_mode & stat.S_IWUSR:
            raise PermissionError(errno.EACCES, "the file is read-only", str(self.path))
        data = self._excel_bytes(results) if self.is_excel else self._csv_bytes(results)
        _atomic_replace(self.path, data)

    # -- CSV ---------------------------------------------------------------------------------------------
    def _csv_bytes(self, results: dict[int, tuple[bool, str]]) -> bytes:
        raw = self.path.read_bytes()
        if raw.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
        elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            encoding = "utf-16"
        else:
            try:
                raw.decode("utf-8")
                encoding = "utf-8"
            except UnicodeDecodeError:
                encoding = "cp1252"
        text = raw.decode(encoding)
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.splitlines()
        if self.header_row > len(lines):
            raise InputError(
                f"{self.path.name} changed during the run: it has no row {self.header_row} any more"
            )
        # the header line decides delimiter and quoting for the whole file (Analytics quotes nothing)
        header_line = lines[self.header_row - 1]
        delimiter = max(_DELIMITERS, key=header_line.count)
        records, starts = self._records(text, delimiter)
        if self.header_row not in starts:
            raise InputError(
                f"{self.path.name} changed during the run: its header is no longer in row {self.header_row}"
            )
        header_index = starts[self.header_row]
        quoting = csv.QUOTE_ALL if header_line.lstrip("\ufeff").startswith('"') else csv.QUOTE_MINIMAL
        header = records[header_index]
        done_col = self._column(header, DONE_HEADER)
        status_col = self._column(header, STATUS_HEADER)
        for row, (done, status) in results.items():
            index = starts.get(row)
            if index is None or index <= header_index:
                continue
            record = records[index]
            record.extend([""] * (max(done_col, status_col) + 1 - len(record)))
            record[done_col] = "TRUE" if done else ""
            record[status_col] = safe_text(status)
        out = io.StringIO(newline="")
        writer = csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator=newline)
        for record in records:  # row by row, not writerows: a Python loop lets the pacer's threads run
            writer.writerow(record)
        errors = "strict" if encoding.startswith("utf") else "replace"
        return out.getvalue().encode(encoding, errors=errors)

    @staticmethod
    def _records(text: str, delimiter: str) -> tuple[list[list[str]], dict[int, int]]:
        """The CSV records, and the line each starts on -> record index (the row numbers ``tables`` gives)."""
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        records: list[list[str]] = []
        starts: dict[int, int] = {}
        previous = 0
        for record in reader:
            starts[previous + 1] = len(records)
            records.append(record)
            previous = reader.line_num
        return records, starts

    @staticmethod
    def _column(header: list[str], name: str) -> int:
        for index, label in enumerate(header):
            if _norm(label) == name:
                return index
        while header and header[-1] == "":
            header.pop()  # trailing empty header cells: put the new column right after the last real one
        header.append(name)
        return len(header) - 1

    # -- XLSX --------------------------------------------------------------------------------------------
    def _excel_bytes(self, results: dict[int, tuple[bool, str]]) -> bytes:
        import openpyxl

        book = openpyxl.load_workbook(self.path, keep_vba=self.path.suffix.lower() == ".xlsm")
        sheet = book[self.sheet] if self.sheet and self.sheet in book.sheetnames else book.worksheets[0]
        header = [cell.value for cell in sheet[self.header_row]]
        done_col = self._excel_column(sheet, header, DONE_HEADER)
        header = [cell.value for cell in sheet[self.header_row]]
        status_col = self._excel_column(sheet, header, STATUS_HEADER)
        for row, (done, status) in results.items():
            if row <= self.header_row:
                continue
            sheet.cell(row=row, column=done_col).value = True if done else None
            cell = sheet.cell(row=row, column=status_col)
            cell.value = status
            if is_formula_like(status):
                cell.data_type = "s"
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    def _excel_column(self, sheet: object, header: list[object], name: str) -> int:
        for index, label in enumerate(header, start=1):
            if _norm(label) == name:
                return index
        last = max((i for i, label in enumerate(header, start=1) if label not in (None, "")), default=0)
        sheet.cell(row=self.header_row, column=last + 1).value = name  # type: ignore[attr-defined]
        return last + 1


class ResultsWriter:
    """Collects outcomes and saves them from its own thread every few seconds and at :meth:`close`.

    A file that cannot be written (open in Excel on Windows, read-only) does not stop the run: the journal
    keeps every outcome, and :attr:`error` says how to recover.
    """

    def __init__(self, target: ResultsFile, interval: float = SAVE_INTERVAL) -> None:
        self.target = target
        self.interval = interval
        self.error: str | None = None
        self._results: dict[int, tuple[bool, str]] = {}
        self._dirty = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        try:
            target.keep_original()
        except OSError as error:
            self._fail(error)
        self._thread = threading.Thread(target=self._loop, name="alma-tools-results", daemon=True)
        self._thread.start()

    def record(self, outcome: Outcome) -> None:
        with self._lock:
            self._results[outcome.row] = (outcome.done, outcome.status)
            self._dirty = True

    def record_all(self, outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            self.record(outcome)

    def _fail(self, error: OSError) -> None:
        self.error = (
            f"Could not write the results into {self.target.path.name} ({error.strerror or error}). "
            "Nothing is lost: close the file (or make it writable) and run the same command again; the "
            "journal fills in done and status without calling Alma again."
        )

    def _save(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            snapshot = dict(self._results)
            self._dirty = False
        try:
            self.target.write(snapshot)
        except OSError as error:
            with self._lock:
                self._dirty = True
            self._fail(error)
        else:
            self.error = None

    def _loop(self) -> None:
        while not self._closing:
            self._wake.wait(self.interval)
            if not self._closing:
                self._save()

    def close(self) -> str | None:
        """Stop the thread, save what is left; returns the error message if the file could not be written."""
        self._closing = True
        self._wake.set()
        self._thread.join()
        self._save()
        return self.error
