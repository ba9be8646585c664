"""Make the packaged sample loans export (``addin/alma_tools/data/loans_export.xlsx``) and its test copy.

Run from the project root: ``python tests/data/make_loans_sample.py``. A fixed seed, so the same file every
time. The shape is a Fulfillment loans export as libraries have it: two title rows, the header in row 3
(``Title, MMS Id, Permanent Call Number, Barcode, Loan Date, Loan Time, Return Date, Return Time``), dates
as Excel date cells, times as text ``HH:MM:SS``, blank return date and time for loans still out, and a
footer row. 384 volumes of 1-8 copies; reserve-like volumes (loans of hours) and stack-like ones (weeks).

Every loan starts and ends within the demo's period (2025-08-25 to 2026-06-30 23:59, ``DEMO_AS_OF``), so
the demo reports no "loan after the as-of" problem. Four rows carry a problem on purpose, each described
in ``addin/alma_tools/data/README.md`` (the demo reports exactly these).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "addin" / "alma_tools" / "data" / "loans_export.xlsx"
TEST_COPY = ROOT / "tests" / "data" / "loans_export.xlsx"
SEED = 20260630
VOLUMES = 384
PERIOD_START = dt.datetime(2025, 8, 25, 8, 0)
PERIOD_END = dt.datetime(2026, 6, 30, 23, 59)
HEADER = ["Title", "MMS Id", "Permanent Call Number", "Barcode", "Loan Date", "Loan Time", "Return Date",
          "Return Time"]  # fmt: skip
SUBJECTS = [
    "Constitutional law", "Contracts : cases and materials", "A history of the world in 100 objects",
    "Organic chemistry", "Molecular biology of the cell", "Principles of economics", "Psychology",
    "Campbell biology", "Calculus : early transcendentals", "Introduction to algorithms",
    "The Norton anthology of poetry", "Physics for scientists and engineers", "Les Misérables",
    "Über die Freiheit", "Linear algebra and its applications", "Financial accounting",
    "Human anatomy and physiology", "Microeconomics", "Statistics for the behavioral sciences",
    "Introduction to sociology",
]  # fmt: skip
#: the deliberate problems: (row offset among the loans, what is done); see the data README
STILL_OUT_SHARE = 0.5  # of loans whose return would fall after the period's end


def _volumes(rng: np.random.Generator) -> list[dict]:
    """Title, MMS Id, call number, barcodes and kind (reserve or stack) of each volume."""
    volumes = []
    used_mms: set[str] = set()
    for number in range(VOLUMES):
        title = f"{SUBJECTS[number % len(SUBJECTS)]} v.{number // len(SUBJECTS) + 1}"
        mms = ""
        while not mms or mms in used_mms:
            mms = "99" + "".join(str(d) for d in rng.integers(0, 10, 12)) + "3681"
        used_mms.add(mms)
        letters = "".join(chr(ord("A") + int(i)) for i in rng.integers(0, 26, 2))
        call = f"{letters}{rng.integers(1, 9999)} .{chr(ord('A') + int(rng.integers(0, 26)))}"
        call += f"{rng.integers(10, 99)} {rng.integers(1950, 2025)}"
        copies = int(rng.choice(np.arange(1, 9), p=[0.25, 0.33, 0.23, 0.1, 0.05, 0.01, 0.015, 0.015]))
        barcodes = ["3" + "".join(str(d) for d in rng.integers(0, 10, 13)) for _ in range(copies)]
        volumes.append(
            {"title": title, "mms": mms, "call": call, "barcodes": barcodes, "reserve": rng.random() < 0.3}
        )
    return volumes


def _copy_loans(
    rng: np.random.Generator, reserve: bool, demand: float
) -> list[tuple[dt.datetime, dt.datetime | None]]:
    """One copy's loans, one after another from the period's start; the last may still be out."""
    loans: list[tuple[dt.datetime, dt.datetime | None]] = []
    moment = PERIOD_START + dt.timedelta(hours=float(rng.uniform(0, 24 * 14)))
    while True:
        if reserve:
            length = dt.timedelta(minutes=float(max(rng.exponential(150), 15)))
            gap = dt.timedelta(hours=float(rng.exponential(400 / demand)))
        else:
            length = dt.timedelta(days=float(max(rng.exponential(21), 1)))
            gap = dt.timedelta(days=float(rng.exponential(30 / demand)))
        start = (moment + gap).replace(microsecond=0)
        if start >= PERIOD_END - dt.timedelta(hours=1):
            return loans
        end = (start + length).replace(microsecond=0)
        if end >= PERIOD_END:
            if rng.random() < STILL_OUT_SHARE:
                loans.append((start, None))
            return loans
        loans.append((start, end))
        moment = end


def _rows(rng: np.random.Generator) -> list[list]:
    rows = []
    for volume in _volumes(rng):
        demand = float(rng.pareto(2.0) + 0.5)
        for barcode in volume["barcodes"]:
            for start, end in _copy_loans(rng, volume["reserve"], demand):
                rows.append(
                    [volume["title"], volume["mms"], volume["call"], barcode,
                     dt.datetime(start.year, start.month, start.day), f"{start:%H:%M:%S}",
                     dt.datetime(end.year, end.month, end.day) if end else None,
                     f"{end:%H:%M:%S}" if end else None]
                )  # fmt: skip
    return rows


def _deliberate_problems(rows: list[list]) -> None:
    """Four rows that show what the statistics do with what real exports carry (see the data README)."""
    returned = [i for i, row in enumerate(rows) if row[6] is not None]
    # 1. a duplicated export line: the same loan twice, right below itself
    duplicate = returned[100]
    rows.insert(duplicate + 1, list(rows[duplicate]))
    returned = [i for i, row in enumerate(rows) if row[6] is not None]
    # 2. a return time left blank on a loan of several days: counted from midnight of the return day, said
    longer = [i for i in returned if rows[i][6] > rows[i][4]]
    rows[longer[len(longer) // 3]][7] = None
    # 3. a return before its loan (a typing slip in the year): left out, named
    slip = rows[returned[len(returned) // 2]]
    slip[6] = slip[6].replace(year=slip[6].year - 1)
    # 4. a loan date typed as text that is no date: left out, named
    rows[returned[len(returned) * 4 // 5]][4] = "n/a"


def write(path: Path) -> None:
    import xlsxwriter

    rng = np.random.default_rng(SEED)
    rows = _rows(rng)
    _deliberate_problems(rows)
    workbook = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False})
    workbook.set_properties({"title": "Loans", "author": "Alma Tools sample", "created": PERIOD_END})
    sheet = workbook.add_worksheet("Loans")
    date = workbook.add_format({"num_format": "m/d/yyyy"})
    sheet.set_column(0, 0, 13)
    sheet.write_string(0, 0, "Reserve and stack loans, academic year 2025-26")
    sheet.write_string(1, 0, "Fulfillment - Loans")
    sheet.write_row(2, 0, HEADER)
    for offset, row in enumerate(rows, start=3):
        for column, value in enumerate(row):
            if isinstance(value, dt.datetime):
                sheet.write_datetime(offset, column, value, date)
            elif value is not None:
                sheet.write_string(offset, column, value)
    sheet.write_string(3 + len(rows), 0, "Applied filters: Loan Date is between 08/25/2025 and 06/30/2026")
    workbook.close()


if __name__ == "__main__":
    write(PACKAGED)
    shutil.copyfile(PACKAGED, TEST_COPY)
    print(f"{PACKAGED} and {TEST_COPY}")
