"""Deciding each row before any call: which desk scans it in, and which rows must not be sent at all.

Everything that can be known from the two tables is decided here, with whole-column operations, so that
``--dry-run`` and the Excel "Check sheet" button show every problem before a single call is made and a damaged
id never reaches Alma. Nothing is ever dropped: each input row ends up as exactly one :class:`PlannedRow`,
either to be sent or with its outcome already decided (hidden, refused, no desk, duplicate, done earlier).

:func:`make_plan` reads as its steps: the rows left alone (hidden) or refused whole (damaged), ids refused,
location chosen, desk found, duplicates, rows built.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import pandas as pd

from alma_tools.alma.pacing import DEFAULT_RATE, MAX_RATE
from alma_tools.discharge.locations import DeskTable, fold_code
from alma_tools.discharge.outcomes import (
    DONE_EARLIER,
    KIND_WORDS,
    Outcome,
    conflicting_ids_status,
    empty_id_status,
    is_true_word,
    no_desk_status,
    no_ids_status,
    no_library_status,
    no_location_status,
    no_temp_location_status,
    row_problem_status,
    same_item_status,
)
from alma_tools.errors import InputError
from alma_tools.ids import Kind, check_id_column, institution_suffix
from alma_tools.tables import Table
from alma_tools.words import counted, either

LOCATION_TYPES = ("auto", "temp", "perm")
ID_KEYS = ("mms_id", "holding_id", "item_id")
ID_KINDS: dict[str, Kind] = {"mms_id": "mms", "holding_id": "holding", "item_id": "item"}
#: kinds whose row keeps its ``done`` cell as it is: done earlier, or hidden and left alone
_KEPT_KINDS = ("skipped_done", "hidden")
#: the most first rows shown per kind of problem in the summary
FIRST_ROWS_SHOWN = 5


@dataclass(frozen=True)
class DischargeOptions:
    """How to scan in: which sheet and rows, which location decides the desk, pace, scan-in parameters.

    ``sheet`` names the XLSX sheet to read (None: the active sheet when visible, else the first visible one);
    rows hidden by a filter or by hand are left alone unless ``include_hidden``.
    ``register_in_house_use`` is off: Alma's default (on) would count a false in-house use for every item
    that was not on loan. ``auto_print_slip`` and ``place_on_hold_shelf`` are sent only when set.
    """

    location_type: str = "auto"
    rate: float = DEFAULT_RATE
    register_in_house_use: bool = False
    auto_print_slip: bool | None = None
    place_on_hold_shelf: bool | None = None
    sheet: str | None = None
    include_hidden: bool = False

    def __post_init__(self) -> None:
        if self.location_type not in LOCATION_TYPES:
            raise InputError(
                f"Location type '{self.location_type}' is not one of {', '.join(LOCATION_TYPES)}: "
                "use auto (the temporary location when there is one), temp or perm"
            )
        if not (0 < self.rate <= MAX_RATE):
            raise InputError(
                f"Rate {self.rate:g} calls per second is not possible: Alma allows {MAX_RATE:g} per "
                f"institution; use a rate above 0 and at most {MAX_RATE:g} "
                f"({DEFAULT_RATE:g} leaves room for your other systems)"
            )

    def worker_count(self) -> int:
        """Enough threads to keep the pacer busy while each call waits up to 0.8 s on Alma (and a margin)."""
        return max(8, math.ceil(self.rate * 0.8 * 1.5))


@dataclass(frozen=True)
class Problem:
    """Why a row will not be sent, tied to the cell to fix: ``column`` is a column key of the items table
    ("" when the whole row is at fault, e.g. one cell more than the header)."""

    row: int
    column: str
    message: str
    kind: str


class ItemClaims:
    """Which row of the run scans each item, so that an item is scanned once however many rows name it.

    The plan fills it with the Item Ids of the rows that have them; a barcode-only row learns its item's
    ids only at run time, and claims them then (under the lock: workers run side by side).
    """

    def __init__(self, first_rows: dict[str, int]) -> None:
        self._rows = dict(first_rows)
        self._lock = threading.Lock()

    def claim(self, item_id: str, row: int) -> int | None:
        """Take ``item_id`` for ``row``: None when it is this row's, else the row that has it already."""
        with self._lock:
            first = self._rows.setdefault(item_id, row)
        return None if first == row else first


