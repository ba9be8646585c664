"""Reading tables: CSV, XLSX or values from a sheet → a raw grid → a table of recognised columns.

Library staff hand us whatever Alma Analytics, Excel or a colleague produced: a CSV with a byte-order mark,
a semicolon CSV from a European Excel, a cp1252 file saved by Excel, an ``.xlsx`` with a report title above
the header and an "Applied filters" footer below the data. This module turns all of them into one shape
without ever changing a value: ids are text from file to URL, so nothing here converts a cell to a number (the
damage Excel already did is *detected* by :mod:`alma_tools.ids`, never repaired by guessing).

Two steps, so the Excel face can hand over values it read with xlwings and get the same treatment:

* :func:`read_grid` — cells exactly as read, with the row number the user sees next to each row
  (CSV line number counting the header line as 1, or the sheet row number);
* :func:`find_table` — finds the header row, recognises columns by alias, drops blank and footer rows.

Every problem a person can fix is an :class:`~alma_tools.errors.InputError` naming the file, the row or the
column, and what to do.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import io
import os
import re
import warnings
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alma_tools.errors import InputError
from alma_tools.files import check_writable  # noqa: F401  (moved to files; re-exported for old callers)

# ---------------------------------------------------------------------------------------------------------
# Grid: cells as read
# ---------------------------------------------------------------------------------------------------------

#: how many rows from the top may hold titles before the header row
HEADER_SEARCH_ROWS = 30

#: characters stripped from both ends of a cell's text (Excel users paste NBSPs and thin spaces from the web)
STRIP_CHARS = " \t\r\n\u00a0\u2007\u202f\ufeff"

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_DELIMITERS = (",", ";", "\t")


@dataclass
class Grid:
    """Cells as read, with no header: the input of :func:`find_table`.

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


def read_grid(
    source: str | os.PathLike[str] | pd.DataFrame | list[list[Any]],
    *,
    sheet: str | None = None,
    first_row: int = 1,
    name: str | None = None,
) -> Grid:
    """Read a CSV/XLSX/XLSM file, a DataFrame or a list of rows into a :class:`Grid`, cells kept as read.

    ``sheet`` picks a worksheet by name in a workbook (default: the first one). ``first_row`` is the sheet
    row number of the first list row when the Excel face passes values of a range that does not start at
    row 1, so messages still name the row the user sees; ``name`` is what messages call values that are
    not a file (the sheet's name, say). A DataFrame with a real header (not 0..n-1) has
    that header put back as the first row, so the same header search applies to it.
    """
    if isinstance(source, pd.DataFrame):
        return _grid_from_frame(source, first_row, name or "table")
    if isinstance(source, list):
        return _grid_from_rows(source, name or "sheet", first_row)
    path = Path(source)
    raw = _read_bytes(path)
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
        # Whatever its name (.csv, .txt), a zip with a workbook inside is read as the workbook it is.
        return _grid_from_xlsx(name, raw, sheet)
    if suffix in _XLSX_SUFFIXES:
        text = _decode_text(raw, name, expect_text=False)
        if text is None:
            raise InputError(
                f"{name} is not an Excel workbook although its name ends in {suffix} (the file may be "
                "damaged or only partly downloaded): export it from Alma again, or open it in Excel and "
                "save it as .xlsx."
            )
        grid = _grid_from_text(text, name)
        grid.notes.append(f"{name} is CSV text with an Excel name; it was read as CSV.")
        return grid
    text = _decode_text(raw, name, expect_text=True)
    assert text is not None  # expect_text raises instead of returning None
    return _grid_from_text(text, name)


def _read_bytes(path: Path) -> bytes:
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


