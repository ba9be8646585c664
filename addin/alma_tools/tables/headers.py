"""Columns we recognise, and finding the header row that names them.

Exports spell a column many ways (``MMS Id``, ``MMS_ID``, ``\ufeffMMS Id``, ``Item PID``); a column is
recognised by any of its aliases once case, spaces, punctuation and invisible characters are set aside.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alma_tools.errors import InputError
from alma_tools.tables.cells import visible
from alma_tools.tables.grid import Grid

#: how many rows from the top may hold titles before the header row
HEADER_SEARCH_ROWS = 100


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


#: invisible characters that end up in headers pasted from the web or Word: zero-width space and joiners,
#: word joiner, soft hyphen, BOM, direction marks (NBSP and other spaces are removed with the spaces)
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200d\u2060\u00ad\ufeff\u180e\u200e\u200f]")


def normalise_header(text: Any) -> str:
    """Header text reduced for matching.

    Case, spaces (NBSP too), underscores, dots, hyphens, invisible characters (zero-width space, word
    joiner, soft hyphen, BOM) and a trailing ``(s)`` are ignored, so ``MMS_ID``, ``mms id``,
    ``\ufeffMMS Id`` and ``Location Code\u200b`` name the columns they look like.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    folded = _INVISIBLE_RE.sub("", str(text)).casefold()
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


def column_letter(index: int) -> str:
    """Excel column letter for a 0-based index (0 → A, 26 → AA): messages name columns the way Excel does."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def match_row(cells: Sequence[Any], lookup: dict[str, tuple[Column, int]]) -> dict[str, list[int]]:
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


def requirement_met(
    found: Iterable[str], columns: Sequence[Column], required_any: Sequence[Sequence[str]]
) -> bool:
    have = set(found)
    if any(c.required and c.key not in have for c in columns):
        return False
    return not required_any or any(set(group) <= have for group in required_any)


def column_lookup(columns: Sequence[Column]) -> dict[str, tuple[Column, int]]:
    """Normalised alias → (column, rank): rank 0 is the label, then the aliases in order, then the key."""
    lookup: dict[str, tuple[Column, int]] = {}
    for column in columns:
        for rank, alias in enumerate(
            dict.fromkeys(normalise_header(a) for a in (column.label, *column.aliases))
        ):
            lookup.setdefault(alias, (column, rank))
        lookup.setdefault(normalise_header(column.key), (column, len(column.aliases) + 1))
    return lookup


def find_header(
    grid: Grid, columns: Sequence[Column], required_any: Sequence[Sequence[str]]
) -> tuple[int, dict[str, list[int]]]:
    """The header row's position in the grid and key → positions of its recognised cells.

    The header is the first of the top :data:`HEADER_SEARCH_ROWS` rows holding every required column and
    one full group of ``required_any``; without one, InputError says what is missing (see
    :func:`_raise_missing`).
    """
    lookup = column_lookup(columns)
    top = grid.values.iloc[:HEADER_SEARCH_ROWS]
    best_position, best_found = None, {}
    for position in range(len(top)):
        found = match_row(top.iloc[position].tolist(), lookup)
        if requirement_met(found, columns, required_any):
            return position, found
        if best_position is None or len(found) > len(best_found):
            best_position, best_found = position, found
    _raise_missing(grid, columns, required_any, best_position if best_found else None, best_found)
    raise AssertionError("unreachable: _raise_missing raises")


def _and(labels: Iterable[str]) -> str:
    """``MMS Id, Holding Id and Item Id``: column names as a sentence lists them."""
    items = list(labels)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _wanted(columns: Sequence[Column], required_any: Sequence[Sequence[str]]) -> str:
    """``MMS Id, Holding Id and Item Id or Barcode``: what a table needs, as a sentence says it."""
    by_key = {c.key: c for c in columns}
    wanted = ", ".join(c.label for c in columns if c.required)
    if required_any:
        either = " or ".join(_and(by_key[k].label for k in group) for group in required_any)
        wanted = f"{wanted} and {either}" if wanted else either
    return wanted


def _quoted(cells: Sequence[str]) -> str:
    """``'Exemplar-ID', 'Standortcode'``: cells as a message lists them, invisible characters shown."""
    return ", ".join([f"'{visible(c, 40)}'" for c in cells[:12]] + (["…"] if len(cells) > 12 else []))


def _not_recognised(cells: Sequence[str]) -> str:
    """ " Columns seen and not recognised: 'Exemplar-ID', 'Standortcode'." ("" when there are none)."""
    return f" Columns seen and not recognised: {_quoted(cells)}." if cells else ""


def _raise_missing(
    grid: Grid,
    columns: Sequence[Column],
    required_any: Sequence[Sequence[str]],
    position: int | None,
    found: dict[str, list[int]],
) -> None:
    """Explain which column is missing, the closest header seen, the rename that fixes it, and the
    columns seen that were not recognised (an export in another language, a header with an invisible
    character)."""
    if position is None:
        filled = [r for r in range(min(HEADER_SEARCH_ROWS, len(grid.values))) if _cells(grid, r)]
        seen = ""
        if filled:
            first = filled[0]
            seen = (
                f" Row {grid.row_numbers[first]} has {_quoted(_cells(grid, first))}, none of them recognised."
            )
        raise InputError(
            f"{grid.source}: no header row found in the first {HEADER_SEARCH_ROWS} rows. The table needs "
            f"columns named {_wanted(columns, required_any)}; put these names in one row above the data."
            + seen
        )
    by_key = {c.key: c for c in columns}
    missing = [c for c in columns if c.required and c.key not in found]
    if not missing and required_any:
        group = max(required_any, key=lambda g: (sum(k in found for k in g), -len(g)))
        missing = [by_key[k] for k in group if k not in found]
    matched = {i for positions in found.values() for i in positions}
    unmatched_cells = [
        c for i, c in enumerate(_cells(grid, position, keep_empty=True)) if i not in matched and c
    ]
    unmatched = {normalise_header(cell): cell for cell in unmatched_cells}
    parts = [_missing_part(column, unmatched) for column in missing]
    alternatives = ""
    if len(required_any) > 1:
        alternatives = (
            " The table needs " + " or ".join(_and(by_key[k].label for k in g) for g in required_any) + "."
        )
    raise InputError(
        f"{grid.source}, header in row {grid.row_numbers[position]}: "
        + "; ".join(parts)
        + "."
        + alternatives
        + _not_recognised(unmatched_cells)
    )


def _cells(grid: Grid, position: int, keep_empty: bool = False) -> list[str]:
    """The text of one grid row's cells (stripped), without the empty ones unless ``keep_empty``."""
    cells = ["" if c is None else str(c).strip() for c in grid.values.iloc[position].tolist()]
    return cells if keep_empty else [c for c in cells if c]


def _missing_part(column: Column, unmatched: dict[str, str]) -> str:
    """One missing column: the rename when a header seen is close to one of its names, else add it."""
    for target in (normalise_header(a) for a in (column.label, *column.aliases)):
        close = difflib.get_close_matches(target, list(unmatched), n=1, cutoff=0.6)
        if close:
            best = visible(unmatched[close[0]])
            label = column.label
            return f"no column '{label}', but there is '{best}': rename column '{best}' to '{label}'"
    return f"no column '{column.label}': add it (or rename the column that holds it to '{column.label}')"