@dataclass(frozen=True)
class BarcodeLookup:
    """What a barcode-only row needs at run time: the desks (when its location comes from Alma's item
    record) and the run's item claims (to find the same item named by another row)."""

    desks: DeskTable
    claims: ItemClaims
    #: the row has no location or no library: follow the lookup to the item record, take them from there
    needs_item: bool = False


@dataclass(frozen=True)
class PlannedRow:
    """One input row: the call to make, or (``decided``) its outcome without a call.

    ``key`` identifies the item across runs (its Item Id, or ``barcode:<barcode>`` for barcode-only rows).
    ``lookup`` is set for barcode-only rows to send.
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
    lookup: BarcodeLookup | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class MissingCode:
    """A location code without a desk, or a library code the Locations table does not have."""

    code: str
    rows: list[int]


@dataclass
class PlanSummary:
    """What ``--dry-run`` and "Check sheet" show: rows per library and desk, problems, what is missing."""

    total: int
    to_send: int
    by_desk: list[tuple[str, str, int]]
    problems: dict[str, tuple[int, list[int]]]
    barcode_only: int
    barcode_needs_item: int = 0
    missing_desks: list[MissingCode] = field(default_factory=list)
    unknown_libraries: list[MissingCode] = field(default_factory=list)
    locations_source: str = "the Locations table"

    def lines(self) -> list[str]:
        """The summary as plain lines of text (the CLI prints them; the Excel face logs them)."""
        out = [f"{row_count(self.total)}: {self.to_send:,} to scan in."]
        if self.barcode_only:
            out.append(self._barcode_line())
        for library, desk, count in self.by_desk:
            out.append(f"  library {library}, desk {desk}: {row_count(count)}")
        for kind, (count, rows) in self.problems.items():
            if kind == "hidden":
                were = either(count, "was", "were")
                out.append(
                    f"{row_count(count)} hidden by a filter or by hand {were} left alone "
                    "(use --include-hidden to send them)"
                )
            else:
                out.append(f"{row_count(count)} {KIND_WORDS.get(kind, kind)}: {_rows_named(rows, count)}")
        return out + self.left_out_lines()

    def left_out_lines(self) -> list[str]:
        """What is missing for rows a run leaves out, in the dry run and after the real run alike: each
        location without a desk, each library the Locations table lacks (the run's counts say the rest)."""
        out = []
        where = self.locations_source
        for missing in self.missing_desks:
            out.append(
                f"{missing.code}: {_rows_phrase(missing.rows)} have no desk in {where}: add a line for it"
            )
        for missing in self.unknown_libraries:
            out.append(
                f"Library {missing.code}: {_rows_phrase(missing.rows)} name a library {where} does not "
                "have: check the Library Code, or add the library's locations"
            )
        return out

    def _barcode_line(self) -> str:
        with_place = self.barcode_only - self.barcode_needs_item
        line = f"{self.barcode_only:,} of them have only a barcode (looked up first"
        if not self.barcode_needs_item:
            return line + ": two calls each)."
        if not with_place:
            return line + ", with the item's record for its location: three calls each)."
        return (
            f"{line}: two calls each, three for the {self.barcode_needs_item:,} without a library or "
            "location, whose item record is read for them)."
        )

    def __str__(self) -> str:
        return "\n".join(self.lines())


def row_count(count: int) -> str:
    """``1 row``, ``27 rows``: a count of rows as the summaries say it."""
    return counted(count, "row", "rows")


def _first_rows(rows: list[int], count: int) -> str:
    shown = ", ".join(str(r) for r in rows[:FIRST_ROWS_SHOWN])
    return shown + (", …" if count > FIRST_ROWS_SHOWN else "")


def _rows_phrase(rows: list[int]) -> str:
    """``27 rows (rows 2, 10, 14, …)`` or ``1 row (row 7)``."""
    return f"{row_count(len(rows))} ({_rows_named(rows, len(rows))})"


def _rows_named(rows: list[int], count: int) -> str:
    """``row 7`` or ``rows 2, 10, 14, …``."""
    return f"row {rows[0]}" if count == 1 else f"rows {_first_rows(rows, count)}"


@dataclass
class Plan:
    """Every row of the items table, in table order, with the problems found (per cell) for the faces."""

    rows: list[PlannedRow]
    problems: list[Problem] = field(default_factory=list)
    source: str = ""
    missing_desks: list[MissingCode] = field(default_factory=list)
    unknown_libraries: list[MissingCode] = field(default_factory=list)
    locations_source: str = "the Locations table"

    @property
    def to_send(self) -> list[PlannedRow]:
        return [r for r in self.rows if r.decided is None]

    def summary(self) -> PlanSummary:
        sending = self.to_send
        # rows whose desk comes from Alma's item record are counted in the barcode line, not here
        placed = [r for r in sending if r.circ_desk and not (r.lookup and r.lookup.needs_item)]
        desks = Counter((r.library, r.circ_desk) for r in placed)
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
            barcode_needs_item=sum(1 for r in sending if r.lookup is not None and r.lookup.needs_item),
            missing_desks=self.missing_desks,
            unknown_libraries=self.unknown_libraries,
            locations_source=self.locations_source,
        )