def _decode_text(raw: bytes, name: str, *, expect_text: bool) -> str | None:
    """Decode file bytes: UTF-8 (BOM or not), UTF-16 (BOM, or NUL-interleaved), else cp1252.

    Returns None (or raises, when ``expect_text``) for bytes that are not text at all, so a renamed
    PDF or image is refused instead of becoming a one-column table of garbage.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        text = raw[3:].decode("utf-8", errors="replace")
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16", errors="replace")
    elif len(raw) >= 4 and raw[1:40:2].count(0) > 15 and raw[0:40:2].count(0) == 0:
        text = raw.decode("utf-16-le", errors="replace")
    elif len(raw) >= 4 and raw[0:40:2].count(0) > 15 and raw[1:40:2].count(0) == 0:
        text = raw.decode("utf-16-be", errors="replace")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            # Excel's "CSV (Comma delimited)" on Windows writes the ANSI code page; the five bytes cp1252
            # leaves undefined become U+FFFD rather than failing the whole file.
            text = raw.decode("cp1252", errors="replace")
    sample = text[:20000]
    controls = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\r\n") or ch == "\ufffd")
    if controls > max(8, len(sample) // 100):
        if not expect_text:
            return None
        raise InputError(
            f"{name} is not a table (it does not contain CSV text or an Excel workbook): choose the CSV or "
            ".xlsx file exported from Alma Analytics."
        )
    return text


def _sniff_delimiter(text: str) -> str:
    """Pick comma, semicolon or tab: the one giving most rows the same (more than one) field count."""
    head = "\n".join(text[:65536].splitlines()[:50])
    best, best_score = ",", (-1, -1)
    for delimiter in _DELIMITERS:
        counts = [len(row) for row in csv.reader(io.StringIO(head, newline=""), delimiter=delimiter) if row]
        counts = [c for c in counts if c > 1]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        score = (counts.count(mode), mode)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _grid_from_text(text: str, name: str) -> Grid:
    """Parse CSV text with the csv module (cells stay str) and record each record's first line number."""
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error as error:
        raise InputError(
            f"{name} line {reader.line_num} cannot be read as CSV ({error}): open it in Excel and save it "
            "again as CSV UTF-8."
        ) from None
    if reader.line_num == len(rows):  # one line per record, the usual case: no per-row bookkeeping
        numbers = list(range(1, len(rows) + 1))
    else:  # a quoted cell spans lines: number each record by the line it starts on
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        numbers, previous = [], 0
        for _ in reader:
            numbers.append(previous + 1)
            previous = reader.line_num
    grid = _grid_from_rows(rows, name, 1, fill="")
    grid.row_numbers = numbers
    grid.typed = False
    return grid


def _grid_from_rows(rows: Sequence[Sequence[Any]], source: str, first_row: int, fill: Any = None) -> Grid:
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
    return _grid_from_rows(rows, source, first_row)


_CACHED_VALUE_RE = re.compile(rb"<v(?:\s[^>]*)?>[^<]+</v>")
_MERGE_RE = re.compile(rb'<mergeCell\s+ref="([A-Z]+[0-9]+):([A-Z]+[0-9]+)"')
_CELL_WITH_FORMULA_RE = re.compile(
    rb'<c\s+r="([A-Z]+[0-9]+)"[^>]*(?<!/)>((?:(?!</c>).)*?<f[\s>/](?:(?!</c>).)*?)</c>', re.S
)


