"""Grid: the cells of a CSV file, a workbook's sheet, a DataFrame or sheet values, exactly as read.

A file is read by what its bytes are, not by its name: a zip with a workbook inside is a workbook even when
called ``.csv``; CSV text called ``.xlsx`` is CSV (and a note says so).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from alma_tools.errors import InputError
from alma_tools.tables.dialect import CsvDialect, parse_csv
from alma_tools.tables.xlsx import read_sheet

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}


@dataclass
class Grid:
    """Cells as read, with no header: the input of :func:`~alma_tools.tables.find_table`.

    ``values`` is an object-dtype frame (CSV cells are ``str``; sheet cells are str, int, float, datetime,
    time, bool or None); ``row_numbers[i]`` is the row number a person sees for ``values.iloc[i]``;
    ``notes`` are things worth telling the user that are not errors (merged cells, formulas with no saved
    value, a ``.xlsx`` that was really CSV text).
    """

    values: pd.DataFrame
    row_numbers: list[int]
    source: str
    notes: list[str] = field(default_factory=list)
    #: False for CSV text, where no cell says whether it was a number before the file was saved
    typed: bool = True
    #: CSV only: how the text was read (encoding, BOM, delimiter, quoting, line ending, record starts);
    #: grid row i is record i
    dialect: CsvDialect | None = None
    #: the worksheet read (a workbook), or the sheet the values came from (when the caller says)
    sheet: str | None = None
    #: "csv", "xlsx" (what the bytes were, whatever the name) or "values" (a DataFrame or sheet values)
    kind: str = "values"
    #: user-visible row numbers of rows hidden in the sheet (by a filter or by hand)
    hidden_rows: frozenset[int] = frozenset()
    #: (user-visible row, 0-based column) of cells that hold a formula (workbooks only)
    formula_cells: frozenset[tuple[int, int]] = frozenset()


def read_grid(
    source: str | os.PathLike[str] | pd.DataFrame | list[list[Any]],
    *,
    sheet: str | None = None,
    first_row: int = 1,
    name: str | None = None,
    hidden_rows: Iterable[int] | None = None,
) -> Grid:
    """Read a CSV/XLSX/XLSM file, a DataFrame or a list of rows into a :class:`Grid`, cells kept as read.

    ``sheet`` picks a worksheet by name in a workbook (default: the active sheet when it is visible, else
    the first visible one; a hidden sheet only when named); for values it records which sheet they came
    from. ``first_row`` is the sheet row number of the first list row when the Excel face passes values of
    a range that does not start at row 1, so messages still name the row the user sees; ``name`` is what
    messages call values that are not a file (the sheet's name, say); ``hidden_rows`` are the sheet row
    numbers Excel has hidden, for values (a file's own hidden rows are read from it). A DataFrame with a
    real header (not 0..n-1) has that header put back as the first row, so the same header search applies.
    """
    if isinstance(source, pd.DataFrame):
        grid = _grid_from_frame(source, first_row, name or "table")
    elif isinstance(source, list):
        grid = grid_from_rows(source, name or "sheet", first_row)
    else:
        return _grid_from_file(Path(source), sheet, name)
    grid.sheet = sheet
    grid.hidden_rows = frozenset(hidden_rows or ())
    return grid


def _grid_from_file(path: Path, sheet: str | None, name: str | None) -> Grid:
    raw = read_file_bytes(path)
    suffix = path.suffix.lower()
    name = name or path.name
    if suffix == ".xls":
        raise InputError(
            f"{name} is in the old Excel 97-2003 format (.xls), which Alma Tools does not read: open it in "
            "Excel and use File › Save As › Excel Workbook (.xlsx) or CSV UTF-8, then use the new file."
        )
    if raw.startswith(_OLE_MAGIC):
        if _is_encrypted_office(raw):
            raise InputError(
                f"{name} is protected with a password: open it in Excel, remove the password "
                "(File › Info › Protect Workbook › Encrypt with Password, clear it) and save again."
            )
        raise InputError(
            f"{name} is an old-format Excel file (Excel 97-2003) with a new name: open it in Excel and use "
            "File › Save As › Excel Workbook (.xlsx), then use the new file."
        )
    if raw.startswith(_ZIP_MAGIC):
        _refuse_opendocument(name, raw)
        grid = _grid_from_xlsx(name, raw, sheet)
        if suffix not in _XLSX_SUFFIXES:
            called = f"a {suffix} name" if suffix else "a name without .xlsx"
            grid.notes.append(f"{name} is an Excel workbook with {called}; it was read as a workbook.")
        return grid
    if suffix in _XLSX_SUFFIXES:
        try:
            grid = _grid_from_csv(raw, name)
        except InputError as error:
            if "is not a table" not in str(error):
                raise
            raise InputError(
                f"{name} is not an Excel workbook although its name ends in {suffix} (the file may be "
                "damaged or only partly downloaded): export it from Alma again, or open it in Excel and "
                "save it as .xlsx."
            ) from None
        grid.notes.append(f"{name} is CSV text with an Excel name; it was read as CSV.")
        return grid
    return _grid_from_csv(raw, name)


def _refuse_opendocument(name: str, raw: bytes) -> None:
    """An OpenDocument file (LibreOffice's .ods) is a zip too: say what it is rather than "damaged".

    Its first member, stored uncompressed, is ``mimetype`` holding the document's type.
    """
    if raw[30:38] == b"mimetype" and b"application/vnd.oasis.opendocument" in raw[38:160]:
        raise InputError(
            f"{name} is an OpenDocument file (LibreOffice or OpenOffice), which Alma Tools does not read: "
            "open it in LibreOffice Calc and use File › Save As › Excel 2007-365 (.xlsx) or Text CSV "
            "(UTF-8), then use the new file."
        )


def read_file_bytes(path: Path) -> bytes:
    """All bytes of ``path``, turning the operating system's complaints into plain words."""
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(
            f"File not found: {path}. Check the folder and the file name (and that the file was saved)."
        ) from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a file: choose the CSV or Excel file inside it.") from None
    except PermissionError:
        raise InputError(
            f"{name} cannot be opened: it is locked, probably open in Excel. Close it in Excel first "
            "(or check that your account may read it), then try again."
        ) from None
    except OSError as error:
        raise InputError(
            f"{name} cannot be read ({error.strerror}): copy it to a local folder and retry."
        ) from None
    if not raw[:65536].strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe") and len(raw) <= 65536:
        raise InputError(f"{name} is empty: export the report from Alma again, or choose another file.")
    return raw


def _is_encrypted_office(raw: bytes) -> bool:
    """True when an OLE compound file is an encrypted Office document (a password-protected xlsx)."""
    try:
        import msoffcrypto  # not a product dependency: without it, look for the encryption stream's name

        return bool(msoffcrypto.OfficeFile(io.BytesIO(raw)).is_encrypted())
    except ImportError:
        return b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00i\x00o\x00n\x00I\x00n\x00f\x00o" in raw
    except Exception:  # a damaged OLE file: let the caller's generic old-format message speak
        return False


def _grid_from_csv(raw: bytes, name: str) -> Grid:
    """Parse CSV bytes (cells stay str); row i of the grid is record i of the dialect."""
    records, _, dialect = parse_csv(raw, name)
    grid = grid_from_rows(records, name, 1, fill="")
    grid.row_numbers = list(dialect.record_lines)
    grid.typed = False
    grid.dialect = dialect
    grid.kind = "csv"
    return grid


def grid_from_rows(rows: Sequence[Sequence[Any]], source: str, first_row: int, fill: Any = None) -> Grid:
    """Pad ragged rows and wrap them in an object frame; row i is sheet row ``first_row + i``."""
    width = max((len(r) for r in rows), default=0)
    padded = [r if len(r) == width else [*r, *[fill] * (width - len(r))] for r in rows]
    values = pd.DataFrame(padded, dtype=object) if padded else pd.DataFrame(dtype=object)
    if width == 0 or values.empty:
        raise InputError(f"{source} is empty: it has no rows to read.")
    values.columns = range(width)
    return Grid(values=values, row_numbers=list(range(first_row, first_row + len(padded))), source=source)


def _grid_from_frame(frame: pd.DataFrame, first_row: int, source: str) -> Grid:
    """A DataFrame as a grid; a real header goes back in as the first row so header search works the same."""
    body = frame.astype(object).where(frame.notna(), None)
    rows = body.values.tolist()
    if not isinstance(frame.columns, pd.RangeIndex):
        rows.insert(0, [str(c) for c in frame.columns])
    return grid_from_rows(rows, source, first_row)


def _grid_from_xlsx(name: str, raw: bytes, sheet: str | None) -> Grid:
    """One worksheet of a workbook's bytes, with its hidden rows and the notes on its merges and formulas."""
    read = read_sheet(name, raw, sheet)
    grid = Grid(
        values=pd.DataFrame(read.cells, dtype=object),
        row_numbers=list(range(1, len(read.cells) + 1)),
        source=name,
    )
    grid.notes.extend(read.notes)
    grid.sheet = read.title
    grid.kind = "xlsx"
    grid.hidden_rows = read.hidden_rows
    grid.formula_cells = read.formula_cells
    return grid
