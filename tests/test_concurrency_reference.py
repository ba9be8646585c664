"""A plain brute-force reference for the concurrency figures, and checks of the reference itself.

Why a second implementation: the fast sweep in :mod:`alma_tools.concurrency.core` is whole-column numpy,
which is easy to get subtly wrong (the script it replaces was wrong for years). This one is written the
obvious way, straight from the definitions, with no cleverness: for every stretch between two consecutive
instants of a volume it counts the barcodes on loan. The property tests hold the fast implementation to it,
and the benchmark times it on the same data.

Definitions (the issue's contract): a loan occupies [loan, return); no return means out until ``as_of``; a
return after ``as_of`` counts up to ``as_of``; a loan starting after ``as_of`` is left out; overlapping loans
of one barcode are merged (counted once); copies = distinct barcodes of the volume (plus ``extra_copies``,
the never-loaned copies an items export adds).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from alma_tools.concurrency.loans import LoansInput, problem_frame

#: one loan: (volume, barcode, loan second, return second or None for still out)
Loan = tuple[str, str, int, "int | None"]


@dataclass
class VolumeFigures:
    copies: int
    loans: int = 0
    peak: int = 0
    concurrent: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, peak)
    all_out: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def concurrent_hours(self) -> float:
        return sum(e - s for s, e, _ in self.concurrent) / 3600

    @property
    def all_out_hours(self) -> float:
        return sum(e - s for s, e, _ in self.all_out) / 3600


def brute_force(loans: list[Loan], as_of: int, extra_copies: dict[str, int] | None = None) -> dict:
    """Figures per volume, straight from the definitions (quadratic per volume; fine for tests)."""
    per_copy: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for volume, barcode, start, end in loans:
        if start > as_of:
            continue
        stop = as_of if end is None or end > as_of else end
        per_copy[(volume, barcode)].append((start, stop))

    merged: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for (volume, barcode), spans in per_copy.items():
        spans.sort()
        current = list(spans[0])
        for start, stop in spans[1:]:
            if start < current[1]:
                current[1] = max(current[1], stop)
            else:
                merged[volume].append((barcode, current[0], current[1]))
                current = [start, stop]
        merged[volume].append((barcode, current[0], current[1]))

    result = {}
    for volume, spans in merged.items():
        copies = len({barcode for barcode, _, _ in spans}) + (extra_copies or {}).get(volume, 0)
        figures = VolumeFigures(copies=copies, loans=len(spans))
        instants = sorted({t for _, s, e in spans for t in (s, e)})
        counts = []
        for a, b in itertools.pairwise(instants):
            out = len({barcode for barcode, s, e in spans if s <= a < e})
            counts.append((a, b, out))
        figures.peak = max((c for _, _, c in counts), default=0)
        figures.concurrent = _runs(counts, 2)
        figures.all_out = _runs(counts, copies) if copies >= 2 else []
        result[volume] = figures
    return result


def _runs(counts: list[tuple[int, int, int]], threshold: int) -> list[tuple[int, int, int]]:
    """Maximal runs of consecutive stretches with at least ``threshold`` copies out."""
    runs: list[tuple[int, int, int]] = []
    current: list[int] | None = None
    for a, b, out in counts:
        if out >= threshold:
            if current is None:
                current = [a, b, out]
            else:
                current[1], current[2] = b, max(current[2], out)
        elif current is not None:
            runs.append(tuple(current))
            current = None
    if current is not None:
        runs.append(tuple(current))
    return runs


def loans_input(loans: list[Loan], *, items: list[tuple[str, str]] | None = None) -> LoansInput:
    """The same loans as the core's input (volume name as MMS Id, blank call number), rows from 2."""
    frame = pd.DataFrame(
        {
            "mms_id": [v for v, _, _, _ in loans],
            "call_number": "",
            "barcode": [b for _, b, _, _ in loans],
            "title": [f"Title of {v}" for v, _, _, _ in loans],
            "start": pd.to_datetime([s for _, _, s, _ in loans], unit="s"),
            "end": pd.to_datetime([e for _, _, _, e in loans], unit="s"),
            "row": range(2, len(loans) + 2),
        }
    )
    item_frame = None
    if items is not None:
        item_frame = pd.DataFrame(
            {"mms_id": [v for v, _ in items], "call_number": "", "barcode": [b for _, b in items]}
        )
    return LoansInput(
        loans=frame,
        problems=problem_frame([], "", "", "", "loans"),
        source="loans",
        items=item_frame,
        items_source="items" if items is not None else None,
    )


# --- the reference checked on cases worked out by hand ------------------------------------------------------

H = 3600


def test_reference_two_copies_overlapping() -> None:
    figures = brute_force([("v", "a", 10 * H, 12 * H), ("v", "b", 11 * H, 13 * H)], as_of=20 * H)["v"]
    assert (figures.copies, figures.peak, figures.concurrent, figures.all_out) == (
        2,
        2,
        [(11 * H, 12 * H, 2)],
        [(11 * H, 12 * H, 2)],
    )


def test_reference_hand_off_and_open_loan() -> None:
    loans = [("v", "a", 10 * H, 12 * H), ("v", "b", 11 * H, 13 * H), ("v", "c", 12 * H, None)]
    figures = brute_force(loans, as_of=15 * H)["v"]
    assert figures.concurrent == [(11 * H, 13 * H, 2)]
    assert figures.all_out == []


def test_reference_merges_overlapping_loans_of_one_copy() -> None:
    figures = brute_force([("v", "a", 10 * H, 12 * H), ("v", "a", 11 * H, 13 * H)], as_of=20 * H)["v"]
    assert (figures.copies, figures.loans, figures.peak, figures.concurrent) == (1, 1, 1, [])