def _grid_from_xlsx(name: str, raw: bytes, sheet: str | None) -> Grid:
    """Read one worksheet with openpyxl in read-only mode (fast, low memory) using cached formula values.

    openpyxl warns about harmless things (no default style, unknown extensions, data validation); those
    warnings would reach library staff on the command line, and they are not theirs to act on.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _read_worksheet(name, raw, sheet)


def _read_worksheet(name: str, raw: bytes, sheet: str | None) -> Grid:
    """The body of :func:`_grid_from_xlsx` (openpyxl is imported here: only workbooks need it)."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError):
        raise InputError(
            f"{name} is not a readable Excel workbook (it may be damaged, or another kind of zip file): "
            "open it in Excel and save it again as .xlsx, or export it from Alma again."
        ) from None
    try:
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in workbook.sheetnames:
            worksheet = workbook[sheet]
        else:
            raise InputError(
                f"{name} has no sheet named '{sheet}'. Its sheets are: {', '.join(workbook.sheetnames)}."
            )
        if not hasattr(worksheet, "iter_rows"):
            raise InputError(
                f"Sheet '{worksheet.title}' in {name} is a chart, not a table: choose another sheet."
            )
        worksheet.reset_dimensions()  # some writers store a wrong <dimension>; read what is really there
        rows = [list(r) for r in worksheet.iter_rows(min_row=1, values_only=True)]
        sheet_xml = _sheet_xml(raw, getattr(worksheet, "_worksheet_path", None))
        title = worksheet.title
    finally:
        workbook.close()
    if not rows or all(all(v is None for v in r) for r in rows):
        raise InputError(f"Sheet '{title}' in {name} is empty: choose the sheet that holds the table.")
    grid = _grid_from_rows(rows, name, 1)
    grid.notes.extend(_xlsx_notes(sheet_xml, title))
    return grid


def _sheet_xml(raw: bytes, member: str | None) -> bytes:
    """The worksheet's XML, for the facts openpyxl's read-only mode does not expose (merges, formulas)."""
    if not member:
        return b""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        try:
            return archive.read(member.lstrip("/"))
        except KeyError:
            return b""


def _xlsx_notes(xml: bytes, title: str) -> list[str]:
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


# check_writable moved to alma_tools.files (re-exported above until every caller imports it from there)


# ---------------------------------------------------------------------------------------------------------
# Columns and header matching
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column we recognise: ``key`` in the frame, ``label`` in messages, ``aliases`` as exports spell it."""

    key: str
    label: str
    aliases: tuple[str, ...]
    required: bool = False


class ColumnSet(tuple):
    """A tuple of :class:`Column` that also says which groups of columns are alternatives.

    ``required_any``: at least one of these groups must be present in full, e.g. the item table needs
    either (MMS Id, Holding Id, Item Id) or Barcode. It travels with the columns so no caller can forget
    to check it.
    """

    required_any: tuple[tuple[str, ...], ...]

    def __new__(cls, columns: Iterable[Column], required_any: Sequence[Sequence[str]] = ()) -> ColumnSet:
        instance = super().__new__(cls, tuple(columns))
        instance.required_any = tuple(tuple(group) for group in required_any)
        return instance


def normalise_header(text: Any) -> str:
    """Header text reduced for matching.

    Case, spaces, NBSPs, underscores, dots, hyphens, a BOM and a trailing ``(s)`` are ignored, so
    ``MMS_ID``, ``mms id`` and ``\ufeffMMS Id`` all name the same column.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    folded = str(text).replace("\ufeff", "").casefold()
    folded = re.sub(r"[\s\u00a0_.\-]+", "", folded)
    return folded.removesuffix("(s)")


ITEM_COLUMNS = ColumnSet(
    (
        Column(
            "mms_id",
            "MMS Id",
            ("MMS Id", "MMS ID", "mms_id", "Bib MMS Id", "MMS Record Id", "Bibliographic MMS Id"),
        ),
        Column("holding_id", "Holding Id", ("Holding Id", "Holdings Id", "holding_id", "Holdings Record Id")),
        Column("item_id", "Item Id", ("Item Id", "Item PID", "item_id", "item_pid", "Physical Item Id")),
        Column("barcode", "Barcode", ("Barcode", "Item Barcode", "barcode")),
        Column("library_code", "Library Code", ("Library Code", "library_code", "Library")),
        # Not "Permanent Location" or "Location": in Analytics those name the location's description.
        Column(
            "location_code", "Location Code", ("Location Code", "location_code", "Permanent Location Code")
        ),
        Column(
            "temp_location_code",
            "Temporary Location Code",
            ("Temporary Location Code", "temporary_location_code"),
        ),
        Column(
            "temp_library_code",
            "Temporary Library Code",
            ("Temporary Library Code", "temporary_library_code"),
        ),
        Column("title", "Title", ("Title",)),
        Column("done", "done", ("done",)),
        Column("status", "status", ("status",)),
    ),
    required_any=(("mms_id", "holding_id", "item_id"), ("barcode",)),
)

