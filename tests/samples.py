"""Seeded item exports of any size, for tests and benchmarks that need more rows than the packaged sample.

Not part of the product: the tests import it as ``samples`` (``tests/`` is on their path) and the
benchmarks put ``tests/`` on theirs.

The rows have the shape of an Analytics items-on-loan export and ids as Alma makes them (type prefix 99/22/23,
16-19 digits, the institution code ``3681`` at the end), so they pass every check a real export must pass, and
use the locations of the packaged ``locations.csv`` (a quarter in a temporary reserve location).
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pandas as pd

SUFFIX = "3681"
#: permanent locations per library, and the library's reserve (temporary) location, as in locations.csv
LIBRARIES = {
    "MAIN": (("stacks", "ref", "folio", "media"), "resv"),
    "SCI": (("scistk", "sciper"), "sciresv"),
    "LAW": (("lawstk", "lawres"), "lawresv"),
    "1030300": (("k00040", "k00041"), "k00099"),
}
TITLES = (
    "Introduction to algorithms",
    "Molecular biology of the cell",
    "Principles of economics",
    "Constitutional law",
    "Campbell biology",
    "Física general",
    "Les Misérables",
)
COLUMNS = [
    "Title",
    "Barcode",
    "MMS Id",
    "Holding Id",
    "Item Id",
    "Library Code",
    "Location Code",
    "Temporary Location Code",
    "Loan Date",
]


def _alma_id(rng: random.Random, prefix: str, seen: set[str]) -> str:
    """A fresh id: prefix, a random middle, the institution suffix; 16-19 digits in all."""
    while True:
        middle = str(rng.randrange(10**9, 10**13))
        candidate = f"{prefix}{middle}{SUFFIX}"
        if candidate not in seen and 16 <= len(candidate) <= 19:
            seen.add(candidate)
            return candidate


def make_items(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` distinct items on loan, as text columns of an Analytics export (same seed, same rows)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    rows = []
    libraries = list(LIBRARIES)
    for number in range(n):
        library = rng.choice(libraries)
        permanent, reserve = LIBRARIES[library]
        # unique by construction; some with letters, some with a leading zero (both break in Excel)
        barcode = f"{number:07d}kj{rng.randrange(10)}" if number % 3 else f"0{number:09d}{rng.randrange(10)}"
        rows.append(
            [
                rng.choice(TITLES),
                barcode,
                _alma_id(rng, "99", seen),
                _alma_id(rng, "22", seen),
                _alma_id(rng, "23", seen),
                library,
                rng.choice(permanent),
                reserve if rng.random() < 0.25 else "",
                (date(2026, 9, 1) + timedelta(days=rng.randrange(60))).isoformat(),
            ]
        )
    return pd.DataFrame(rows, columns=COLUMNS, dtype=object)
