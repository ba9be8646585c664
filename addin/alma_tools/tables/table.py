"""Table: the data rows below the header, with recognised columns, and the rows set aside on the way.

:func:`find_table` finds the header (:mod:`alma_tools.tables.headers`), names the columns, and sorts every
row below it into data, blank, or set aside (a footer, a totals row, a repeated header), each set-aside row
named with its row number so the faces can tell the user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alma_tools.errors import InputError
from alma_tools.tables.aside import Body, set_aside_rows
from alma_tools.tables.cells import cell_text, plain_text, visible
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
    #: frame column → its 0-based column in the grid (the sheet's column A = 0, the CSV's first cell = 0)
    positions: dict[str, int] = field(default_factory=dict)
    #: (user row, 0-based grid column) of cells holding a formula (workbooks; :attr:`Grid.formula_cells`)
    formula_cells: frozenset[tuple[int, int]] = frozenset()

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

    def was_formula(self, key: str) -> pd.Series:
        """Whether each cell of ``key`` held a formula (its saved value is what :attr:`frame` holds)."""
        column = self.positions.get(key)
        cells = {row for row, at in self.formula_cells if at == column}
        return self.rows.isin(cells) if cells else pd.Series(False, index=self.frame.index, dtype=bool)

    def label(self, key: str) -> str:
        """The header as the user wrote it, for messages."""
        return self.labels.get(key, key)


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

    texts = _texts(frame)
    aside_positions, aside = set_aside_rows(Body(frame, texts, numbers, columns, found, labels, grid.source))
    notes.extend(_set_aside_notes(aside))
    keep = (texts != "").any(axis=1)
    keep[aside_positions] = False
    header_width = _header_width(grid.values.iloc[header_position].tolist())
    problems = _extra_cells(grid, frame, texts, keep_positions, header_width, numbers)
    frame = frame[keep]
    numbers = numbers[keep]
    problems = problems[keep]
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
        row_problems=problems,
        set_aside=aside,
        dialect=grid.dialect,
        records=pd.Series(frame.index.to_numpy(dtype="int64"), index=frame.index, dtype="int64"),
        header_record=header_position,
        positions={name: position for position, name in names.items()},
        formula_cells=grid.formula_cells,
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
                f"columns {column_letter(first)} ('{visible(labels[key])}') "
                f"and {column_letter(other)} ('{visible(other_label)}')"
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


def _texts(frame: pd.DataFrame) -> np.ndarray:
    """The frame as clean text, rows × columns (see :func:`cell_text`): what the row sorting looks at."""
    if frame.shape[1] == 0:
        return np.empty((len(frame), 0), dtype=object)
    return np.column_stack(
        [cell_text(frame.iloc[:, i])[0].to_numpy(dtype=object) for i in range(frame.shape[1])]
    )


def _header_width(header_cells: list[object]) -> int:
    """Cells up to the header's last non-empty one: where the results columns go, so nothing may be there."""
    filled = [i for i, cell in enumerate(header_cells) if plain_text(cell)]
    return filled[-1] + 1 if filled else 0


_COUNT_WORDS = {1: "one cell", 2: "two cells", 3: "three cells"}


def _extra_cells(
    grid: Grid,
    frame: pd.DataFrame,
    texts: np.ndarray,
    grid_positions: list[int],
    header_width: int,
    numbers: pd.Series,
) -> pd.Series:
    """Why each row must not be sent: a filled cell right of the header's last column.

    In a CSV that is nearly always a separator inside a cell that is not in quotes (a comma in a title),
    which shifts every cell after it; the results written after the header would overwrite the row's
    last cell. The row is kept whole (every cell, under ``column H`` …) and refused by the plan.
    """
    problems = pd.Series("", index=frame.index, dtype=object)
    beyond = [i for i, position in enumerate(grid_positions) if position >= header_width]
    if not beyond:
        return problems
    extra = texts[:, beyond] != ""
    for row_position in np.flatnonzero(extra.any(axis=1)):
        cells = [
            (grid_positions[beyond[i]], texts[row_position, beyond[i]])
            for i in np.flatnonzero(extra[row_position])
        ]
        count = len(cells)
        where, value = column_letter(cells[0][0]), visible(cells[0][1], 40)
        if grid.kind == "csv" and grid.dialect is not None:
            separator = {",": "comma", ";": "semicolon", "\t": "tab"}[grid.dialect.delimiter]
            why = (
                f"has {_COUNT_WORDS.get(count, f'{count} cells')} more than the header (column {where}: "
                f"'{value}'): probably a {separator} inside a cell that is not in quotes (a title?), which "
                f"shifts the cells after it. Put that cell in quotes or remove the {separator}; the row is "
                "not sent until then"
            )
        else:
            why = (
                f"has a value right of the header's last column ({where}{int(numbers.iloc[row_position])}: "
                f"'{value}'): give that column a header or clear the cell; the row is not sent until then"
            )
        problems.iloc[int(row_position)] = why
    return problems


#: how a note says what was done with a row set aside, by the first word of its reason
_ASIDE_NOTES = {
    "footer": "after the data was ignored as a footer.",
    "totals": "is a totals row and was ignored.",
    "between": "between two exports (a footer or title) was ignored.",
}


def _set_aside_notes(aside: list[tuple[int, str]]) -> list[str]:
    """The notes the faces print for the rows set aside: "Row 7 ('Applied filters: …') after the data
    was ignored as a footer."; repeated headers in one line."""
    notes = []
    repeated = [row for row, why in aside if why == "repeats the header"]
    if repeated:
        shown = ", ".join(str(n) for n in repeated[:5]) + (" …" if len(repeated) > 5 else "")
        notes.append(f"Row(s) {shown} repeat the header and were ignored.")
    for row, why in aside:
        kind, _, shown = why.partition(" (")
        if kind.split()[0] in _ASIDE_NOTES:
            notes.append(f"Row {row} ({shown.removesuffix(')')}) {_ASIDE_NOTES[kind.split()[0]]}")
    return notes