# ---------------------------------------------------------------------------------------------------------
# the steps of make_plan
# ---------------------------------------------------------------------------------------------------------


def _text(table: Table, key: str) -> pd.Series:
    """Column ``key`` as text, or an empty column when the table does not have it."""
    if table.has(key):
        return table.text(key)
    return pd.Series("", index=table.frame.index, dtype=object)


class _Decisions:
    """The rows decided so far: the deciding status and kind of each row, and every problem cell."""

    def __init__(self, items: Table) -> None:
        self.index = items.frame.index
        self.rows = items.rows.astype(int)
        self.status = pd.Series("", index=self.index, dtype=object)
        self.kind = pd.Series("", index=self.index, dtype=object)
        self.problems: list[Problem] = []

    @property
    def open(self) -> pd.Series:
        """Rows not decided yet."""
        return self.kind == ""

    def refuse(
        self,
        mask: pd.Series,
        column: str | pd.Series,
        messages: str | pd.Series | Callable[[int], str],
        kind: str = "refused",
    ) -> None:
        """Mark each row of ``mask``: a problem cell; the row's status unless an earlier step decided it.

        ``messages``: one text, one per row, or a function of the row number (called for ``mask`` only).
        """
        if callable(messages):
            texts = pd.Series("", index=self.index, dtype=object)
            for idx in mask[mask].index:
                texts[idx] = messages(int(self.rows[idx]))
        else:
            texts = messages if isinstance(messages, pd.Series) else pd.Series(messages, index=self.index)
        columns = column if isinstance(column, pd.Series) else pd.Series(column, index=self.index)
        for idx in mask[mask].index:
            self.problems.append(Problem(int(self.rows[idx]), str(columns[idx]), str(texts[idx]), kind))
        first = mask & self.open
        self.status[first] = texts[first]
        self.kind[first] = kind


def _leave_hidden_and_damaged(decisions: _Decisions, items: Table, options: DischargeOptions) -> pd.Series:
    """Hidden rows are left alone (unless ``include_hidden``); rows the reader found damaged are refused.

    Returns the hidden rows that are left alone.
    """
    hidden = items.hidden.astype(bool)
    row_problems = items.row_problems.fillna("").astype(str)
    by_row = dict(zip(decisions.rows, row_problems, strict=True))
    left_alone = hidden & (not options.include_hidden)
    decisions.kind[left_alone] = "hidden"
    decisions.status[left_alone] = _text(items, "status")[left_alone]
    decisions.refuse(
        (row_problems != "") & ~left_alone,
        "",
        lambda row: row_problem_status(row, by_row[row]),
        kind="damaged_row",
    )
    return left_alone


