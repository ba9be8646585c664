"""The concurrent-checkout sweep: how many copies of each volume were out at once, and for how long.

Every step is a numpy/pandas operation over all loans at once (a year of a large library is a million loans):

1. loans of one copy (volume + barcode) that overlap are merged into one stretch and reported, because a copy
   cannot be lent twice at the same time (a duplicated export line is the usual cause);
2. each stretch becomes two events, +1 at the loan and -1 at the return; events are sorted by (volume,
   instant) and **all changes at one instant are summed before the count is read**, so a return and a loan in
   the same second are a hand-off: neither a gap nor an overlap;
3. a running sum gives the copies out after each instant (every volume's events sum to zero, so one global
   cumulative sum restarts at zero for each volume); episodes are maximal runs of instants whose count reaches
   the threshold (2, or every copy), and their length is the time to the first instant below it.

A loan occupies [loan, return). A loan without a return is out until ``as_of``; a return after ``as_of`` is
counted up to ``as_of``; a loan that starts after ``as_of`` is reported and left out. ``Loans`` counts loans
after merging (a duplicated line counts once); the period of ``% of Period All Out`` runs from the first loan
in the export to ``as_of``, the same for every volume, so the percentages compare.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alma_tools.concurrency.loans import (
    EXCEL_SERIALS,
    PROBLEM_COLUMNS,
    LoansInput,
    concat_problems,
    excel_serial_datetime,
    problem_frame,
    volume_keys,
)
from alma_tools.errors import InputError
from alma_tools.tables import cell_text
from alma_tools.words import counted, either

#: headers of the per-volume table, in the order the CSV contract names them; more columns follow
CSV_COLUMNS = (
    "MMS Id",
    "Permanent Call Number",
    "Title",
    "Copies",
    "Loans",
    "Peak Out",
    "Concurrent Episodes",
    "Hours 2+ Out",
    "All Copies Out Episodes",
    "Hours All Out",
)
#: the kinds of episode in :attr:`Stats.episodes`
KIND_CONCURRENT = "2+ out"
KIND_ALL_OUT = "all out"
#: frame column of each volume key -> header used in the outputs
KEY_HEADERS = {"mms_id": "MMS Id", "call_number": "Permanent Call Number", "description": "Description"}

_HOUR = 3600.0


@dataclass
class Stats:
    """Everything the reports need; knows nothing of Excel.

    ``volumes`` is indexed by an internal volume number (use it with :meth:`timeline`) and sorted with the
    volumes most often at capacity first.
    """

    volumes: pd.DataFrame
    episodes: pd.DataFrame
    problems: pd.DataFrame
    as_of: dt.datetime
    source: str
    period_start: dt.datetime | None
    by_description: bool = False
    has_requests: bool = False
    items_source: str | None = None
    #: what the reader decided that the user should know (the date order), for summary and title lines
    notes: list[str] = field(default_factory=list)
    _instant_volume: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False)
    _instant_time: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False)
    _instant_count: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64), repr=False)

    @property
    def period_hours(self) -> float:
        """Length of the period the percentages refer to: first loan in the export to ``as_of``."""
        if self.period_start is None:
            return 0.0
        return max((self.as_of - self.period_start).total_seconds() / _HOUR, 0.0)

    def timeline(self, volume: int) -> pd.DataFrame:
        """Copies out of one volume after each change: columns ``Time`` and ``Copies Out``.

        The count holds from its time until the next row's time (a step), which is how the chart draws it.
        """
        lo, hi = np.searchsorted(self._instant_volume, [volume, volume + 1])
        return pd.DataFrame(
            {
                "Time": self._instant_time[lo:hi].astype("datetime64[s]"),
                "Copies Out": self._instant_count[lo:hi],
            }
        )


def compute(loans: LoansInput, as_of: dt.datetime | None = None) -> Stats:
    """Per-volume concurrency figures, episodes and data problems of ``loans`` up to ``as_of`` (or now)."""
    as_of = (as_of or dt.datetime.now()).replace(microsecond=0, tzinfo=None)
    keys = list(volume_keys(loans.by_description))
    problems = [loans.problems]
    frame, span = _loans_up_to(loans, as_of, problems)
    volumes = _Volumes.of(frame, keys)
    rows = frame["row"].to_numpy(np.int64)
    segments = _merge_copy_overlaps(volumes, span, rows, loans.source)
    problems.append(segments.problems)
    copies, copy_problems = _copies(loans, volumes, rows)
    problems.append(copy_problems)

    inst_vol, inst_t, count = _instants(segments.volume, segments.start, segments.end)
    n_vol = volumes.count
    peak = _peaks(inst_vol, count, n_vol)
    all_threshold = np.where(copies >= 2, copies, np.iinfo(np.int64).max)
    conc = _episodes(inst_vol, inst_t, count, np.full(n_vol, 2, np.int64), n_vol)
    full = _episodes(inst_vol, inst_t, count, all_threshold, n_vol)

    period_start_s = int(span.start.min()) if len(span.start) else None
    period_hours = (span.as_of - period_start_s) / _HOUR if period_start_s is not None else 0.0
    table = _volume_table(loans, frame, volumes, span, segments, copies, peak, (conc, full), period_hours)
    problem_table = concat_problems(problems, loans.source)
    problem_table = problem_table.sort_values(["File", "Row"], kind="stable").reset_index(drop=True)
    return Stats(
        volumes=table,
        episodes=_episode_table(conc, full, table, keys),
        problems=problem_table[list(PROBLEM_COLUMNS)],
        as_of=as_of,
        source=loans.source,
        period_start=(
            dt.datetime(1970, 1, 1) + dt.timedelta(seconds=period_start_s)
            if period_start_s is not None
            else None
        ),
        by_description=loans.by_description,
        has_requests=loans.requests is not None,
        items_source=loans.items_source,
        notes=list(loans.notes),
        _instant_volume=inst_vol,
        _instant_time=inst_t,
        _instant_count=count,
    )


def as_of_moment(value: Any) -> dt.datetime | None:
    """The as-of moment a cell or setting holds: a date, an Excel serial number, or ISO text.

    Excel hands a date to Python as ``datetime`` when the cell is formatted as a date, but as a plain serial
    number when it is not; both mean the same day to the person who typed it (converted as the loans reader
    converts its serial cells). None when empty: the statistics' own default, now. InputError ("not a
    date") otherwise; each face says how to fix it in its own words (the worksheet function's ``as_of``,
    Settings › AsOf).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and EXCEL_SERIALS[0] <= value < EXCEL_SERIALS[1]
    ):
        return excel_serial_datetime(float(value))
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip()).replace(tzinfo=None)
        except ValueError:
            pass
    raise InputError(f"{value!r} is not a date")


