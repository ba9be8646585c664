"""Reading one worksheet of an XLSX/XLSM workbook: which sheet, its cells with their types, and the facts
a fast reader does not give (hidden rows, merged cells, formulas, error values), taken from the sheet XML.

Cells are read by python-calamine (Rust: 200,000 rows in about a second, where openpyxl takes tens of
seconds). Calamine gives each cell's saved value with its type: str, float (every number), bool, date,
datetime, time, timedelta. Empty cells come back as ``""``; they become None here, as a sheet's empty
cells do everywhere else. Error values (``#N/A``) come back empty, so they are put back from the sheet XML,
where Excel stores them as ``t="e"`` cells.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alma_tools.errors import InputError
from alma_tools.tables.xlsx_parts import (
    SPECIAL_TOKENS,
    SheetInfo,
    choose_sheet,
    column_index,
    has_special_tokens,
    workbook_sheets,
)

_CACHED_VALUE_RE = re.compile(rb"<v(?:\s[^>]*)?>[^<]+</v>")
_MERGE_RE = re.compile(rb'<mergeCell\s+ref="([A-Z]+[0-9]+):([A-Z]+[0-9]+)"')
_CELL_WITH_FORMULA_RE = re.compile(
    rb'<c\s+r="([A-Z]+[0-9]+)"[^>]*(?<!/)>((?:(?!</c>).)*?<f[\s>/](?:(?!</c>).)*?)</c>', re.S
)
_HIDDEN_ROW_RE = re.compile(rb'<row\b[^>]*\bhidden="(?:1|true)"[^>]*>')
_ROW_NUMBER_RE = re.compile(rb'\br="([0-9]+)"')
_ERROR_CELL_RE = re.compile(rb'<c\b[^>]*\bt="e"[^>]*>(?:(?!</c>).)*?<v>([^<]*)</v>', re.S)
_CELL_REF_RE = re.compile(rb'\br="([A-Z]+)([0-9]+)"')
_MIDNIGHT = dt.time(0)
_TYPE_OF = np.frompyfunc(type, 1, 1)  # each cell's type, as an object array


@dataclass
class SheetRead:
    """What :func:`read_sheet` gives :mod:`alma_tools.tables.grid`."""

    title: str
    cells: np.ndarray  # 2-D object array, row i = sheet row i + 1
    notes: list[str]
    hidden_rows: frozenset[int]  # sheet row numbers (1-based)
    formula_cells: frozenset[tuple[int, int]]  # (sheet row, 0-based column) of cells holding a formula


def _unreadable(name: str) -> InputError:
    return InputError(
        f"{name} is not a readable Excel workbook (it may be damaged, or another kind of zip file): "
        "open it in Excel and save it again as .xlsx, or export it from Alma again."
    )


def read_sheet(name: str, raw: bytes, sheet: str | None) -> SheetRead:
    """Read the chosen sheet of a workbook's bytes (see :func:`choose_sheet`).

    The sheet XML is searched for what calamine does not give (:func:`sheet_marks`) on a second thread
    while calamine parses the same sheet: calamine gives up the interpreter lock while it parses, so on a
    machine with two cores the search (0.3 s of the 2 s a 200,000-row sheet takes to read) costs no time.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        sheets, active = workbook_sheets(archive)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, SyntaxError):
        raise _unreadable(name) from None
    chosen = choose_sheet(name, sheets, active, sheet)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sheet-xml") as pool:
        marks = pool.submit(_marks_of_part, archive, chosen)
        rows = _calamine_rows(name, raw, chosen.name)
        found = _result_or_unreadable(name, marks)
    cells = _clean_cells(rows)
    if not cells.size:
        raise InputError(f"Sheet '{chosen.name}' in {name} is empty: choose the sheet that holds the table.")
    _put_back_errors(cells, found.errors)
    return SheetRead(chosen.name, cells, found.notes, found.hidden_rows, found.formula_cells)


def _calamine_rows(name: str, raw: bytes, sheet: str) -> list[list[Any]]:
    """The sheet's cells as python-calamine reads them, every row as wide as the sheet's dimension."""
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(raw))
        rows: list[list[Any]] = workbook.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        return rows
    except Exception:  # calamine raises its own error types for every kind of damage
        raise _unreadable(name) from None
    except BaseException as error:  # a panic in the Rust reader is a BaseException (pyo3's PanicException)
        if type(error).__name__ != "PanicException":
            raise
        raise _unreadable(name) from None


def _marks_of_part(archive: zipfile.ZipFile, chosen: SheetInfo) -> SheetMarks | None:
    """The marks of the chosen sheet's XML part; None when the part cannot be read (a damaged zip)."""
    try:
        with archive:
            if not chosen.part or not has_special_tokens(archive, chosen.part):
                return SheetMarks([], frozenset(), frozenset(), [])
            xml = archive.read(chosen.part)
    except Exception:  # bad CRC, missing part, unknown compression, truncated data: all damage
        return None
    return sheet_marks(xml, chosen.name)


def _result_or_unreadable(name: str, marks: Future[SheetMarks | None]) -> SheetMarks:
    """What the second thread found; a sheet part that could not be read is a damaged workbook."""
    found = marks.result()
    if found is None:
        raise _unreadable(name)
    return found


@dataclass(frozen=True)
class SheetMarks:
    """What the sheet XML says that calamine does not (see :func:`sheet_marks`)."""

    notes: list[str]
    hidden_rows: frozenset[int]
    formula_cells: frozenset[tuple[int, int]]
    errors: list[tuple[int, int, str]]  # (0-based row, 0-based column, the error's text, e.g. "#N/A")