LOCATION_COLUMNS = ColumnSet(
    (
        Column("location_code", "Location Code", ("Location Code", "location_code"), required=True),
        Column("library_code", "Library Code", ("Library Code", "library_code", "Library")),
        Column(
            "circ_desk",
            "Circulation Desk",
            ("Circulation Desk", "circ_desk", "Circ Desk", "Desk"),
            required=True,
        ),
    )
)


# ---------------------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------------------

_INT_TYPES = (int, np.integer)
_FLOAT_TYPES = (float, np.floating)


def _number_text(value: Any) -> str:
    """A number as Excel shows it in a cell formatted as General-without-exponent: 15 significant digits.

    Ids that went through Excel are floats; their digits past the 15th are noise, and Excel shows zeros
    there (``990636224614163000``), which is what the user sees and what the id checks recognise.
    """
    if isinstance(value, _INT_TYPES):
        return str(int(value))
    number = float(value)
    if not np.isfinite(number):
        return ""
    text = f"{number:.15g}"
    if "e" in text:
        text = format(Decimal(text), "f")
    return text


def _other_text(value: Any) -> str:
    """Dates, times and booleans as a person would type them (ISO dates; TRUE/FALSE like Excel)."""
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def cell_text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Cells as clean text plus whether each cell was a number; whole-column, fast path for all-text columns.

    Text: None/NaN → "", spaces and NBSPs stripped at both ends, numbers as Excel shows them (see
    :func:`_number_text`), TRUE/FALSE, ISO dates. ``was_number`` is True where the cell held a number, so
    :mod:`alma_tools.ids` can say "turned into a number by Excel".
    """
    was_number = pd.Series(False, index=values.index, dtype=bool)
    if values.dtype != object:
        values = values.astype(object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":  # every CSV column: no Python per cell
        return values.str.strip(STRIP_CHARS).astype(object), was_number
    is_str = values.map(lambda v: isinstance(v, str)).astype(bool)
    text = pd.Series("", index=values.index, dtype=object)
    if is_str.any():
        text[is_str] = values[is_str].str.strip(STRIP_CHARS)
    rest = ~is_str & values.notna()
    if rest.any():
        others = values[rest]
        numeric = others.map(
            lambda v: isinstance(v, _INT_TYPES + _FLOAT_TYPES) and not isinstance(v, bool | np.bool_)
        )
        if numeric.any():
            text[numeric[numeric].index] = others[numeric].map(_number_text)
            was_number[numeric[numeric].index] = True
        if (~numeric).any():
            text[numeric[~numeric].index] = others[~numeric].map(_other_text).str.strip(STRIP_CHARS)
    return text.astype(object), was_number


@dataclass
class Table:
    """The data rows of a recognised table.

    ``frame`` holds recognised columns under :attr:`Column.key` and every other column under its header
    text; values stay as read. ``rows`` is the user-visible row number of each frame row (same index);
    ``labels`` maps each key to the header as written, for messages ("MMS Id in row 12 …").
    """

    frame: pd.DataFrame
    rows: pd.Series
    header_row: int
    source: str
    labels: dict[str, str]
    notes: list[str] = field(default_factory=list)
    #: see :attr:`Grid.typed`
    typed: bool = True

    def has(self, key: str) -> bool:
        """True when the column was found (optional columns such as a temporary location may be absent)."""
        return key in self.frame.columns

    def text(self, key: str) -> pd.Series:
        """Column ``key`` as clean text ("" for empty cells); see :func:`cell_text`."""
        return cell_text(self.frame[key])[0]

    def was_number(self, key: str) -> pd.Series:
        """Whether each cell of ``key`` held a number rather than text (nullable boolean).

        <NA> for a CSV file: its cells are all text, and nobody can tell which were numbers in Excel
        before it was saved; :mod:`alma_tools.ids` then judges by the text alone.
        """
        if not self.typed:
            return pd.Series(pd.NA, index=self.frame.index, dtype="boolean")
        return cell_text(self.frame[key])[1].astype("boolean")

    def label(self, key: str) -> str:
        """The header as the user wrote it, for messages."""
        return self.labels.get(key, key)


#: first-cell text of the footer rows Analytics and people add below a table
_FOOTER_RE = re.compile(
    r"(applied filters|filters applied|row count|record count|number of rows|report generated|generated on|"
    r"data as of)\b|(grand )?totals?\s*:?\s*$|total (rows|records|items|loans)\b|rows?\s*:|\d+\s+rows?\s*$",
    re.IGNORECASE,
)


def _column_letter(index: int) -> str:
    """Excel column letter for a 0-based index (0 → A, 26 → AA): messages name columns the way Excel does."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _match_row(cells: Sequence[Any], lookup: dict[str, tuple[Column, int]]) -> dict[str, list[int]]:
    """For one candidate header row: key → positions of the cells naming that column by its best alias.

    When two headers name one column through different aliases (``Library Code`` and ``Library``), the
    better alias (earlier in :attr:`Column.aliases`) wins and the other column passes through under its
    own header; only headers spelling the same alias (``MMS Id`` and ``mms_id``) are duplicates.
    """
    matches: dict[str, list[tuple[int, int]]] = {}
    for position, cell in enumerate(cells):
        hit = lookup.get(normalise_header(cell))
        if hit is not None:
            column, rank = hit
            matches.setdefault(column.key, []).append((rank, position))
    found: dict[str, list[int]] = {}
    for key, hits in matches.items():
        best = min(rank for rank, _ in hits)
        found[key] = [position for rank, position in hits if rank == best]
    return found


