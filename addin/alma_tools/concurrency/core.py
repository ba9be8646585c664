"""The concurrent-checkout sweep: how many copies of each volume were out at once, and for how long.

Why whole-column: a year of a large library is a million loans, and the script this replaces spent 19 ms per
loan in a Python loop (49 minutes for 100,000 loans) and still got the answer wrong (field notes §2). Here
every step is a numpy/pandas operation over all loans at once:

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alma_tools.concurrency.loans import (
    PROBLEM_COLUMNS,
    LoansInput,
    combine_codes,
    problem_frame,
    volume_keys,
)
from alma_tools.tables import cell_text

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
    frame = loans.loans
    problems = [loans.problems]

    start = _seconds(frame["start"])
    end = _seconds(frame["end"])
    as_of_s = int(np.datetime64(as_of, "s").astype(np.int64))
    rows = frame["row"].to_numpy(np.int64)

    late = start > as_of_s
    if late.any():
        problems.append(
            problem_frame(
                rows[late],
                "Loan Date",
                "the loan is after the as-of moment " + f"{as_of:%Y-%m-%d %H:%M}" + "; it is left out",
                "Check the Loan Date, or give a later --as-of",
                loans.source,
            )
        )
    keep = ~late
    frame = frame.loc[keep]
    start, end, rows = start[keep], end[keep], rows[keep]
    is_open = end == _NAT
    returned_at = end
    end = np.where(is_open | (end > as_of_s), as_of_s, end)

    # Volume numbers in order of first appearance; the key columns come back for the output. read_loans
    # has numbered the keys already (from the distinct cells); a frame built by hand is numbered here.
    volume_frame = frame[keys].reset_index(drop=True)
    if "volume_code" in frame:
        volume_code = frame["volume_code"].to_numpy(np.int64)
        barcode_codes = frame["barcode_code"].to_numpy(np.int64)
    else:
        volume_code = combine_codes([pd.factorize(frame[k].to_numpy(object))[0] for k in keys])
        barcode_codes = pd.factorize(frame["barcode"].to_numpy(object))[0].astype(np.int64)
    vol, first_row = _first_appearance(volume_code)
    n_vol = len(first_row)
    copy_key = vol * (int(barcode_codes.max(initial=0)) + 1) + barcode_codes

    seg_vol, seg_start, seg_end, overlap_problems = _merge_copy_overlaps(
        copy_key, vol, start, end, rows, frame["barcode"].to_numpy(object), loans.source
    )
    if overlap_problems is not None:
        problems.append(overlap_problems)

    copies, copy_problems = _copies(loans, frame, vol, barcode_codes, keys, volume_frame, first_row)
    if copy_problems is not None:
        problems.append(copy_problems)

    inst_vol, inst_t, count = _instants(seg_vol, seg_start, seg_end)

    all_threshold = np.where(copies >= 2, copies, np.iinfo(np.int64).max)
    conc = _episodes(inst_vol, inst_t, count, np.full(n_vol, 2, np.int64), n_vol)
    full = _episodes(inst_vol, inst_t, count, all_threshold, n_vol)

    peak = np.zeros(n_vol, np.int64)
    if len(inst_vol):
        bounds = np.flatnonzero(np.r_[True, inst_vol[1:] != inst_vol[:-1]])
        peak[inst_vol[bounds]] = np.maximum.reduceat(count, bounds)

    loans_per_volume = np.bincount(seg_vol, minlength=n_vol)
    open_per_volume = np.bincount(vol[is_open], minlength=n_vol)
    first_loan = _group_min(vol, start, n_vol)
    returned = ~is_open
    last_return = np.full(n_vol, _NAT, np.int64)
    if returned.any():
        np.maximum.at(last_return, vol[returned], returned_at[returned])

    period_start_s = int(start.min()) if len(start) else None
    period_hours = (as_of_s - period_start_s) / _HOUR if period_start_s is not None else 0.0

    key_values = volume_frame.iloc[first_row].reset_index(drop=True)
    titles = (
        cell_text(pd.Series(frame["title"].to_numpy(object)[first_row], dtype=object))[0].to_numpy(object)
        if "title" in frame
        else np.full(n_vol, "", dtype=object)
    )
    table = pd.DataFrame(
        {
            "MMS Id": key_values["mms_id"].to_numpy(object),
            "Permanent Call Number": key_values["call_number"].to_numpy(object),
            "Title": titles,
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
    has_requests = loans.requests is not None
    if loans.requests is not None:
        table["Requests"] = _requests(loans.requests, key_values["mms_id"])
        table["Requests per Copy"] = table["Requests"] / np.maximum(copies, 1)
    table["Open Loans"] = open_per_volume
    table["First Loan"] = _to_datetimes(first_loan)
    table["Last Return"] = _to_datetimes(last_return)
    if loans.by_description:
        table["Description"] = key_values["description"].to_numpy(object)
    table.index.name = "volume"
    table = table.sort_values(
        ["Hours All Out", "Hours 2+ Out", "Loans", "MMS Id"],
        ascending=[False, False, False, True],
        kind="stable",
    )

    episodes = _episode_table(conc, full, table, keys)
    problem_table = pd.concat([p for p in problems if len(p)] or [problems[0]], ignore_index=True)
    problem_table = problem_table.sort_values(["File", "Row"], kind="stable").reset_index(drop=True)

    return Stats(
        volumes=table,
        episodes=episodes,
        problems=problem_table[list(PROBLEM_COLUMNS)],
        as_of=as_of,
        source=loans.source,
        period_start=(
            dt.datetime(1970, 1, 1) + dt.timedelta(seconds=period_start_s)
            if period_start_s is not None
            else None
        ),
        by_description=loans.by_description,
        has_requests=has_requests,
        items_source=loans.items_source,
        notes=list(loans.notes),
        _instant_volume=inst_vol,
        _instant_time=inst_t,
        _instant_count=count,
    )


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


def _merge_copy_overlaps(
    copy_key: np.ndarray,
    vol: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    rows: np.ndarray,
    barcodes: np.ndarray,
    source: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame | None]:
    """Merge loans of one copy that overlap into one stretch, and say which rows were merged.

    A copy cannot be out twice at once, so an overlap is a data problem (often a duplicated line); counting
    it twice would invent a second copy. Loans that only touch (return and next loan in the same second)
    are not merged: that is a hand-off of the same copy.
    """
    order = _sort_order(copy_key, start, end)
    key_s, start_s, end_s = copy_key[order], start[order], end[order]
    new_copy = np.r_[True, key_s[1:] != key_s[:-1]]
    running_end = pd.Series(end_s).groupby(key_s).cummax().to_numpy()
    previous_end = np.r_[np.iinfo(np.int64).min, running_end[:-1]]
    overlaps = ~new_copy & (start_s < previous_end)
    seg_first = np.flatnonzero(~overlaps)
    seg_start = start_s[seg_first]
    seg_end = np.maximum.reduceat(end_s, seg_first) if len(seg_first) else end_s[:0]
    seg_vol = vol[order][seg_first]

    problems = None
    if overlaps.any():
        seg_id = np.cumsum(~overlaps) - 1
        merged = np.flatnonzero(overlaps)
        first_rows = rows[order][seg_first][seg_id[merged]]
        merged_rows = rows[order][merged]
        barcode_text = pd.Series(barcodes[order][merged], dtype=object).astype(str)
        problems = problem_frame(
            merged_rows,
            "Loan Date",
            "the loan overlaps the loan in row "
            + pd.Series(first_rows).astype(str)
            + " of the same barcode "
            + barcode_text
            + "; counted once",
            "One copy cannot be lent twice at once: remove the duplicate line or correct the dates",
            source,
        )
    return seg_vol, seg_start, seg_end, problems


def _sort_order(group: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Order by (group, start, end), like ``np.lexsort((end, start, group))`` but about four times faster.

    One stable sort on ``end``, then one stable sort on a single integer key ``group * span + start``,
    which numpy's radix-friendly integer sort handles much faster than a three-key lexsort.
    """
    by_end = np.argsort(end, kind="stable")
    if not len(start):
        return by_end
    t0 = int(start.min())
    span = int(start.max()) - t0 + 1
    if int(group.max(initial=0)) + 1 >= np.iinfo(np.int64).max // span:
        return np.lexsort((end, start, group))
    key = group[by_end] * span + (start[by_end] - t0)
    return by_end[np.argsort(key, kind="stable")]