def sheet_marks(xml: bytes, title: str) -> SheetMarks:
    """Hidden rows, merged cells, formulas and error cells of one sheet's XML.

    Most exports have none of them: a bytes search for each token (memchr speed) says so, and the
    regular expressions, much slower over 100 MB, run only when one is there.
    """
    if not any(token in xml for token in SPECIAL_TOKENS):
        return SheetMarks([], frozenset(), frozenset(), [])
    return SheetMarks(sheet_notes(xml, title), hidden_rows(xml), formula_cells(xml), error_cells(xml))


def _clean_cells(rows: list[list[Any]]) -> np.ndarray:
    """The cells as a 2-D object array: empty cells None, date cells datetimes (as openpyxl and xlwings
    give them), trailing empty rows dropped (calamine pads to the sheet's dimension). Whole-array
    operations: a Python loop per cell would cost more than calamine's own read."""
    lengths = set(map(len, rows))
    width = max(lengths, default=0)
    if len(lengths) > 1:
        rows = [[*r, *[""] * (width - len(r))] for r in rows]
    cells = np.empty((len(rows), width), dtype=object)
    if rows and width:
        cells[:] = rows
    cells[cells == ""] = None
    for column in range(width):
        if pd.api.types.infer_dtype(cells[:, column], skipna=True) in ("date", "mixed", "mixed-integer"):
            _dates_to_datetimes(cells[:, column])
    filled = np.flatnonzero((cells != None).any(axis=1))  # noqa: E711 (elementwise, not identity)
    return cells[: filled[-1] + 1] if len(filled) else cells[:0]


def _dates_to_datetimes(values: np.ndarray) -> None:
    """Turn the ``date`` cells of one column (a view) into datetimes at midnight, in place.

    Each distinct date is converted once: a year of loans holds a few hundred dates in 200,000 cells.
    Only the cells whose type is exactly ``date`` are factorized (hashing a mix of numbers and booleans
    would make ``True`` and ``1`` one value).
    """
    is_date = _TYPE_OF(values) == dt.date
    if not is_date.any():
        return
    codes, distinct = pd.factorize(values[is_date])
    as_datetimes = np.empty(len(distinct), dtype=object)
    as_datetimes[:] = [dt.datetime.combine(day, _MIDNIGHT) for day in distinct]
    values[is_date] = as_datetimes[codes]


def error_cells(xml: bytes) -> list[tuple[int, int, str]]:
    """Error values (``#N/A``, ``#REF!``), saved by Excel as ``t="e"`` cells: (0-based row, column, text)."""
    if b't="e"' not in xml:
        return []
    found = []
    for match in _ERROR_CELL_RE.finditer(xml):
        ref = _CELL_REF_RE.search(match.group(0))
        if ref is not None:
            text = match.group(1).decode("utf-8", errors="replace")
            found.append((int(ref.group(2)) - 1, column_index(ref.group(1)), text))
    return found


def _put_back_errors(cells: np.ndarray, errors: list[tuple[int, int, str]]) -> None:
    """Error cells (calamine reads them as empty) get their text back."""
    for row, column, text in errors:
        if row < cells.shape[0] and column < cells.shape[1] and cells[row, column] is None:
            cells[row, column] = text


def hidden_rows(xml: bytes) -> frozenset[int]:
    """Sheet rows saved with ``hidden="1"``: hidden by a filter or by hand (Excel stores both the same)."""
    if b"hidden=" not in xml:
        return frozenset()
    found = set()
    for match in _HIDDEN_ROW_RE.finditer(xml):
        number = _ROW_NUMBER_RE.search(match.group(0))
        if number:
            found.add(int(number.group(1)))
    return frozenset(found)


def formula_cells(xml: bytes) -> frozenset[tuple[int, int]]:
    """(sheet row, 0-based column) of every cell that holds a formula (its saved value is what was read)."""
    if b"<f>" not in xml and b"<f " not in xml:
        return frozenset()
    cells = set()
    for ref, _ in _CELL_WITH_FORMULA_RE.findall(xml):
        letters = ref.rstrip(b"0123456789")
        cells.add((int(ref[len(letters) :]), column_index(letters)))
    return frozenset(cells)


def sheet_notes(xml: bytes, title: str) -> list[str]:
    """Notes on merged cells (value only in the top-left cell) and formulas Excel never calculated."""
    notes = []
    merges = [f"{a.decode()}:{b.decode()}" for a, b in _MERGE_RE.findall(xml)]
    if merges:
        shown = ", ".join(merges[:5]) + (" …" if len(merges) > 5 else "")
        notes.append(
            f"Sheet '{title}' has merged cells ({shown}): only the top-left cell of each holds the value; "
            "the other cells are read as empty."
        )
    if b"<f>" in xml or b"<f " in xml:
        uncached = [
            ref.decode()
            for ref, body in _CELL_WITH_FORMULA_RE.findall(xml)
            if not _CACHED_VALUE_RE.search(body)
        ]
        if uncached:
            shown = ", ".join(uncached[:5]) + (" …" if len(uncached) > 5 else "")
            notes.append(
                f"Sheet '{title}' has formulas with no saved result ({shown}); they are read as empty. "
                "Open the file in Excel and save it again so the results are stored."
            )
    return notes
