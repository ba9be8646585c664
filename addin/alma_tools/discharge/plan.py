"""Deciding each row before any call: which desk scans it in, and which rows must not be sent at all.

Everything that can be known from the two tables is decided here, with whole-column operations, so that
``--dry-run`` and the Excel "Check sheet" button show every problem before a single call is made and a damaged
id never reaches Alma. Nothing is ever dropped: each input row ends up as exactly one :class:`PlannedRow`,
either to be sent or with its outcome already decided (refused, no desk, duplicate, done earlier).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from alma_tools.discharge.outcomes import DONE_EARLIER, Outcome
from alma_tools.errors import InputError
from alma_tools.ids import check_id_column, institution_suffix
from alma_tools.tables import Table

LOCATION_TYPES = ("auto", "temp", "perm")
ID_KEYS = ("mms_id", "holding_id", "item_id")
ID_KINDS = {"mms_id": "mms", "holding_id": "holding", "item_id": "item"}
#: the most first rows shown per kind of problem in the summary
FIRST_ROWS_SHOWN = 5


@dataclass(frozen=True)
class DischargeOptions:
    """How to scan in: which location decides the desk, the pace, and the scan-in parameters.

    ``register_in_house_use`` is off: Alma's default (on) would count a false in-house use for every item
    that was not on loan. ``done``, ``auto_print_slip`` and ``place_on_hold_shelf`` are sent only when set.
    """

    location_type: str = "auto"
    rate: float = 20.0
    workers: int | None = None
    register_in_house_use: bool = False
    done: bool | None = None
    auto_print_slip: bool | None = None
    place_on_hold_shelf: bool | None = None

    def __post_init__(self) -> None:
        if self.location_type not in LOCATION_TYPES:
            raise InputError(
                f"Location type '{self.location_type}' is not one of auto, temp, perm: "
                "use auto (the temporary location when there is one), temp or perm"
            )
        if not (0 < self.rate <= 25):
            raise InputError(
                f"Rate {self.rate:g} calls per second is not possible: Alma allows 25 per institution; "
                "use a rate from 1 to 25 (20 leaves room for your other systems)"
            )

    def worker_count(self) -> int:
        """Enough threads to keep the pacer busy while each call waits up to 0.8 s on Alma (and a margin)."""
        if self.workers:
            return self.workers
        return max(8, math.ceil(self.rate * 0.8 * 1.5))


@dataclass(frozen=True)
class Problem:
    """Why a row will not be sent, tied to the cell to fix: ``column`` is a column key of the items table."""

    row: int
    column: str
    message: str
    kind: str


@dataclass(frozen=True)
class PlannedRow:
    """One input row: the call to make, or (``decided``) its outcome without a call.

    ``key`` identifies the item across runs (its Item Id, or ``barcode:<barcode>`` for barcode-only rows).
    """

    row: int
    key: str
    mms_id: str
    holding_id: str
    item_id: str
    barcode: str
    library: str
    circ_desk: str
    location: str
    decided: Outcome | None = None


@dataclass
class PlanSummary:
    """What ``--dry-run`` and "Check sheet" show: rows per library and desk, problems by kind."""

    total: int
    to_send: int
    by_desk: list[tuple[str, str, int]]
    problems: dict[str, tuple[int, list[int]]]
    barcode_only: int

    def lines(self) -> list[str]:
        """The summary as plain lines of text (the CLI prints them; the Excel face logs them)."""
        out = [f"{self.total:,} rows: {self.to_send:,} to scan in."]
        if self.barcode_only:
            out.append(
                f"{self.barcode_only:,} of them have only a barcode (looked up first: two calls each)."
            )
        for library, desk, count in self.by_desk:
            out.append(f"  library {library}, desk {desk}: {count:,} rows")
        names = {
            "refused": "ids damaged or missing (not sent)",
            "no_desk": "no desk for the location (not sent)",
            "duplicate": "same item as an earlier row (scanned once)",
            "skipped_done": "done in an earlier run (skipped)",
        }
        for kind, (count, rows) in self.problems.items():
            shown = ", ".join(str(r) for r in rows[:FIRST_ROWS_SHOWN])
            more = ", …" if count > FIRST_ROWS_SHOWN else ""
            out.append(f"{count:,} rows {names.get(kind, kind)}: rows {shown}{more}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass
class Plan:
    """Every row of the items table, in table order, with the problems found (per cell) for the faces."""

    rows: list[PlannedRow]
    problems: list[Problem] = field(default_factory=list)
    source: str = ""

    @property
    def to_send(self) -> list[PlannedRow]:
        return [r for r in self.rows if r.decided is None]

    def summary(self) -> PlanSummary:
        sending = self.to_send
        desks = Counter((r.library, r.circ_desk) for r in sending)
        problems: dict[str, tuple[int, list[int]]] = {}
        for prow in self.rows:
            if prow.decided is not None:
                count, rows = problems.get(prow.decided.kind, (0, []))
                rows.append(prow.row)
                problems[prow.decided.kind] = (count + 1, rows)
        return PlanSummary(
            total=len(self.rows),
            to_send=len(sending),
            by_desk=[(lib, desk, n) for (lib, desk), n in sorted(desks.items())],
            problems=problems,
            barcode_only=sum(1 for r in sending if not r.item_id),
        )


def _text(table: Table, key: str) -> pd.Series:
    """Column ``key`` as text, or an empty column when the table does not have it."""
    if table.has(key):
        return table.text(key)
    return pd.Series("", index=table.frame.index, dtype=object)


def _fold(values: pd.Series) -> pd.Series:
    """Codes compared as people type them in a locations table: case and surrounding spaces ignored."""
    return values.astype(str).str.strip().str.casefold()


def _truthy(values: pd.Series) -> pd.Series:
    return values.str.strip().str.casefold().isin({"true", "yes", "y", "1", "x", "done", "wahr", "vrai"})


def _desk_table(locations: Table) -> tuple[pd.DataFrame, bool]:
    """The locations table as ``loc, lib, desk`` (folded lookup keys plus the codes as written)."""
    has_library = locations.has("library_code")
    desks = pd.DataFrame(
        {
            "loc": _fold(_text(locations, "location_code")),
            "lib": _fold(_text(locations, "library_code")),
            "desk": _text(locations, "circ_desk"),
            "library": _text(locations, "library_code"),
        }
    )
    desks = desks[(desks["loc"] != "") & (desks["desk"] != "")]
    return desks, has_library


def _id_problems(items: Table, barcode_only: pd.Series) -> pd.DataFrame:
    """Per id column present, the message for each damaged cell ("" when the id is sound).

    Barcodes are checked only where they are what gets sent (rows without an Item Id).
    """
    present = [key for key in ID_KEYS if items.has(key)]
    suffix = institution_suffix(*(items.frame[key] for key in present)) if present else None
    messages = {}
    for key in present:
        messages[key] = check_id_column(
            items.text(key),
            items.was_number(key),
            label=items.label(key),
            rows=items.rows,
            kind=ID_KINDS[key],
            suffix=suffix,
        )
    if items.has("barcode") and barcode_only.any():
        checked = check_id_column(
            items.text("barcode"),
            items.was_number("barcode"),
            label=items.label("barcode"),
            rows=items.rows,
            kind="barcode",
            suffix=suffix,
        )
        messages["barcode"] = checked.where(barcode_only, "")
    return pd.DataFrame(messages, index=items.frame.index, dtype=object)


def make_plan(items: Table, locations: Table, options: DischargeOptions) -> Plan:
    """Decide every row of ``items``: the desk that scans it in, or why it is not sent.

    Precedence per row: done in the file's ``done`` column, damaged or missing ids, no desk, same item as an
    earlier row. The first problem decides the row's status; :attr:`Plan.problems` lists every problem cell.
    """
    index = items.frame.index
    rows = items.rows.astype(int)
    mms, holding, item, barcode = (_text(items, k) for k in ("mms_id", "holding_id", "item_id", "barcode"))
    perm_loc, temp_loc = _text(items, "location_code"), _text(items, "temp_location_code")
    library, temp_library = _text(items, "library_code"), _text(items, "temp_library_code")
    done_before = _truthy(_text(items, "done"))
    old_status = _text(items, "status")

    problems: list[Problem] = []
    status = pd.Series("", index=index, dtype=object)  # the deciding message of each refused/no-desk row
    kind = pd.Series("", index=index, dtype=object)

    def refuse(mask: pd.Series, column: str | pd.Series, messages: pd.Series, what: str = "refused") -> None:
        columns = column if isinstance(column, pd.Series) else pd.Series(column, index=index)
        for idx in mask[mask].index:
            problems.append(Problem(int(rows[idx]), str(columns[idx]), str(messages[idx]), what))
        first = mask & (kind == "")
        status[first] = messages[first]
        kind[first] = what

    # -- ids: damaged by Excel, or missing ------------------------------------------------------------------
    barcode_only = (item == "") & (barcode != "")
    damage = _id_problems(items, barcode_only)
    for key in damage.columns:
        # a damaged id is refused even when the row has a barcode: the row is no longer reliable
        refuse(damage[key] != "", key, damage[key])
    nothing = (item == "") & (barcode == "")
    refuse(
        nothing, "item_id", "Row " + rows.astype(str) + " has no Item Id and no Barcode: fill one of them in"
    )
    for key, values in (("mms_id", mms), ("holding_id", holding)):
        missing = (item != "") & (values == "")
        label = items.label(key) if items.has(key) else {"mms_id": "MMS Id", "holding_id": "Holding Id"}[key]
        refuse(
            missing,
            key,
            f"{label} is empty in row "
            + rows.astype(str)
            + f": fill it in (export it with the {label} column)",
        )

    # -- location and desk -------------------------------------------------------------------------------
    if options.location_type == "temp":
        use_temp = pd.Series(True, index=index)
        refuse(
            temp_loc == "",
            "temp_location_code",
            "Row " + rows.astype(str) + " has no Temporary Location Code: use location type auto or perm",
            "no_desk",
        )
    elif options.location_type == "perm":
        use_temp = pd.Series(False, index=index)
    else:
        use_temp = temp_loc != ""
    location = temp_loc.where(use_temp, perm_loc)
    row_library = temp_library.where(use_temp & (temp_library != ""), library)
    location_key = pd.Series("location_code", index=index).where(~use_temp, "temp_location_code")
    refuse(
        (location == "") & (kind == ""),
        location_key,
        "Row " + rows.astype(str) + " has no Location Code: fill it in, the desk is chosen by location",
        "no_desk",
    )

    desks, has_library = _desk_table(locations)
    wanted = pd.DataFrame({"loc": _fold(location), "lib": _fold(row_library)}, index=index)
    desk = pd.Series("", index=index, dtype=object)
    send_library = row_library.copy()
    if has_library:
        exact = desks.drop_duplicates(["loc", "lib"])
        hit = wanted.reset_index().merge(exact, on=["loc", "lib"], how="left").set_index("index")
        desk = hit["desk"].fillna("").astype(object)
        send_library = hit["library"].where(desk != "", row_library).fillna("").astype(object)
        # a location whose library differs from the row's (e.g. a reserve room elsewhere): unique code wins
        unique = desks.drop_duplicates("loc", keep=False)
        by_loc = (
            wanted.reset_index().merge(unique, on="loc", how="left", suffixes=("", "_t")).set_index("index")
        )
        fallback = (desk == "") & by_loc["desk"].notna()
        desk[fallback] = by_loc.loc[fallback, "desk"]
        send_library[fallback] = by_loc.loc[fallback, "library"]
    else:
        by_loc = (
            wanted.reset_index().merge(desks.drop_duplicates("loc"), on="loc", how="left").set_index("index")
        )
        desk = by_loc["desk"].fillna("").astype(object)
    refuse(
        (desk == "") & (location != "") & (kind == ""),
        location_key,
        "No desk for location '"
        + location
        + "' (library "
        + row_library
        + "): add it to the Locations table",
        "no_desk",
    )

    # -- identity and duplicates -------------------------------------------------------------------------
    key = ("barcode:" + barcode).where(barcode_only, item)
    candidates = (kind == "") & (key != "") & (key != "barcode:")
    first_of = pd.Series(rows.values, index=index).where(candidates)
    first_row = first_of.groupby(key.where(candidates)).transform("min")
    duplicate = candidates & (first_row != rows)

    # the deciding outcome of each row, whole-column: done earlier, then refused/no desk, then duplicate
    final_kind = kind.mask(duplicate & (kind == ""), "duplicate").mask(done_before, "skipped_done")
    duplicate_of = "Same item as row " + first_row.fillna(0).astype(int).astype(str)
    final_status = status.mask(final_kind == "duplicate", duplicate_of)
    final_status = final_status.mask(done_before, old_status.where(old_status != "", DONE_EARLIER))
    columns = zip(
        rows.tolist(),
        key.tolist(),
        mms.tolist(),
        holding.tolist(),
        item.tolist(),
        barcode.tolist(),
        send_library.tolist(),
        desk.tolist(),
        location.tolist(),
        final_kind.tolist(),
        final_status.tolist(),
        done_before.tolist(),
        strict=True,
    )
    plan_rows = [
        PlannedRow(
            int(row),
            str(k),
            str(m),
            str(h),
            str(i),
            str(b),
            str(lib),
            str(d),
            str(loc),
            Outcome(int(row), bool(done), str(text), str(what)) if what else None,
        )
        for row, k, m, h, i, b, lib, d, loc, what, text, done in columns
    ]
    done_rows = set(rows[done_before].tolist())
    problems = [p for p in problems if p.row not in done_rows]  # a row done earlier needs no fixing
    return Plan(rows=plan_rows, problems=problems, source=items.source)