#: an as-of (now) this long after the export's latest loan or return makes the loans still out look longer out
STALE_AS_OF = dt.timedelta(days=7)


@dataclass(frozen=True)
class StaleAsOf:
    """The as-of defaulted to now, weeks after the export's latest loan or return: the figures of the warning.

    Loans without a return count as out until the as-of: an export of June read in December added five
    months to every loan still out (the top volume went from 198 to 310 days all out), said only by the
    date on the summary's first line. :meth:`warning` is the one sentence; each face adds its own fix.
    """

    #: loans without a return, each counted as out until ``as_of``
    still_out: int
    as_of: dt.datetime
    #: the export's latest loan or return: probably about when it was made
    latest: dt.datetime

    @property
    def latest_text(self) -> str:
        """``latest`` as the faces write an as-of: ``YYYY-MM-DD HH:MM``."""
        return f"{self.latest:%Y-%m-%d %H:%M}"

    def warning(self, fix: str) -> str:
        """The warning, ending in ``fix``: how this face sets the as-of (no full stop at the end)."""
        loans = f"{counted(self.still_out, 'loan', 'loans')} without a return"
        return (
            f"{loans} {either(self.still_out, 'counts', 'count')} as out until now "
            f"({self.as_of:%Y-%m-%d %H:%M}), but the latest loan or return in the export is "
            f"{self.latest_text}: if the export was made then, {fix}"
        )


