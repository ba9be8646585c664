"""The exports the simulator starts from, read on its own with plain ``csv`` and pandas.

The simulator shares no code with the product's reader (:mod:`alma_tools.tables`), so a bug in how the
product reads ids cannot hide in the simulator too. It reads the first row as the header, keeps every cell
as text, and picks its columns by header, folded to letters and digits ("Item Id", "item_id", "ITEM ID").
A row whose ids are not plain digits is the world's concern: it is skipped there, not here.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from alma_tools.errors import ConfigError

#: internal field → accepted headers, folded by :func:`fold`
ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "mms_id": ("mmsid", "bibmmsid", "mmsrecordid"),
    "holding_id": ("holdingid", "holdingsid", "holdingsrecordid"),
    "item_id": ("itemid", "itempid", "physicalitemid"),
    "barcode": ("barcode", "itembarcode"),
    "library": ("librarycode", "library"),
    "location": ("locationcode", "permanentlocationcode"),
    "temp_location": ("templocationcode", "temporarylocationcode"),
    "temp_library": ("templibrarycode", "temporarylibrarycode"),
    "title": ("title",),
    "loan_date": ("loandate",),
}
LOCATION_FIELDS: dict[str, tuple[str, ...]] = {
    "location": ("locationcode",),
    "library": ("librarycode", "library"),
    "desk": ("circdesk", "circulationdesk", "desk"),
}
_DELIMITERS = (",", ";", "\t")
_HEADER_ROWS = 30


def fold(header: object) -> str:
    """A header reduced to lower-case letters and digits (BOM, spaces, underscores and dots go)."""
    return re.sub(r"[^0-9a-z]", "", str(header).lower())


def read_export(
    source: str | os.PathLike[str] | pd.DataFrame, fields: dict[str, tuple[str, ...]]
) -> pd.DataFrame:
    """The export (CSV or XLSX file, or a frame) as one text column per field ("" where absent or empty).

    The header is the first of the top rows that names two of the fields (an export may start with a title).
    """
    name = "the frame" if isinstance(source, pd.DataFrame) else Path(source).name
    try:
        grid = _grid(source)
    except (OSError, ValueError, csv.Error) as exc:
        raise ConfigError(f"The simulator could not read {name}: {exc}") from None
    known = {spelling for spellings in fields.values() for spelling in spellings}
    header = next(
        (n for n in range(min(len(grid), _HEADER_ROWS)) if len(known & set(grid.iloc[n].map(fold))) >= 2),
        None,
    )
    if header is None:
        labels = ", ".join(spellings[0] for spellings in fields.values())
        raise ConfigError(f"The simulator found no header row in {name} (columns such as {labels}).")
    by_header = {fold(cell): column for column, cell in grid.iloc[header].items()}
    body = grid.iloc[header + 1 :].reset_index(drop=True)
    picked = {}
    for field_name, spellings in fields.items():
        column = next((by_header[s] for s in spellings if s in by_header), None)
        picked[field_name] = body[column] if column is not None else pd.Series("", index=body.index)
    return pd.DataFrame(picked, index=body.index, dtype=object)


def _grid(source: str | os.PathLike[str] | pd.DataFrame) -> pd.DataFrame:
    """Every cell of the export as text, the header as a row like the others."""
    if isinstance(source, pd.DataFrame):
        grid = pd.concat([pd.DataFrame([list(source.columns)]), pd.DataFrame(source.to_numpy())])
    elif Path(source).suffix.lower() in (".xlsx", ".xlsm"):
        grid = pd.read_excel(source, header=None, dtype=object, engine="openpyxl")
    else:
        grid = _read_csv(Path(source))
    return grid.map(_text).reset_index(drop=True)


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV in UTF-8 (BOM or not), UTF-16 (BOM) or cp1252, delimited by comma, semicolon or tab."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
    first_line = text.split("\n", 1)[0]
    delimiter = max(_DELIMITERS, key=first_line.count)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    width = max((len(row) for row in rows), default=0)
    return pd.DataFrame([row + [""] * (width - len(row)) for row in rows], dtype=object)


def _text(value: Any) -> str:
    """A cell as clean text: empty for a missing value, ends stripped."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return ""
    return str(value).strip()
