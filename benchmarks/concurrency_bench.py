"""Concurrent-checkout statistics: time and peak memory at 10k, 100k and 1M loans, against two yardsticks.

Why these yardsticks: reading the CSV alone (``pd.read_csv``) is the floor no implementation can beat, so
"ours / read-only" says how much the statistics cost on top of reading; the plain brute-force reference (the
one the tests hold the fast code to, fed by the ``csv`` module and ``strptime``) is what a straightforward
implementation costs, so "ours / brute" says what the whole-column sweep buys.

Each measurement (and the data generation) runs in its own subprocess, so peak memory (``ru_maxrss``) is
that step's alone (it includes the interpreter and pandas, about 80 MB); times start after the imports.
The loans are generated with a fixed seed: volumes of 1-8 copies, reserve-like (hours) and stack-like
(weeks) loans, each copy's loans one after another with some same-second hand-offs, start times on the
minute for a third of the loans (so different copies change at the same second), and some loans still out.

    python benchmarks/concurrency_bench.py            # 10k, 100k, 1M
    python benchmarks/concurrency_bench.py 10000      # chosen sizes

``measure(sizes)`` returns the rows for a combined benchmark table.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: the brute force is pure Python and quadratic per volume; above this many loans it is not run
BRUTE_LIMIT = 100_000
AS_OF = dt.datetime(2026, 7, 1)
SIZES = (10_000, 100_000, 1_000_000)
_YEAR_START = np.datetime64("2025-08-25T08:00:00", "s")
_PERIOD = float((np.datetime64(AS_OF, "s") - _YEAR_START).astype(np.int64))


def generate(n: int, path: Path, seed: int = 20251122) -> Path:
    """Write ``n`` realistic loans as an Analytics-style CSV (text dates m/d/yyyy, times HH:MM:SS)."""
    rng = np.random.default_rng(seed)
    n_volumes = max(n // 20, 1)
    copies = rng.choice(np.arange(1, 9), size=n_volumes, p=[0.3, 0.3, 0.15, 0.1, 0.06, 0.04, 0.03, 0.02])
    reserve = rng.random(n_volumes) < 0.4
    popularity = rng.pareto(1.5, n_volumes) + 1
    volume = rng.choice(n_volumes, size=n, p=popularity / popularity.sum())
    copy = (rng.random(n) * copies[volume]).astype(np.int64)
    # a copy lent k times has loans and gaps that fit k times into the period: busy copies turn over fast
    per_copy = np.bincount(volume * 8 + copy, minlength=n_volumes * 8)[volume * 8 + copy]
    cycle = np.minimum(np.where(reserve[volume], 8 * 3600.0, 45 * 86400.0), 0.8 * _PERIOD / per_copy)
    duration = np.maximum(rng.exponential(cycle * 0.4), 60).astype(np.int64)
    gap = rng.exponential(cycle * 0.6).astype(np.int64)
    gap[rng.random(n) < 0.05] = 0  # same-second hand-off of one copy
    order = np.lexsort((rng.random(n), copy, volume))
    volume, copy, duration, gap = volume[order], copy[order], duration[order], gap[order]
    first = np.r_[True, (volume[1:] != volume[:-1]) | (copy[1:] != copy[:-1])]
    step = duration + gap
    used = np.cumsum(step) - step  # time taken by all earlier loans in this order
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    offset = rng.integers(0, 14 * 86400, n)
    start = offset[group_start] + used - used[group_start]
    on_minute = rng.random(n) < 0.33
    start = np.where(on_minute & ~first, start - start % 60, start)
    start = np.maximum(start, np.r_[0, (start + duration)[:-1]] * ~first)  # rounding never makes an overlap
    end = start + duration
    loan = pd.Series(_YEAR_START + start)
    back = pd.Series(_YEAR_START + end)
    open_loan = (back > pd.Timestamp(AS_OF)) & (rng.random(n) < 0.5)
    frame = pd.DataFrame(
        {
            "Title": "Title " + pd.Series(volume).astype(str),
            "MMS Id": "99" + pd.Series(volume + 10_000_000_000).astype(str) + "3681",
            "Permanent Call Number": "QA"
            + pd.Series(volume % 9973).astype(str)
            + " .B"
            + pd.Series(volume).astype(str),
            "Barcode": "3" + pd.Series(volume * 10 + copy + 10**11).astype(str),
            "Loan Date": loan.dt.strftime("%m/%d/%Y"),
            "Loan Time": loan.dt.strftime("%H:%M:%S"),
            "Return Date": back.dt.strftime("%m/%d/%Y").where(~open_loan, ""),
            "Return Time": back.dt.strftime("%H:%M:%S").where(~open_loan, ""),
        }
    )
    frame.to_csv(path, index=False)
    return path


def _read_only(path: Path) -> dict:
    started = time.perf_counter()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {"seconds": time.perf_counter() - started, "rows": len(frame)}


def _ours(path: Path) -> dict:
    from alma_tools.concurrency import compute, read_loans

    started = time.perf_counter()  # after the imports: the same start line as the other two
    stats = compute(read_loans(path), as_of=AS_OF)
    return {
        "seconds": time.perf_counter() - started,
        "volumes": len(stats.volumes),
        "hours_all_out": round(float(stats.volumes["Hours All Out"].sum()), 3),
    }


def _brute(path: Path) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_concurrency_reference import brute_force

    started = time.perf_counter()
    epoch = dt.datetime(1970, 1, 1)
    loans = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            start = dt.datetime.strptime(f"{row['Loan Date']} {row['Loan Time']}", "%m/%d/%Y %H:%M:%S")
            end = None
            if row["Return Date"]:
                back = dt.datetime.strptime(f"{row['Return Date']} {row['Return Time']}", "%m/%d/%Y %H:%M:%S")
                end = int((back - epoch).total_seconds())
            volume = f"{row['MMS Id']}|{row['Permanent Call Number']}"
            loans.append((volume, row["Barcode"], int((start - epoch).total_seconds()), end))
    result = brute_force(loans, int((AS_OF - epoch).total_seconds()))
    return {
        "seconds": time.perf_counter() - started,
        "volumes": len(result),
        "hours_all_out": round(sum(f.all_out_hours for f in result.values()), 3),
    }


_STEPS = {"read_only": _read_only, "ours": _ours, "brute": _brute}


def _child(step: str, path: str) -> None:
    import resource

    if step == "generate":
        size, target = path.split("=", 1)
        generate(int(size), Path(target))
        return
    result = _STEPS[step](Path(path))
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run(step: str, path: Path | str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, str(path)], capture_output=True, text=True, check=True
    )
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def measure(sizes: tuple[int, ...] = SIZES) -> list[dict]:
    """One row per size: seconds and peak MB of read-only, ours and brute force, and the ratios."""
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for n in sizes:
            path = Path(scratch) / f"loans_{n}.csv"
            # generated in a child: a child starts with its parent's peak memory, so the parent stays small
            _run("generate", f"{n}={path}")
            read_only = _run("read_only", path)
            ours = _run("ours", path)
            row = {
                "benchmark": "concurrency",
                "loans": n,
                "read_only_s": read_only["seconds"],
                "read_only_mb": read_only["peak_mb"],
                "ours_s": ours["seconds"],
                "ours_mb": ours["peak_mb"],
                "ours_over_read_only": ours["seconds"] / read_only["seconds"],
                "brute_s": None,
                "brute_mb": None,
                "ours_over_brute": None,
                "same_answer": None,
            }
            if n <= BRUTE_LIMIT:
                brute = _run("brute", path)
                row.update(
                    brute_s=brute["seconds"],
                    brute_mb=brute["peak_mb"],
                    ours_over_brute=ours["seconds"] / brute["seconds"],
                    same_answer=(brute["volumes"], brute["hours_all_out"])
                    == (ours["volumes"], ours["hours_all_out"]),
                )
            rows.append(row)
    return rows


def _print(rows: list[dict]) -> None:
    print(
        f"{'loans':>9} | {'read CSV only':>16} | {'ours: read+compute':>18} | {'brute force':>17} | "
        f"{'ours/read':>9} | {'ours/brute':>10} | same answer"
    )
    for r in rows:
        brute = f"{r['brute_s']:7.2f} s {r['brute_mb']:5.0f} MB" if r["brute_s"] is not None else "not run"
        ratio = f"{r['ours_over_brute']:10.3f}" if r["ours_over_brute"] is not None else f"{'-':>10}"
        same = "-" if r["same_answer"] is None else str(r["same_answer"])
        print(
            f"{r['loans']:>9,} | {r['read_only_s']:6.2f} s {r['read_only_mb']:5.0f} MB | "
            f"{r['ours_s']:7.2f} s {r['ours_mb']:5.0f} MB | {brute:>17} | {r['ours_over_read_only']:9.2f} | "
            f"{ratio} | {same}"
        )
    if any(r["brute_s"] is None for r in rows):
        print(f"(the brute force is not run above {BRUTE_LIMIT:,} loans: pure Python, quadratic per volume)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        _print(measure(tuple(int(a) for a in sys.argv[1:]) or SIZES))