def stale_as_of(loans: LoansInput, stats: Stats) -> StaleAsOf | None:
    """The warning's figures when ``stats.as_of`` is more than :data:`STALE_AS_OF` after the export's latest
    loan or return and some loan is still out; None when nothing is still out or the export is recent.

    Only for an as-of that defaulted to now: one the person gave is their choice, and is not second-guessed.
    """
    still_out = int(stats.volumes["Open Loans"].sum()) if len(stats.volumes) else 0
    latest = loans.loans[["start", "end"]].max().max()  # NaT-safe: a return may be blank
    if not still_out or stats.as_of - latest.to_pydatetime() <= STALE_AS_OF:
        return None
    return StaleAsOf(still_out=still_out, as_of=stats.as_of, latest=latest.to_pydatetime())


def refuse_a_period_before_every_loan(loans: LoansInput, stats: Stats, fix: str) -> None:
    """InputError when every loan starts after the as-of moment: "0 volumes" reads as a result, and is not
    one. ``fix``: how this face sets a later as-of (no full stop at the end)."""
    if len(stats.volumes) or not len(loans.loans):
        return
    first = loans.loans["start"].min()
    raise InputError(
        f"Every loan in {stats.source} starts after the as-of moment {stats.as_of:%Y-%m-%d %H:%M} (the first "
        f"on {first:%Y-%m-%d %H:%M}), so there is nothing to count: check the Loan Date column, or {fix}."
    )


@dataclass
class _Span:
    """Each kept loan's start and end in whole seconds; ``end`` cut at ``as_of``, ``returned`` as exported."""

    start: np.ndarray
    end: np.ndarray
    returned: np.ndarray  # _NAT for a loan still out
    is_open: np.ndarray
    as_of: int


def _loans_up_to(
    loans: LoansInput, as_of: dt.datetime, problems: list[pd.DataFrame]
) -> tuple[pd.DataFrame, _Span]:
    """The loans that started by ``as_of`` (the others listed as problems), and their time spans."""
    frame = loans.loans
    start, end = _seconds(frame["start"]), _seconds(frame["end"])
    as_of_s = int(np.datetime64(as_of, "s").astype(np.int64))
    late = start > as_of_s
    if late.any():
        problems.append(
            problem_frame(
                frame["row"].to_numpy(np.int64)[late],
                "Loan Date",
                "the loan is after the as-of moment " + f"{as_of:%Y-%m-%d %H:%M}" + "; it is left out",
                "Check the Loan Date, or give a later --as-of",
                loans.source,
            )
        )
        frame, start, end = frame.loc[~late], start[~late], end[~late]
    is_open = end == _NAT
    clipped = np.where(is_open | (end > as_of_s), as_of_s, end)
    return frame, _Span(start=start, end=clipped, returned=end, is_open=is_open, as_of=as_of_s)


@dataclass
class _Volumes:
    """The one numbering of volumes (0..count-1 in order of first appearance) and of copies.

    ``number[i]``: loan ``i``'s volume; ``copy[i]``: its copy (volume + barcode), numbered the same way;
    ``first_row[v]``: the first loan of volume ``v`` (its key cells and title are shown); ``keys``: the
    key cells of each volume (columns ``mms_id, call_number[, description]``).
    """

    number: np.ndarray
    copy: np.ndarray
    barcode: np.ndarray
    first_row: np.ndarray
    keys: pd.DataFrame

    @property
    def count(self) -> int:
        return len(self.first_row)

    @classmethod
    def of(cls, frame: pd.DataFrame, keys: list[str]) -> _Volumes:
        columns = [pd.factorize(frame[k].to_numpy(object))[0].astype(np.int64) for k in keys]
        number, first_row = _first_appearance(combine_codes(columns))
        barcode = frame["barcode"].to_numpy(object)
        copy = _first_appearance(combine_codes([number, pd.factorize(barcode)[0].astype(np.int64)]))[0]
        key_cells = frame[keys].iloc[first_row].reset_index(drop=True)
        return cls(number=number, copy=copy, barcode=barcode, first_row=first_row, keys=key_cells)