def _requirement_met(
    found: Iterable[str], columns: Sequence[Column], required_any: Sequence[Sequence[str]]
) -> bool:
    have = set(found)
    if any(c.required and c.key not in have for c in columns):
        return False
    return not required_any or any(set(group) <= have for group in required_any)


def find_table(
    grid: Grid,
    columns: Sequence[Column],
    *,
    required_any: Sequence[Sequence[str]] | None = None,
    allow_empty: bool = False,
) -> Table:
    """Find the header row, recognise the columns, and keep the data rows.

    The header is the first of the top :data:`HEADER_SEARCH_ROWS` rows holding every required column (and
    one full group of ``required_any``, which defaults to the column set's own); title rows above it are
    ignored. Blank rows and rows repeating the header are dropped everywhere; footer rows (Analytics'
    "Applied filters: …", "Total", "Row count", or a lone sentence in the first column, never a lone
    barcode) after the last data row, each named in :attr:`Table.notes`. Two headers naming one column
    with different values, or a header-only table (unless ``allow_empty``), are errors.
    """
    if required_any is None:
        required_any = getattr(columns, "required_any", ())
    lookup: dict[str, tuple[Column, int]] = {}
    for column in columns:
        for rank, alias in enumerate(
            dict.fromkeys(normalise_header(a) for a in (column.label, *column.aliases))
        ):
            lookup.setdefault(alias, (column, rank))
        lookup.setdefault(normalise_header(column.key), (column, len(column.aliases) + 1))
    values = grid.values
    top = values.iloc[:HEADER_SEARCH_ROWS]
    best_position, best_found = None, {}
    header_position = None
    for position in range(len(top)):
        found = _match_row(top.iloc[position].tolist(), lookup)
        if _requirement_met(found, columns, required_any):
            header_position, best_found = position, found
            break
        if best_position is None or len(found) > len(best_found):
            best_position, best_found = position, found
    if header_position is None:
        _raise_missing(grid, columns, required_any, best_position if best_found else None, best_found)
    assert header_position is not None
    return _build_table(grid, columns, header_position, best_found, allow_empty)