def _refuse_ids(decisions: _Decisions, items: Table, item: pd.Series, barcode: pd.Series) -> None:
    """Ids damaged by Excel, or missing: refused (a damaged id even when the row has a barcode too)."""
    barcode_only = (item == "") & (barcode != "")
    present = [key for key in ID_KEYS if items.has(key)]
    suffix = institution_suffix(*(items.frame[key] for key in present)) if present else None
    for key in present:
        messages = check_id_column(
            items.text(key),
            items.was_number(key),
            label=items.label(key),
            rows=items.rows,
            kind=ID_KINDS[key],
            suffix=suffix,
        )
        decisions.refuse(messages != "", key, messages)
    if items.has("barcode") and barcode_only.any():  # barcodes are checked only where they are sent
        messages = check_id_column(
            items.text("barcode"),
            items.was_number("barcode"),
            label=items.label("barcode"),
            rows=items.rows,
            kind="barcode",
            suffix=suffix,
        ).where(barcode_only, "")
        decisions.refuse(messages != "", "barcode", messages)
    decisions.refuse((item == "") & (barcode == ""), "item_id", no_ids_status)
    for key, default in (("mms_id", "MMS Id"), ("holding_id", "Holding Id")):
        label = items.label(key) if items.has(key) else default
        missing = (item != "") & (_text(items, key) == "")
        decisions.refuse(missing, key, partial(empty_id_status, label))


def _refuse_conflicting_ids(
    decisions: _Decisions, items: Table, item: pd.Series, taking_part: pd.Series
) -> None:
    """Rows with one Item Id under different MMS or Holding Ids: all refused, for one of them is wrong.

    Scanning the first and calling the others "same item" would report an item done that was never
    scanned when the first row's path is the wrong one (an Item Id pasted into another row).
    """
    rows = taking_part & (item != "")
    if not rows.any():
        return
    path = _text(items, "mms_id") + "/" + _text(items, "holding_id")
    paths = path[rows].groupby(item[rows]).nunique()
    shared = item.isin(paths.index[paths > 1]) & rows
    if not shared.any():
        return
    numbers = decisions.rows
    first = numbers[shared].groupby(item[shared]).transform("min")
    later = numbers[shared].groupby(item[shared]).transform(lambda r: r[r != r.min()].min())
    other = first.where(first != numbers[shared], later).astype(int)
    messages = pd.Series("", index=decisions.index, dtype=object)
    for idx in shared[shared].index:
        messages[idx] = conflicting_ids_status(str(item[idx]), int(numbers[idx]), int(other[idx]))
    decisions.refuse(shared, "item_id", messages)


@dataclass
class _Place:
    """Where each row is scanned in: location and library chosen, and the column each came from."""

    location: pd.Series
    library: pd.Series
    location_key: pd.Series


def _choose_location(decisions: _Decisions, items: Table, options: DischargeOptions) -> _Place:
    """The temporary location when the row has one (``auto``), or the one ``location_type`` forces."""
    index = decisions.index
    perm_loc, temp_loc = _text(items, "location_code"), _text(items, "temp_location_code")
    library, temp_library = _text(items, "library_code"), _text(items, "temp_library_code")
    if options.location_type == "temp":
        use_temp = pd.Series(True, index=index)
        decisions.refuse(temp_loc == "", "temp_location_code", no_temp_location_status, "no_desk")
    elif options.location_type == "perm":
        use_temp = pd.Series(False, index=index)
    else:
        use_temp = temp_loc != ""
    return _Place(
        location=temp_loc.where(use_temp, perm_loc),
        library=temp_library.where(use_temp & (temp_library != ""), library),
        location_key=pd.Series("location_code", index=index).where(~use_temp, "temp_location_code"),
    )