def _volume_table(
    loans: LoansInput,
    frame: pd.DataFrame,
    volumes: _Volumes,
    span: _Span,
    segments: _Segments,
    copies: np.ndarray,
    peak: np.ndarray,
    episodes: tuple[_Episodes, _Episodes],
    period_hours: float,
) -> pd.DataFrame:
    """One row per volume (index = volume number), ranked by hours all out: the CSV's columns first."""
    n_vol, vol = volumes.count, volumes.number
    conc, full = episodes
    loans_per_volume = np.bincount(segments.volume, minlength=n_vol)
    returned = ~span.is_open
    last_return = np.full(n_vol, _NAT, np.int64)
    if returned.any():
        np.maximum.at(last_return, vol[returned], span.returned[returned])
    titles = (
        cell_text(pd.Series(frame["title"].to_numpy(object)[volumes.first_row], dtype=object))[0]
        if "title" in frame
        else pd.Series("", index=range(n_vol), dtype=object)
    )
    table = pd.DataFrame(
        {
            "MMS Id": volumes.keys["mms_id"].to_numpy(object),
            "Permanent Call Number": volumes.keys["call_number"].to_numpy(object),
            "Title": titles.to_numpy(object),
            "Copies": copies,
            "Loans": loans_per_volume,
            "Peak Out": peak,
            "Concurrent Episodes": conc.per_volume_count,
            "Hours 2+ Out": conc.per_volume_hours,
            "All Copies Out Episodes": full.per_volume_count,
            "Hours All Out": full.per_volume_hours,
            "% of Period All Out": (
                full.per_volume_hours / period_hours * 100 if period_hours > 0 else np.zeros(n_vol)
            ),
            "Loans per Copy": loans_per_volume / np.maximum(copies, 1),
        }
    )
    if loans.requests is not None:
        table["Requests"] = _requests(loans.requests, volumes.keys["mms_id"])
        table["Requests per Copy"] = table["Requests"] / np.maximum(copies, 1)
    table["Open Loans"] = np.bincount(vol[span.is_open], minlength=n_vol)
    table["First Loan"] = _to_datetimes(_group_min(vol, span.start, n_vol))
    table["Last Return"] = _to_datetimes(last_return)
    if loans.by_description:
        table["Description"] = volumes.keys["description"].to_numpy(object)
    table.index.name = "volume"
    return table.sort_values(
        ["Hours All Out", "Hours 2+ Out", "Loans", "MMS Id"],
        ascending=[False, False, False, True],
        kind="stable",
    )


def _peaks(inst_vol: np.ndarray, count: np.ndarray, n_vol: int) -> np.ndarray:
    """The most copies of each volume out at once."""
    peak = np.zeros(n_vol, np.int64)
    if len(inst_vol):
        bounds = np.flatnonzero(np.r_[True, inst_vol[1:] != inst_vol[:-1]])
        peak[inst_vol[bounds]] = np.maximum.reduceat(count, bounds)
    return peak


def combine_codes(codes: Sequence[np.ndarray]) -> np.ndarray:
    """One integer per distinct combination of the given per-column codes (all non-negative)."""
    combined = np.zeros(len(codes[0]), np.int64) if len(codes) else np.zeros(0, np.int64)
    for column in codes:
        width = int(column.max(initial=0)) + 1
        if int(combined.max(initial=0)) + 1 > np.iinfo(np.int64).max // width:
            combined = pd.factorize(combined)[0]  # renumber densely before the product could overflow
        combined = combined * width + column
    return combined


#: integer seconds standing for "no time" (NaT), as numpy stores it
_NAT = np.iinfo(np.int64).min


def _seconds(column: pd.Series) -> np.ndarray:
    """Whole seconds since 1970 of a datetime column; NaT stays ``_NAT``."""
    values = pd.to_datetime(column).dt.round("s").to_numpy("datetime64[s]")
    return values.astype(np.int64)


def _to_datetimes(seconds: np.ndarray) -> pd.Series:
    """Seconds (``_NAT`` for none) back to a datetime column for the reports."""
    return pd.Series(seconds.astype("datetime64[s]")).astype("datetime64[s]")