def _and(labels: Iterable[str]) -> str:
    """``MMS Id, Holding Id and Item Id``: column names as a sentence lists them."""
    items = list(labels)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _raise_missing(
    grid: Grid,
    columns: Sequence[Column],
    required_any: Sequence[Sequence[str]],
    position: int | None,
    found: dict[str, list[int]],
) -> None:
    """Explain which column is missing, the closest header seen, and the rename that fixes it."""
    by_key = {c.key: c for c in columns}
    if position is None:
        wanted = ", ".join(c.label for c in columns if c.required)
        if required_any:
            either = " or ".join(_and(by_key[k].label for k in group) for group in required_any)
            wanted = f"{wanted} and {either}" if wanted else either
        raise InputError(
            f"{grid.source}: no header row found in the first {HEADER_SEARCH_ROWS} rows. The table needs "
            f"columns named {wanted}; put these names in one row above the data."
        )
    header_cells = grid.values.iloc[position].tolist()
    row_number = grid.row_numbers[position]
    missing = [c for c in columns if c.required and c.key not in found]
    if not missing and required_any:
        group = max(required_any, key=lambda g: (sum(k in found for k in g), -len(g)))
        missing = [by_key[k] for k in group if k not in found]
    unmatched = {
        normalise_header(cell): str(cell).strip()
        for i, cell in enumerate(header_cells)
        if cell is not None and str(cell).strip() and not any(i in p for p in found.values())
    }
    parts = []
    for column in missing:
        targets = [normalise_header(a) for a in (column.label, *column.aliases)]
        best = None
        for target in targets:
            close = difflib.get_close_matches(target, list(unmatched), n=1, cutoff=0.6)
            if close:
                best = unmatched[close[0]]
                break
        if best:
            parts.append(
                f"no column '{column.label}', but there is '{best}': "
                f"rename column '{best}' to '{column.label}'"
            )
        else:
            parts.append(
                f"no column '{column.label}': add it (or rename the column that holds it to '{column.label}')"
            )
    alternatives = ""
    if len(required_any) > 1:
        alternatives = (
            " The table needs " + " or ".join(_and(by_key[k].label for k in g) for g in required_any) + "."
        )
    raise InputError(f"{grid.source}, header in row {row_number}: " + "; ".join(parts) + "." + alternatives)


def _plain_text(value: Any) -> str:
    """One cell as stripped text for classifying its row ("" for empty)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return value.strip(STRIP_CHARS) if isinstance(value, str) else _other_text(value)


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose cells are all empty or whitespace: strips each row's joined text once, not each cell."""
    joined: pd.Series | None = None
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if pd.api.types.infer_dtype(column, skipna=False) != "string":
            column = cell_text(column)[0]
        joined = column if joined is None else joined + column
    assert joined is not None  # a table always has at least one recognised column
    return (joined.str.strip(STRIP_CHARS) == "").to_numpy(dtype=bool)


def _footer_rows(values: np.ndarray, blank: np.ndarray) -> np.ndarray:
    """Footer rows: Analytics' and people's notes below the data, found by walking up from the last row.

    A row is data ("substantial") when two or more cells are filled and the first is not a known footer text;
    everything after the last such row that is a known footer text ("Applied filters: …", "Row count: 3")
    or a lone sentence in the first cell is a footer. A lone barcode or id is data, never a footer. In a
    one-column table every lone cell is data, so only the known footer texts are dropped there.
    """
    footer = np.zeros(len(values), dtype=bool)
    one_column = values.shape[1] == 1
    for position in range(len(values) - 1, -1, -1):
        if blank[position]:
            continue
        cells = [_plain_text(v) for v in values[position]]
        first = cells[0]
        keyword = bool(first) and _FOOTER_RE.match(first) is not None
        filled = sum(1 for c in cells if c)
        if keyword:
            footer[position] = True
        elif one_column:
            continue
        elif filled >= 2:
            break  # the last data row: nothing above it is a footer
        elif filled == 1 and first and isinstance(values[position][0], str) and re.search(r"[\s:]", first):
            footer[position] = True
    return footer