def _find_desks(
    decisions: _Decisions, place: _Place, desks: DeskTable, barcode_only: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Each row's library to send and desk; rows without either are refused, except barcode-only rows,
    whose location and library Alma's item record gives at run time (returned as ``needs_item``)."""
    send_library, desk = desks.lookup(place.location, place.library)
    lacking = (place.location == "") | ((desk != "") & (send_library == ""))
    needs_item = barcode_only & lacking & decisions.open
    decisions.refuse(
        (place.location == "") & ~needs_item,
        place.location_key,
        no_location_status,
        "no_desk",
    )
    no_desk = (desk == "") & (place.location != "") & ~needs_item
    messages = pd.Series("", index=decisions.index, dtype=object)
    for idx in no_desk[no_desk].index:
        messages[idx] = no_desk_status(str(place.location[idx]), str(place.library[idx]))
    decisions.refuse(no_desk, place.location_key, messages, "no_desk")
    no_library = (desk != "") & (send_library == "") & ~needs_item
    decisions.refuse(
        no_library,
        "library_code",
        no_library_status,
        "no_desk",
    )
    return send_library, desk, needs_item


def _duplicates(
    decisions: _Decisions, item: pd.Series, barcode: pd.Series, done_before: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Each row's key (Item Id, or ``barcode:<b>``), the first row with that key, and the later ones.

    A barcode-only row whose barcode a row with ids has too names that row's item: it is the duplicate,
    wherever it stands in the file, so the item is scanned by ids and the barcode needs no lookup.
    """
    rows = decisions.rows
    barcode_only = (item == "") & (barcode != "")
    key = ("barcode:" + barcode).where(barcode_only, item)
    # rows still to send and rows done earlier take part; refused, no-desk and hidden rows do not
    candidates = (decisions.open | done_before) & (decisions.kind != "hidden") & (key != "")
    first_row = pd.Series(rows.values, index=decisions.index, dtype=float).where(candidates)
    first_row = first_row.groupby(key.where(candidates)).transform("min")
    with_ids = candidates & ~barcode_only & (barcode != "")
    row_of_barcode = first_row[with_ids].groupby(barcode[with_ids]).min()
    by_ids = barcode.where(candidates & barcode_only).map(row_of_barcode)
    first_row = first_row.where(by_ids.isna(), by_ids)
    duplicate = candidates & (first_row != rows)
    return key, first_row, duplicate


def _missing_codes(codes: pd.Series, rows: pd.Series, mask: pd.Series) -> list[MissingCode]:
    """The codes of the rows in ``mask``, grouped case and spaces ignored, each with its rows in order."""
    found: dict[str, MissingCode] = {}
    for code, folded, row in zip(codes[mask], fold_code(codes[mask]), rows[mask], strict=True):
        found.setdefault(folded, MissingCode(str(code), [])).rows.append(int(row))
    return list(found.values())


def make_plan(items: Table, locations: Table, options: DischargeOptions) -> Plan:
    """Decide every row of ``items``: the desk that scans it in, or why it is not sent.

    Precedence per row: hidden (left alone), done in the file's ``done`` column, the row damaged, ids damaged
    or missing, no desk, same item as an earlier row. The first problem decides the row's status;
    :attr:`Plan.problems` lists every problem cell. :class:`InputError` when the Locations table is unclear.
    """
    desks = DeskTable.from_table(locations)
    decisions = _Decisions(items)
    item, barcode = _text(items, "item_id"), _text(items, "barcode")
    barcode_only = (item == "") & (barcode != "")
    hidden = _leave_hidden_and_damaged(decisions, items, options)
    done_cell = _text(items, "done").map(is_true_word).astype(bool)
    done_before = done_cell & ~hidden
    _refuse_ids(decisions, items, item, barcode)
    _refuse_conflicting_ids(decisions, items, item, decisions.open | done_before)
    place = _choose_location(decisions, items, options)
    send_library, desk, needs_item = _find_desks(decisions, place, desks, barcode_only)
    key, first_row, duplicate = _duplicates(decisions, item, barcode, done_before)

    # the deciding outcome of each row: hidden, done earlier, then refused/no desk, then duplicate
    kind = decisions.kind.mask(duplicate & decisions.open, "duplicate").mask(done_before, "skipped_done")
    old_status = _text(items, "status")
    status = decisions.status.mask(kind == "duplicate", first_row.fillna(0).astype(int).map(same_item_status))
    status = status.mask(done_before, old_status.where(old_status != "", DONE_EARLIER))
    by_ids = first_row.notna() & ~key.str.startswith("barcode:")
    claims = ItemClaims(dict(zip(key[by_ids], first_row[by_ids].astype(int), strict=True)))
    plan_rows = _build_rows(
        _RowColumns(items, key, place, send_library, desk, kind, status, done_cell & kind.isin(_KEPT_KINDS)),
        barcode_only & (kind == ""),
        needs_item,
        BarcodeLookup(desks, claims),
    )
    wanted = ~(done_before | hidden)
    # a damaged row's cells may be shifted (a cell too many): its codes name no real location or library
    coded = wanted & (decisions.kind != "damaged_row")
    no_desk = coded & (place.location != "") & (desk == "") & ~needs_item
    return Plan(
        rows=plan_rows,
        problems=[p for p, keep in zip(decisions.problems, _kept(decisions, wanted), strict=True) if keep],
        source=items.source,
        missing_desks=_missing_codes(place.location, decisions.rows, no_desk),
        unknown_libraries=_missing_codes(
            place.library, decisions.rows, coded & desks.unknown_libraries(place.library)
        ),
        locations_source=desks.source or "the Locations table",
    )


def _kept(decisions: _Decisions, wanted: pd.Series) -> list[bool]:
    """For each problem: False when its row is done earlier or hidden, and so needs no fixing."""
    skipped = set(decisions.rows[~wanted].tolist())
    return [problem.row not in skipped for problem in decisions.problems]


@dataclass
class _RowColumns:
    """The columns the plan's rows are built from (one value per items row, same index)."""

    items: Table
    key: pd.Series
    place: _Place
    send_library: pd.Series
    desk: pd.Series
    kind: pd.Series
    status: pd.Series
    done: pd.Series


def _build_rows(
    columns: _RowColumns, barcode_rows: pd.Series, needs_item: pd.Series, lookup: BarcodeLookup
) -> list[PlannedRow]:
    """One :class:`PlannedRow` per items row, in table order; barcode-only rows to send get ``lookup``."""
    items = columns.items
    following = BarcodeLookup(lookup.desks, lookup.claims, needs_item=True)
    lookups = [
        (following if follow else lookup) if by_barcode else None
        for by_barcode, follow in zip(barcode_rows, needs_item, strict=True)
    ]
    texts = zip(
        columns.key.tolist(),
        _text(items, "mms_id").tolist(),
        _text(items, "holding_id").tolist(),
        _text(items, "item_id").tolist(),
        _text(items, "barcode").tolist(),
        columns.send_library.tolist(),
        columns.desk.tolist(),
        columns.place.location.tolist(),
        strict=True,
    )
    decided = [
        Outcome(int(row), bool(done), str(text), str(kind)) if kind else None
        for row, kind, text, done in zip(
            items.rows.astype(int), columns.kind, columns.status, columns.done, strict=True
        )
    ]
    rows = items.rows.astype(int).tolist()
    return [
        PlannedRow(
            int(row), str(k), str(m), str(h), str(i), str(b), str(lib), str(d), str(loc), outcome, found
        )
        for row, (k, m, h, i, b, lib, d, loc), outcome, found in zip(
            rows, texts, decided, lookups, strict=True
        )
    ]
