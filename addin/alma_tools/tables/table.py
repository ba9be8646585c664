"""Table: the data rows below the header, with recognised columns, and the rows set aside on the way.

:func:`find_table` finds the header (:mod:`alma_tools.tables.headers`), names the columns, and sorts every
row below it into data, blank, or set aside (a footer, a totals row, a repeated header), each set-aside row
named with its row number so the faces can tell the user.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alma_tools.errors import InputError
from alma_tools.tables.cells import STRIP_CHARS, cell_text, plain_text, visible
from alma_tools.tables.dialect import CsvDialect
from alma_tools.tables.grid import Grid
from alma_tools.tables.headers import Column, column_letter, find_header


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
    #: the worksheet read (workbooks), or the sheet the values came from; None for CSV
    sheet: str | None = None
    #: True for rows hidden in the sheet (by a filter or by hand); same index as ``frame``; all False for CSV
    hidden: pd.Series = field(default_factory=lambda: pd.Series(dtype=bool))
    #: why a row must not be sent ("" when fine), e.g. a record with more cells than the header; same index
    row_problems: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    #: (user row, why) of every non-blank row below the header that is not data: footers, totals rows,
    #: repeated headers; in row order
    set_aside: list[tuple[int, str]] = field(default_factory=list)
    #: CSV only: how the file was read (see :class:`~alma_tools.tables.dialect.CsvDialect`)
    dialect: CsvDialect | None = None
    #: which grid row (= CSV record, or sheet row - 1 for a workbook) each frame row came from; same index
    records: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))
    #: the grid row of the header (the CSV record index of the header line)
    header_record: int = 0
    #: "csv", "xlsx" or "values" (see :attr:`Grid.kind`)
    kind: str = "values"

    def __post_init__(self) -> None:
        """Tables built by hand (a fast path) get the per-row series for their frame: nothing hidden or
        refused, records in frame order."""
        if len(self.hidden) != len(self.frame):
            self.hidden = pd.Series(False, index=self.frame.index, dtype=bool)
        if len(self.row_problems) != len(self.frame):
            self.row_problems = pd.Series("", index=self.frame.index, dtype=object)
        if len(self.records) != len(self.frame):
            self.records = pd.Series(self.rows.to_numpy() - 1, index=self.frame.index, dtype="int64")

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


def find_table(
    grid: Grid,
    columns: Sequence[Column],
    *,
    required_any: Sequence[Sequence[str]] | None = None,
    allow_empty: bool = False,
) -> Table:
    """Find the header row, recognise the columns, and keep the data rows.

    The header is the first of the top :data:`~alma_tools.tables.headers.HEADER_SEARCH_ROWS` rows holding
    every required column (and one full group of ``required_any``, which defaults to the column set's
    own); title rows above it are ignored. Blank rows are dropped; rows repeating the header and footer
    rows (Analytics' "Applied filters: …", "Total", "Row count", or a lone sentence in the first column,
    never a lone barcode) after the last data row are set aside, each named in :attr:`Table.set_aside`
    and :attr:`Table.notes`. Two headers naming one column with different values, or a header-only table
    (unless ``allow_empty``), are errors.
    """
    if required_any is None:
        required_any = getattr(columns, "required_any", ())
    header_position, found = find_header(grid, columns, required_any)
    return _build_table(grid, columns, header_position, found, allow_empty)


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
        cells = [plain_text(v) for v in values[position]]
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
    """Name the columns, check duplicate headers, sort the rows into data, blank and set aside."""
    header_row = grid.row_numbers[header_position]
    body = grid.values.iloc[header_position + 1 :]
    numbers = pd.Series(grid.row_numbers[header_position + 1 :], index=body.index, dtype="int64")
    names, labels, notes = _name_columns(grid, columns, header_position, found)
    keep_positions = sorted(names)
    frame = body[keep_positions].copy()
    frame.columns = [names[p] for p in keep_positions]

    blank = _blank_rows(frame)
    aside_positions, aside = _set_aside_rows(frame, numbers, blank, found, labels)
    notes.extend(_set_aside_notes(aside))
    keep = ~blank
    keep[aside_positions] = False
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
        sheet=grid.sheet,
        hidden=numbers.isin(grid.hidden_rows) if grid.hidden_rows else pd.Series(False, index=frame.index),
        row_problems=pd.Series("", index=frame.index, dtype=object),
        set_aside=aside,
        dialect=grid.dialect,
        records=pd.Series(frame.index.to_numpy(dtype="int64"), index=frame.index, dtype="int64"),
        header_record=header_position,
        kind=grid.kind,
    )


def _name_columns(
    grid: Grid, columns: Sequence[Column], header_position: int, found: dict[str, list[int]]
) -> tuple[dict[int, str], dict[str, str], list[str]]:
    """Grid column → frame column name (the key, or the header text made unique), key → header as written,
    and the notes so far (the grid's, and duplicate headers with the same values)."""
    header_cells = grid.values.iloc[header_position].tolist()
    header_row = grid.row_numbers[header_position]
    body = grid.values.iloc[header_position + 1 :]
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
                f"columns {column_letter(first)} ('{labels[key]}') "
                f"and {column_letter(other)} ('{other_label}')"
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
            header = f"column {column_letter(position)}"
        if header in used:
            header = f"{header} (column {column_letter(position)})"
        names[position] = header
        used.add(header)
    return names, labels, notes


def _set_aside_rows(
    frame: pd.DataFrame,
    numbers: pd.Series,
    blank: np.ndarray,
    found: dict[str, list[int]],
    labels: dict[str, str],
) -> tuple[list[int], list[tuple[int, str]]]:
    """Positions in ``frame``, and (row, why), of the rows below the header that are not data."""
    reasons: dict[int, str] = {}
    # Two exports pasted one under the other repeat the header: that row is not data.
    repeated = np.ones(len(frame), dtype=bool)
    for key in found:
        repeated &= (frame[key] == labels[key]).to_numpy(dtype=bool)
    for position in np.flatnonzero(repeated):
        reasons[int(position)] = "repeats the header"
    footer = _footer_rows(frame.to_numpy(dtype=object), blank)
    first_column = frame.iloc[:, 0]
    for position in np.flatnonzero(footer & ~repeated):
        reasons[int(position)] = f"footer ('{visible(plain_text(first_column.iloc[position]))}')"
    row_numbers = numbers.to_numpy()
    positions = sorted(reasons)
    return positions, [(int(row_numbers[p]), reasons[p]) for p in positions]


def _set_aside_notes(aside: list[tuple[int, str]]) -> list[str]:
    """The notes the faces print for the rows set aside (one line per kind of reason)."""
    notes = []
    repeated = [row for row, why in aside if why == "repeats the header"]
    if repeated:
        shown = ", ".join(str(n) for n in repeated[:5]) + (" …" if len(repeated) > 5 else "")
        notes.append(f"Row(s) {shown} repeat the header and were ignored.")
    for row, why in aside:
        if why.startswith("footer ("):
            notes.append(
                f"Row {row} ({why.removeprefix('footer (').removesuffix(')')}) after the data was "
                "ignored as a footer."
            )
    return notes