def _build_table(
    grid: Grid,
    columns: Sequence[Column],
    header_position: int,
    found: dict[str, list[int]],
    allow_empty: bool,
) -> Table:
    """Name the columns, check duplicate headers, drop blank and footer rows."""
    values = grid.values
    header_cells = values.iloc[header_position].tolist()
    header_row = grid.row_numbers[header_position]
    body = values.iloc[header_position + 1 :]
    numbers = pd.Series(grid.row_numbers[header_position + 1 :], index=body.index, dtype="int64")
    by_key = {c.key: c for c in columns}
    notes = list(grid.notes)

    names: dict[int, str] = {}
    labels: dict[str, str] = {}
    for key, positions in found.items():
        first, *others = positions
        names[first] = key
        labels[key] = str(header_cells[first]).strip()
        for other in others:
            other_label = str(header_cells[other]).strip()
            where = (
                f"columns {_column_letter(first)} ('{labels[key]}') "
                f"and {_column_letter(other)} ('{other_label}')"
            )
            if not cell_text(body[first])[0].equals(cell_text(body[other])[0]):
                raise InputError(
                    f"{grid.source}: {where} in row {header_row} are both {by_key[key].label}, with "
                    "different values. Delete the one that is wrong, or rename it, and try again."
                )
            notes.append(f"{where} are both {by_key[key].label} with the same values; the first is used.")
    used: set[str] = set(names.values())
    for position, cell in enumerate(header_cells):
        if position in names or any(position in p for p in found.values()):
            continue
        header = "" if cell is None else str(cell).strip()
        if not header:
            if (cell_text(body[position])[0] == "").all():
                continue  # trailing separators or an empty spare column: nothing to keep
            header = f"column {_column_letter(position)}"
        if header in used:
            header = f"{header} (column {_column_letter(position)})"
        names[position] = header
        used.add(header)
    keep_positions = sorted(names)
    frame = body[keep_positions].copy()
    frame.columns = [names[p] for p in keep_positions]

    blank = _blank_rows(frame)
    footer = _footer_rows(frame.to_numpy(dtype=object), blank)
    # Two exports pasted one under the other repeat the header: that row is not data.
    repeated = np.ones(len(frame), dtype=bool)
    for key in found:
        repeated &= (frame[key] == labels[key]).to_numpy(dtype=bool)
    if repeated.any():
        shown = ", ".join(str(n) for n in numbers[repeated].iloc[:5]) + (" …" if repeated.sum() > 5 else "")
        notes.append(f"Row(s) {shown} repeat the header and were ignored.")
    keep = ~blank & ~footer & ~repeated
    for row, cell in zip(numbers[footer], frame.iloc[:, 0][footer], strict=True):
        text = _plain_text(cell)
        shown = text if len(text) <= 60 else text[:57] + "…"
        notes.append(f"Row {row} ('{shown}') after the data was ignored as a footer.")
    frame = frame[keep]
    numbers = numbers[keep]
    if frame.empty and not allow_empty:
        raise InputError(
            f"{grid.source} has a header in row {header_row} but no data rows below it: export the report "
            "again with data, or choose another file."
        )
    return Table(
        frame=frame,
        rows=numbers,
        header_row=header_row,
        source=grid.source,
        labels=labels,
        notes=notes,
        typed=grid.typed,
    )
