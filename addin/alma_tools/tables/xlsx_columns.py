"""A large worksheet read a column at a time: each column below the header typed once, by fastexcel.

Why: a year of loans is 200,000 rows, and a cell-by-cell reader hands over 1.6 million Python objects.
fastexcel (calamine underneath, like :mod:`.xlsx`) parses the sheet into Arrow columns, one type per
column, in half the time, and pandas takes them through pyarrow without a per-cell step. It answers for
a column only when every cell of it has one type (``dtype_coercion="strict"``): a column mixing text and
numbers (ids Excel turned into numbers beside text ids) or dates and text is exactly where each cell's type
matters, and there the caller reads the sheet with :func:`~alma_tools.tables.read_grid` as usual.

fastexcel parses the whole sheet on every load, so it is not what finds the header: the first rows are read
from the start of the sheet XML (:func:`~alma_tools.tables.xlsx_parts.sheet_head`, a few kilobytes), the
caller finds the header in them (:func:`~alma_tools.tables.find_table`), and fastexcel loads the rows below
it once. It reads the header row's cells itself, as the column names, and a name that is not the header
cell read from the XML sends the sheet to the cell-by-cell reader: the two readers check each other.

The load starts as soon as the sheet is opened, on another thread, below the row that most looks like the
header (:func:`likely_header_row`): the parse (half a second for 200,000 rows, with the interpreter lock
released) then runs while pandas and the statistics load. When the header is found elsewhere, the load is
made again below the right row: a guess costs time when wrong, never a wrong cell. This module and
:mod:`.xlsx_parts` need no pandas until the cells are handed over, so that the command line can open the
workbook first.

Only a plain sheet takes this path. Hidden rows, merged cells, formulas and error cells are what the
cell-by-cell reader reports or puts back, so a sheet whose XML holds any of them is left to it
(:func:`~alma_tools.tables.xlsx_parts.has_special_tokens`, searched on a second thread meanwhile).
"""

from __future__ import annotations

import io
import logging
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alma_tools.tables.xlsx_parts import choose_sheet, has_special_tokens, sheet_head, workbook_sheets

if TYPE_CHECKING:
    import pandas as pd

#: a sheet whose XML is at least this long (uncompressed: about 20,000 loans) is read a column at a time
LARGE_SHEET_BYTES = 6_000_000
#: rows read from the start of the sheet XML for the header search (``HEADER_SEARCH_ROWS`` + 1; fewer would
#: only send a sheet whose header is lower down to the cell-by-cell reader)
HEAD_ROWS = 101

_Loaded = Any  # fastexcel's ExcelSheet (parsed, not yet handed to pandas); None when it refused the sheet


@dataclass
class LargeSheet:
    """A large workbook's chosen sheet (see :func:`open_large_sheet`), its parse under way."""

    path: Path
    title: str  # the sheet's name
    head: list[list[Any]]  # the first rows, row i = sheet row i + 1; text, numbers, booleans, None
    raw: bytes
    part: str  # the sheet's XML part in the zip
    started: list[int] = field(default_factory=list)  # the header rows loads were started below
    _loads: dict[int, _Background] = field(default_factory=dict)  # header row -> load below it
    _special: _Background | None = None  # the search of the sheet XML (see is_plain)

    def start(self, header_row: int) -> None:
        """Start fastexcel's load of the rows below ``header_row`` on a thread of its own."""
        self._loads[header_row] = _Background(_load_below, self, header_row)
        self.started.append(header_row)

    def loaded_below(self, header_row: int) -> _Loaded:
        """The load below ``header_row`` (the one started, or a new one when another row was guessed),
        with the sheet XML searched meanwhile (:meth:`is_plain`). The sheet lets go of its loads: the
        parsed cells (a hundred MB for 200,000 loans) are freed once the caller has its columns."""
        self.search_xml()
        if header_row not in self._loads:
            self.start(header_row)
        loaded = self._loads[header_row].result()
        self.close()
        return loaded

    def close(self) -> None:
        """Let go of the parsed cells (a load still under way finishes on its thread, then is freed)."""
        self._loads.clear()

    def search_xml(self) -> None:
        """Start the search of the sheet XML for what only the cell-by-cell reader handles (see
        :meth:`is_plain`). Not at opening: it holds the interpreter lock in part, and would slow the
        imports the parse overlaps."""
        if self._special is None:
            self._special = _Background(_has_special_tokens, self)

    def is_plain(self) -> bool:
        """No hidden rows, merged cells, formulas or error cells anywhere in the sheet XML."""
        self.search_xml()
        assert self._special is not None
        return self._special.result() is False  # True, or None (the search itself failed): not plain