def _copies(
    loans: LoansInput,
    frame: pd.DataFrame,
    vol: np.ndarray,
    barcode_codes: np.ndarray,
    keys: list[str],
    volume_frame: pd.DataFrame,
    first_row: np.ndarray,
) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Copies per volume: distinct barcodes in the items export (every copy) and in the loans.

    Without an items export only copies that were lent are known. With one, a barcode that was lent but is
    missing from the items export is still a copy (it was out), and is reported so the export can be fixed.
    """
    n_vol = len(first_row)
    if loans.items is None or not len(loans.items):
        lent = np.unique(vol * (int(barcode_codes.max(initial=0)) + 1) + barcode_codes)
        return np.bincount(lent // (int(barcode_codes.max(initial=0)) + 1), minlength=n_vol), None
    loan_pairs = pd.DataFrame({"vol": vol, "barcode": frame["barcode"].to_numpy(object)})

    key_index = pd.MultiIndex.from_frame(volume_frame.iloc[first_row][keys])
    items = loans.items
    item_vol = key_index.get_indexer(pd.MultiIndex.from_frame(items[keys]))
    known = item_vol >= 0
    item_pairs = pd.DataFrame({"vol": item_vol[known], "barcode": items["barcode"].to_numpy(object)[known]})
    item_pairs = item_pairs.drop_duplicates()
    merged = loan_pairs.drop_duplicates().merge(item_pairs, how="left", indicator=True)
    missing = merged[merged["_merge"] == "left_only"]
    union = pd.concat([item_pairs, missing[["vol", "barcode"]]], ignore_index=True)
    copies = np.bincount(union["vol"].to_numpy(np.int64), minlength=n_vol)

    problems = None
    if len(missing):
        first_loan_row = (
            pd.DataFrame({"vol": vol, "barcode": frame["barcode"].to_numpy(object), "row": frame["row"]})
            .drop_duplicates(["vol", "barcode"])
            .merge(missing[["vol", "barcode"]])
        )
        problems = problem_frame(
            first_loan_row["row"].to_numpy(np.int64),
            "Barcode",
            "barcode " + first_loan_row["barcode"].astype(str) + " was lent but is not in the items export; "
            "it is counted as a copy",
            "Export the items of the same locations as the loans (or check the barcode)",
            loans.source,
        )
    return copies, problems


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
    t0 = int(ev_t.min())
    span = int(ev_t.max()) - t0 + 1
    if int(ev_vol.max()) + 1 < np.iinfo(np.int64).max // span:
        sort_key = ev_vol * span + (ev_t - t0)
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
