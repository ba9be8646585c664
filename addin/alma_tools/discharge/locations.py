"""The Locations table: the library and circulation desk that scan in the items of each location code.

A location code names one place: its line gives the library the scan-in is sent for and the desk that does
it. The table is read once, before any call, and refused whole (:class:`InputError`) when it cannot be
trusted: one code with two desks or two libraries (whatever its case or spaces), or a code cell that holds
a number Excel saved as text (``1030300.0``). Cells are cleaned by the same function as the items table's
(:meth:`alma_tools.tables.Table.text`), so a number cell ``1030300.0`` is the code ``1030300`` in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from alma_tools.errors import InputError
from alma_tools.tables import Table

#: the code columns of a Locations table, in the order messages name them
CODE_KEYS = ("location_code", "library_code", "circ_desk")
#: the most conflicts or damaged cells named in one message
SHOWN = 5
_DECIMAL_TEXT = r"\d+\.0+"


def fold_code(values: pd.Series) -> pd.Series:
    """Codes compared as people type them: case, spaces (inside too) and no-break spaces ignored."""
    return values.astype(str).str.replace(r"[\s\u00a0\ufeff]+", "", regex=True).str.casefold()


def _column(table: Table, key: str) -> pd.Series:
    """Column ``key`` cleaned as the items table's cells are, or an empty column when the table lacks it."""
    if table.has(key):
        return table.text(key)
    return pd.Series("", index=table.frame.index, dtype=object)


def _decimal_text_cells(table: Table) -> list[str]:
    """A message per code cell holding a text such as ``1030300.0`` (a number cell is cleaned instead)."""
    found = []
    for key in CODE_KEYS:
        if not table.has(key):
            continue
        text = table.text(key)
        was_number = table.was_number(key).fillna(False).astype(bool)
        damaged = text.str.fullmatch(_DECIMAL_TEXT) & ~was_number
        for idx in damaged[damaged].index:
            value = str(text[idx])
            found.append(
                f"{table.label(key)} in row {int(table.rows[idx])} of {table.source} is the text "
                f"'{value}', a number saved with '.0': type the code as Alma has it "
                f"({value.split('.')[0]}) and run again"
            )
    return found


def _conflicts(lines: pd.DataFrame, source: str) -> list[str]:
    """One message per location code whose lines disagree on the desk or the library."""
    found = []
    for _, group in lines.groupby("key", sort=False):
        first = group.iloc[0]
        for _, other in group.iloc[1:].iterrows():
            for what, column in (("library", "library"), ("desk", "desk")):
                if other[column] != first[column]:
                    found.append(
                        f"location '{first['location']}' in row {first['row']} has {what} "
                        f"'{first[column]}' but '{other['location']}' in row {other['row']} has {what} "
                        f"'{other[column]}'"
                    )
                    break
            else:
                continue
            break  # one message per code is enough to find the lines
    return found


@dataclass(frozen=True)
class DeskTable:
    """The Locations table as a lookup: folded location code → (library as written, desk as written).

    ``has_library`` is False for the old two-column table (``location_code, circ_desk``): the library then
    comes from the items row (or, for a barcode-only row without one, from the item in Alma).
    """

    lines: pd.DataFrame  # index: folded location code; columns: location, library, desk, row
    has_library: bool
    source: str

    @classmethod
    def from_table(cls, locations: Table) -> DeskTable:
        """Read and check the table; :class:`InputError` naming rows, values and fix when it is unclear."""
        damaged = _decimal_text_cells(locations)
        if damaged:
            raise InputError(_listed(f"The Locations table ({locations.source}) has damaged codes", damaged))
        location = _column(locations, "location_code")
        lines = pd.DataFrame(
            {
                "key": fold_code(location),
                "location": location,
                "library": _column(locations, "library_code"),
                "desk": _column(locations, "circ_desk"),
                "row": locations.rows.astype(int),
            }
        )
        lines = lines[(lines["key"] != "") & (lines["desk"] != "")]
        conflicts = _conflicts(lines, locations.source)
        if conflicts:
            raise InputError(
                _listed(
                    f"The Locations table ({locations.source}) gives one location two places",
                    conflicts,
                    fix="keep one line per location code (case and spaces do not count), then run again",
                )
            )
        unique = lines.drop_duplicates("key").set_index("key")
        return cls(unique, locations.has("library_code"), locations.source)

    def lookup(self, location: pd.Series, library: pd.Series) -> tuple[pd.Series, pd.Series]:
        """For each row: the library to send (the location's, else the row's) and the desk ("" if none)."""
        hit = self.lines.reindex(fold_code(location).to_numpy())
        desk = pd.Series(hit["desk"].fillna("").to_numpy(), index=location.index, dtype=object)
        line_library = pd.Series(hit["library"].fillna("").to_numpy(), index=location.index, dtype=object)
        send_library = line_library.where((line_library != "") & (desk != ""), library)
        return send_library.astype(object), desk

    def find(self, location: str, library: str) -> tuple[str, str] | None:
        """One location's (library to send, desk), for a row whose location is known only at run time."""
        send_library, desk = self.lookup(
            pd.Series([location], dtype=object), pd.Series([library], dtype=object)
        )
        return (str(send_library.iloc[0]), str(desk.iloc[0])) if desk.iloc[0] else None

    def unknown_libraries(self, library: pd.Series) -> pd.Series:
        """True for each non-empty library code no line of the table has (all False without libraries)."""
        if not self.has_library:
            return pd.Series(False, index=library.index)
        known = set(fold_code(self.lines["library"]))
        folded = fold_code(library)
        return (folded != "") & ~folded.isin(known)


def _listed(head: str, items: list[str], fix: str = "") -> str:
    """``head: a; b; c (and N more)[: fix]`` — a message that names a few cases and counts the rest."""
    shown = "; ".join(items[:SHOWN])
    more = f" (and {len(items) - SHOWN} more)" if len(items) > SHOWN else ""
    return f"{head}: {shown}{more}" + (f": {fix}" if fix else "")