class _Background:
    """``work(*args)`` on a thread of its own, its result kept here only.

    Not a pool's future: a pool's thread can still hold the result for a moment after handing it over,
    and fastexcel's parsed cells (170 MB for 200,000 loans) then lived on beside their Arrow copy, a race
    that put the peak at 520 MB instead of 345. The process waits for the thread at exit, as for a pool's.
    """

    def __init__(self, work: Callable[..., Any], *args: Any) -> None:
        self._value: Any = None
        self._thread = threading.Thread(target=self._run, args=(work, args), name="large-sheet")
        self._thread.start()

    def _run(self, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._value = work(*args)

    def result(self) -> Any:
        """The work's result, once its thread has ended (None if it raised: its message went to stderr)."""
        self._thread.join()
        return self._value


def open_large_sheet(
    path: Path, min_bytes: int | None = None, head_rows: int = HEAD_ROWS
) -> LargeSheet | None:
    """The default sheet of the XLSX/XLSM at ``path`` (as :func:`~alma_tools.tables.xlsx_parts.choose_sheet`
    picks it) when its XML is at least ``min_bytes`` long (default :data:`LARGE_SHEET_BYTES`), its first
    rows read and its load started; None for anything else (not a workbook, a small sheet, one this module
    cannot read: the cell-by-cell reader takes it and says what is wrong, if anything is)."""
    if path.suffix.lower() not in (".xlsx", ".xlsm") or not path.is_file():
        return None
    try:
        raw = path.read_bytes()
        if not raw.startswith(b"PK\x03\x04"):
            return None
        archive = zipfile.ZipFile(io.BytesIO(raw))
        sheets, active = workbook_sheets(archive)
        chosen = choose_sheet(path.name, sheets, active, None)
        large = LARGE_SHEET_BYTES if min_bytes is None else min_bytes
        if not chosen.part or archive.getinfo(chosen.part).file_size < large:
            return None
        head = sheet_head(archive, chosen, head_rows)
    except Exception:  # any damage, or an unusual workbook: the full reader gives the right message
        return None
    if not head:
        return None
    sheet = LargeSheet(path, chosen.name, head, raw, chosen.part)
    sheet.start(likely_header_row(head))
    return sheet


def likely_header_row(head: list[list[Any]]) -> int:
    """The sheet row most like a header, for starting the load early: the first row as full as the
    fullest, all of its cells text (Analytics: row 3, below the report's name and a blank row)."""
    filled = [[cell for cell in row if cell is not None and cell != ""] for row in head]
    most = max(map(len, filled), default=0)
    for number, cells in enumerate(filled, start=1):
        if len(cells) == most and all(isinstance(cell, str) for cell in cells):
            return number
    return 1


def read_columns(sheet: LargeSheet, header_row: int) -> pd.DataFrame | None:
    """The cells below sheet row ``header_row``: one column per cell of that row as the head has it, up
    to its last filled cell, in its order (column i = sheet column i), row i = sheet row
    ``header_row + 1 + i``.

    Numbers are floats (as in every sheet read here), dates datetimes, text ``str``, empty cells missing.
    None when fastexcel cannot vouch for the cells: a column that mixes types, a text cell it would make
    missing (it reads "n/a", "NA", "NULL" and pandas' other NA strings in a typed column as blanks), a
    header cell it reads otherwise, a cell right of the header, a hidden row, merge, formula or error cell
    anywhere, or any error of its own.
    """
    import pandas as pd

    header = sheet.head[header_row - 1]
    loaded = sheet.loaded_below(header_row)
    if loaded is None or not sheet.is_plain():
        return None
    try:  # here, not on the loading thread: pandas and pyarrow are imported by one thread only
        columns, (batch, misfits) = list(loaded.selected_columns), loaded.to_arrow_with_errors()
    except Exception:
        return None
    del loaded  # fastexcel's parsed cells: freed before pandas makes its copy
    if misfits is not None:  # cells fastexcel made missing for not being of their column's type (text
        return None  # "n/a" or "NULL" in a date column: it takes pandas' NA strings for blanks)
    frame = batch.to_pandas()
    width = max((at + 1 for at, cell in enumerate(header) if cell is not None and cell != ""), default=0)
    placed: dict[int, pd.Series] = {}
    for info, name in zip(columns, frame.columns, strict=True):
        at, values = info.absolute_index, frame[name]
        if at >= width:  # right of the header: a cell there is a row's cell too many (the full reader's)
            if values.notna().any():
                return None
            continue
        if not _same_header(info.name, info.column_name_from, header[at]):
            return None
        placed[at] = values.astype("float64") if pd.api.types.is_integer_dtype(values) else values
    empty = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    return pd.DataFrame({at: placed.get(at, empty) for at in range(width)}, index=frame.index)


def _has_special_tokens(sheet: LargeSheet) -> bool:
    """Whether the sheet XML holds hidden rows, merges, formulas or errors (True when it cannot be read)."""
    try:
        with zipfile.ZipFile(io.BytesIO(sheet.raw)) as archive:
            return has_special_tokens(archive, sheet.part)
    except Exception:  # bad CRC, truncated data: the cell-by-cell reader reports the damage
        return True


def _load_below(sheet: LargeSheet, header_row: int) -> _Loaded:
    """fastexcel's sheet parsed below ``header_row`` (the names read from that row), or None if it refuses."""
    import fastexcel

    # it warns on stderr of every column with no cells ("Could not determine dtype for column 6, falling
    # back to string"): a blank Return Time column is no news to the user
    logging.getLogger("fastexcel").setLevel(logging.ERROR)
    try:
        return fastexcel.read_excel(sheet.raw).load_sheet(
            sheet.title, header_row=header_row - 1, dtype_coercion="strict", schema_sample_rows=None
        )
    except Exception:  # a column of mixed types, or anything else it cannot read: the other reader's turn
        return None
    except BaseException as error:  # a panic in the Rust reader is a BaseException (pyo3's PanicException)
        if type(error).__name__ != "PanicException":
            raise
        return None


def _same_header(name: str, origin: str, cell: Any) -> bool:
    """Whether fastexcel's column name is the header cell read from the XML."""
    if origin != "looked_up":  # fastexcel made the name up: the header cell is empty
        return cell is None or (isinstance(cell, str) and not cell.strip())
    return isinstance(cell, str) and name.strip() == cell.strip()