def _first_appearance(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber codes 0..k-1 in order of first appearance; return them and each one's first row."""
    dense = pd.factorize(codes)[0].astype(np.int64)
    _, first = np.unique(dense, return_index=True)
    return dense, first


def _group_min(groups: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(out, groups, values)
    return out


@dataclass
class _Segments:
    """Stretches of time each copy was out (overlapping loans of one copy merged), with their volume."""

    volume: np.ndarray
    start: np.ndarray
    end: np.ndarray
    problems: pd.DataFrame


def _merge_copy_overlaps(volumes: _Volumes, span: _Span, rows: np.ndarray, source: str) -> _Segments:
    """Merge loans of one copy that overlap into one stretch, and say which rows were merged.

    A copy cannot be out twice at once, so an overlap is a data problem (often a duplicated line); counting
    it twice would invent a second copy. Loans that only touch (return and next loan in the same second)
    are not merged: that is a hand-off of the same copy.
    """
    copy_key, start, end = volumes.copy, span.start, span.end
    order = _sort_order(copy_key, start, end)
    key_s, start_s, end_s = copy_key[order], start[order], end[order]
    new_copy = np.r_[True, key_s[1:] != key_s[:-1]]
    running_end = pd.Series(end_s).groupby(key_s).cummax().to_numpy()
    previous_end = np.r_[np.iinfo(np.int64).min, running_end[:-1]]
    overlaps = ~new_copy & (start_s < previous_end)
    seg_first = np.flatnonzero(~overlaps)
    seg_end = np.maximum.reduceat(end_s, seg_first) if len(seg_first) else end_s[:0]
    problems = problem_frame([], "", "", "", source)
    if overlaps.any():
        seg_id = np.cumsum(~overlaps) - 1
        merged = np.flatnonzero(overlaps)
        first_rows = rows[order][seg_first][seg_id[merged]]
        barcode_text = pd.Series(volumes.barcode[order][merged], dtype=object).astype(str)
        problems = problem_frame(
            rows[order][merged],
            "Loan Date",
            "the loan overlaps the loan in row "
            + pd.Series(first_rows).astype(str)
            + " of the same barcode "
            + barcode_text
            + "; counted once",
            "One copy cannot be lent twice at once: remove the duplicate line or correct the dates",
            source,
        )
    return _Segments(
        volume=volumes.number[order][seg_first], start=start_s[seg_first], end=seg_end, problems=problems
    )


def _group_time_key(group: np.ndarray, time: np.ndarray) -> np.ndarray | None:
    """One integer per (group, time) that sorts like the pair: ``group * span + (time - first)``.

    numpy sorts one int64 key (radix-friendly) several times faster than a two-key ``lexsort``. None when
    the product would overflow (a span of centuries with millions of groups): sort on the two keys then.
    """
    if not len(time):
        return np.zeros(0, np.int64)
    first = int(time.min())
    span = int(time.max()) - first + 1
    if int(group.max(initial=0)) + 1 >= np.iinfo(np.int64).max // span:
        return None
    return group * span + (time - first)


def _sort_order(group: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Order by (group, start, end), like ``np.lexsort((end, start, group))`` but about four times faster:
    one stable sort on ``end``, then one stable sort on the (group, start) key."""
    by_end = np.argsort(end, kind="stable")
    key = _group_time_key(group[by_end], start[by_end])
    if key is None:
        return np.lexsort((end, start, group))
    return by_end[np.argsort(key, kind="stable")]


def _copies(loans: LoansInput, volumes: _Volumes, rows: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """Copies per volume: distinct barcodes in the items export (every copy) and in the loans.

    Without an items export only copies that were lent are known. With one, a barcode that was lent but is
    missing from the items export is still a copy (it was out), and is reported so the export can be fixed.
    """
    n_vol, vol = volumes.count, volumes.number
    none = problem_frame([], "", "", "", loans.source)
    lent_copies = np.unique(volumes.copy, return_index=True)[1]
    if loans.items is None or not len(loans.items):
        return np.bincount(vol[lent_copies], minlength=n_vol), none
    keys = list(volumes.keys.columns)
    loan_pairs = pd.DataFrame({"vol": vol[lent_copies], "barcode": volumes.barcode[lent_copies]})
    items = loans.items
    item_vol = pd.MultiIndex.from_frame(volumes.keys).get_indexer(pd.MultiIndex.from_frame(items[keys]))
    known = item_vol >= 0
    item_pairs = pd.DataFrame({"vol": item_vol[known], "barcode": items["barcode"].to_numpy(object)[known]})
    item_pairs = item_pairs.drop_duplicates()
    merged = loan_pairs.merge(item_pairs, how="left", indicator=True)
    missing = merged[merged["_merge"] == "left_only"]
    union = pd.concat([item_pairs, missing[["vol", "barcode"]]], ignore_index=True)
    copies = np.bincount(union["vol"].to_numpy(np.int64), minlength=n_vol)
    if missing.empty:
        return copies, none
    first_loan_row = pd.DataFrame(
        {"vol": vol[lent_copies], "barcode": volumes.barcode[lent_copies], "row": rows[lent_copies]}
    ).merge(missing[["vol", "barcode"]])
    problems = problem_frame(
        first_loan_row["row"].to_numpy(np.int64),
        "Barcode",
        "barcode "
        + first_loan_row["barcode"].astype(str)
        + _elsewhere_in_items(first_loan_row["barcode"], items, keys, loans.items_source or "items"),
        "Export the items of the same locations as the loans, with the same call number column (or check "
        "the barcode)",
        loans.source,
    )
    return copies, problems


_NOT_IN_ITEMS = " was lent but is not in the items export; it is counted as a copy"


def _elsewhere_in_items(barcodes: pd.Series, items: pd.DataFrame, keys: list[str], source: str) -> pd.Series:
    """The end of the "was lent but ..." message: not in the items export, or there under another volume.

    A barcode listed under another call number (the loans' current call number against the items'
    permanent one, say) is the same copy, but its volume does not match: the message names the row.
    """
    others = pd.Series(_NOT_IN_ITEMS, index=barcodes.index, dtype=object)
    if "row" not in items:  # items given as a frame without row numbers: nothing to point at
        return others
    found = items.drop_duplicates("barcode").set_index("barcode").reindex(barcodes.to_numpy(object))
    listed = found["row"].notna().to_numpy()
    if listed.any():
        where = found[listed]
        volume = pd.Series("", index=where.index, dtype=object)
        for key in keys:
            volume += f", {KEY_HEADERS[key]} '" + where[key].astype(str) + "'"
        others[listed] = (
            f" was lent, but the items export has it under another volume ({source} row "
            + where["row"].astype("int64").astype(str)
            + volume
            + "); it is counted as a copy of the loan's volume"
        ).to_numpy(object)
    return others


def _instants(
    seg_vol: np.ndarray, seg_start: np.ndarray, seg_end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies out after each distinct (volume, instant), with every change at that instant applied."""
    n = len(seg_vol)
    if n == 0:
        empty = np.empty(0, np.int64)
        return empty, empty, empty
    ev_vol = np.concatenate([seg_vol, seg_vol])
    ev_t = np.concatenate([seg_start, seg_end])
    ev_d = np.concatenate([np.ones(n, np.int64), -np.ones(n, np.int64)])
    sort_key = _group_time_key(ev_vol, ev_t)
    if sort_key is not None:
        order = np.argsort(sort_key, kind="stable")
        sort_key = sort_key[order]
        change = np.r_[True, sort_key[1:] != sort_key[:-1]]
    else:  # a span too long for one integer key: sort on two keys instead
        order = np.lexsort((ev_t, ev_vol))
        v, t = ev_vol[order], ev_t[order]
        change = np.r_[True, (v[1:] != v[:-1]) | (t[1:] != t[:-1])]
    firsts = np.flatnonzero(change)
    count = np.cumsum(np.add.reduceat(ev_d[order], firsts))
    return ev_vol[order][firsts], ev_t[order][firsts], count


@dataclass
class _Episodes:
    volume: np.ndarray
    start: np.ndarray
    end: np.ndarray
    peak: np.ndarray
    per_volume_count: np.ndarray
    per_volume_hours: np.ndarray


def _episodes(
    inst_vol: np.ndarray, inst_t: np.ndarray, count: np.ndarray, threshold: np.ndarray, n_vol: int
) -> _Episodes:
    """Maximal runs of instants with at least ``threshold[volume]`` copies out.

    Each volume's last instant has zero copies out (every loan has ended by ``as_of``), so every run ends
    inside its own volume, and a run never continues across volumes.
    """
    at_or_above = count >= threshold[inst_vol]
    before = np.r_[False, at_or_above[:-1]]
    starts = np.flatnonzero(at_or_above & ~before)
    ends = np.flatnonzero(~at_or_above & before)
    if len(starts):
        peak = np.maximum.reduceat(count, np.column_stack([starts, ends]).ravel())[::2]
    else:
        peak = np.empty(0, np.int64)
    hours = (inst_t[ends] - inst_t[starts]) / _HOUR
    volume = inst_vol[starts]
    return _Episodes(
        volume=volume,
        start=inst_t[starts],
        end=inst_t[ends],
        peak=peak,
        per_volume_count=np.bincount(volume, minlength=n_vol),
        per_volume_hours=np.bincount(volume, weights=hours, minlength=n_vol),
    )


def _requests(requests: pd.DataFrame, mms_ids: pd.Series) -> np.ndarray:
    """Requests per MMS Id of each volume (a request is for the title, whichever copy fills it)."""
    per_title = requests.groupby("mms_id")["requests"].sum()
    return mms_ids.map(per_title).fillna(0).to_numpy(np.float64)


def _episode_table(conc: _Episodes, full: _Episodes, table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per episode, volumes in the order of the volume table, each volume's episodes in time order."""
    rank = np.empty(len(table), np.int64)
    rank[table.index.to_numpy()] = np.arange(len(table))
    parts = []
    for kind, ep in ((KIND_CONCURRENT, conc), (KIND_ALL_OUT, full)):
        parts.append(
            pd.DataFrame(
                {
                    "volume": ep.volume,
                    "rank": rank[ep.volume],
                    "Kind": kind,
                    "Start": ep.start.astype("datetime64[s]"),
                    "End": ep.end.astype("datetime64[s]"),
                    "Hours": (ep.end - ep.start) / _HOUR,
                    "Copies Out": ep.peak,
                }
            )
        )
    episodes = pd.concat(parts, ignore_index=True).sort_values(["rank", "Start", "Kind"], kind="stable")
    lookup = table.loc[episodes["volume"]]
    front = {KEY_HEADERS[k]: lookup[KEY_HEADERS[k]].to_numpy(object) for k in keys}
    front["Title"] = lookup["Title"].to_numpy(object)
    out = pd.DataFrame(front)
    for column in ("Kind", "Start", "End", "Hours", "Copies Out"):
        out[column] = episodes[column].to_numpy()
    out.insert(0, "volume", episodes["volume"].to_numpy())
    return out.reset_index(drop=True)


def weeks_at_capacity(stats: Stats, volumes: pd.Index) -> tuple[pd.DataFrame, list[dt.datetime]]:
    """Hours every copy was out in each week of the period, for the given volumes (rows, in that order).

    Weeks start on Monday 00:00; the first week is the one holding the period's first loan, the last one
    the week holding the as-of moment. Each all-out episode is cut at the week boundaries, so a 10-day
    episode fills parts of two or three weeks. Returns the hours (volumes x weeks) and each week's start.
    """
    if stats.period_start is None:
        return pd.DataFrame(index=volumes), []
    first = pd.Timestamp(stats.period_start).normalize()
    first -= pd.Timedelta(days=first.weekday())
    starts = pd.date_range(first, pd.Timestamp(stats.as_of), freq="7D")
    bounds = _seconds(pd.Series(starts.append(pd.DatetimeIndex([starts[-1] + pd.Timedelta(days=7)]))))
    episodes = stats.episodes[
        (stats.episodes["Kind"] == KIND_ALL_OUT) & stats.episodes["volume"].isin(volumes)
    ]
    row = pd.Index(volumes).get_indexer(episodes["volume"])
    begin = _seconds(episodes["Start"])[:, None]
    end = _seconds(episodes["End"])[:, None]
    overlap = np.clip(np.minimum(end, bounds[1:]) - np.maximum(begin, bounds[:-1]), 0, None) / _HOUR
    hours = np.zeros((len(volumes), len(starts)))
    np.add.at(hours, row, overlap)
    return pd.DataFrame(hours, index=volumes), [s.to_pydatetime() for s in starts]
