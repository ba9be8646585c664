"""Fetching a large Analytics report: the paging should be the only cost.

A report of ``--rows`` generated rows (default 100,000: ids, barcodes, titles, dates, some empty cells) is
served by ``alma-tools simulator --report`` in a process of its own at Alma's latency (0.3-0.8 s per answer),
and fetched with the client's :func:`~alma_tools.alma.analytics.fetch_rows` at 1,000 rows a page. Figures:

- wall time of the fetch against pages × mean latency (0.55 s), and against the sum of the answers' own
  elapsed times (the client's ``on_response``): the ratio says what the client adds over waiting for Alma;
- client CPU seconds for the fetch (parsing every page), and for building the table and writing the CSV;
- peak memory: the process's peak resident size over its size before the fetch, and (``--tracemalloc``,
  a separate run, since tracing slows parsing) Python's own peak allocation;
- correctness: every row back, equal to the source cell by cell.

    python benchmarks/analytics_bench.py                  # 100,000 rows
    python benchmarks/analytics_bench.py --rows 20000     # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addin"))  # a checkout works uninstalled
sys.path.insert(0, str(Path(__file__).resolve().parent))  # simproc, the simulator in its own process

import requests
from simproc import simulator_process

from alma_tools.alma import AlmaClient, ResponseRecord
from alma_tools.alma.analytics import fetch_rows, to_table
from alma_tools.cli.report import write_report

KEY = "benchmark-key-not-secret-0123456789"
PATH = "/shared/Benchmark University/Reports/Loans"
HEADER = ["Title", "MMS Id", "Item Id", "Barcode", "Library Code", "Loan Date", "Loan Time", "Return Date"]
LATENCY = (0.3, 0.8)


def make_rows(count: int, seed: int = 3) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        rows.append(
            [
                f"Title of volume {n % 5000} / ed. {n % 7}",
                f"99{rng.randint(10**13, 10**14 - 1)}3681",
                f"23{rng.randint(10**13, 10**14 - 1)}3681",
                f"{rng.randint(10**12, 10**13 - 1)}",
                rng.choice(["MAIN", "SCI", "1030300"]),
                f"2025-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
                f"{n % 24:02d}:{n % 60:02d}:{(n * 7) % 60:02d}",
                "" if n % 9 == 0 else f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            ]
        )
    return rows


def simulator_serving(report: Path, latency: tuple[float, float]) -> contextlib.AbstractContextManager[str]:
    """``alma-tools simulator --report PATH=FILE`` in a process of its own; yields its base URL."""
    return simulator_process(KEY, latency, extra=("--report", f"{PATH}={report}"))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(
    rows: int = 100_000, latency: tuple[float, float] = LATENCY, trace: bool = False
) -> dict[str, Any]:
    """Fetch a generated report of ``rows`` rows; the figures as a dict."""
    source_rows = make_rows(rows)
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "loans.csv"
        with source.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([HEADER, *source_rows])
        with simulator_serving(source, latency) as base:
            elapsed: list[float] = []

            def on_response(record: ResponseRecord) -> None:
                elapsed.append(record.elapsed)

            with AlmaClient(base_url=base, api_key=KEY, on_response=on_response) as client:
                warm = time.monotonic()
                # one page: the simulator reads the file on first use, which is not paging
                requests.get(
                    f"{base}/almaws/v1/analytics/reports",
                    params={"path": PATH, "limit": "25"},
                    headers={"Authorization": f"apikey {KEY}"},
                    timeout=120,
                ).raise_for_status()
                load = time.monotonic() - warm
                elapsed.clear()
                rss_before = _peak_rss_mb()
                if trace:
                    tracemalloc.start()
                cpu, started = _cpu(), time.monotonic()
                report = fetch_rows(client, PATH, limit=1000)
                wall, fetch_cpu = time.monotonic() - started, _cpu() - cpu
                traced = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
                if trace:
                    tracemalloc.stop()
                rss_after = _peak_rss_mb()
            cpu = _cpu()
            table = to_table(report)
            write_report(report, Path(folder) / "fetched.csv")
            after_cpu = _cpu() - cpu
    mean = (latency[0] + latency[1]) / 2
    return {
        "rows": len(report.rows),
        "equal_to_source": report.rows == source_rows and len(table.frame) == rows,
        "pages": report.pages,
        "simulator_load_s": round(load, 2),
        "wall_s": round(wall, 2),
        "pages_x_mean_latency_s": round(report.pages * mean, 2),
        "ratio_to_pages_x_mean": round(wall / (report.pages * mean), 3),
        "sum_of_answer_times_s": round(sum(elapsed), 2),
        "ratio_to_answer_times": round(wall / sum(elapsed), 3),
        "fetch_cpu_s": round(fetch_cpu, 2),
        "table_and_csv_cpu_s": round(after_cpu, 2),
        "peak_rss_growth_mb": round(rss_after - rss_before, 1),
        "python_peak_mb": round(traced, 1) if traced is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python's peak allocation")
    args = parser.parse_args()
    for name, value in measure(args.rows, trace=args.tracemalloc).items():
        print(f"{name:26} {value}")


if __name__ == "__main__":
    main()
