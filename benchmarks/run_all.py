"""Every measured figure of Alma Tools in one table, from one command.

Each figure comes from the benchmark module that owns it (``measure(...)`` of ``discharge_bench``,
``client_rate`` with its ``ratelimit`` reference, ``concurrency_bench`` (and its ``measure_commands``, the
``alma-tools concurrency`` command end to end), ``build_bench``, ``analytics_bench``; ``write_cost`` and
``run_cost`` of ``writeback_bench``; ``calls_per_item`` of ``barcode_calls``; ``hammer`` of
``simulator_capacity``), run here in one process so the table is one consistent run on one machine:
ratios are what compare across machines, absolute seconds only within a run. The one exception is the
Analytics fetch, run in a fresh process of its own, since its memory figure is the process's peak. The
Excel face's writes per 1,000 rows are measured here, the way its tests drive it: a ribbon-macro discharge
through xlwings' remote engine (the real object model, no Excel), counting the ``setValues`` actions that
write ``done``/``status``.

    python3 benchmarks/run_all.py            # full sizes, listed below (~20 min)
    python3 benchmarks/run_all.py --quick    # small sizes, same code paths: a smoke run (about 2 min)
    python3 benchmarks/run_all.py --only writeback analytics   # chosen sections

Full: 5,000 items at 20 and 25/s; 10k/100k/1M loans, and the command on 200k loans from XLSX and 1M from
CSV; a 20,000-row write-back and 500 items from XLSX and from CSV; a 100,000-row Analytics report; 200
items for the calls per item.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")  # remote engine, as in tests/conftest.py

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

#: Alma's answer times (0.3-0.8 s for an item call): every rate figure is taken at this latency
ALMA_LATENCY = (0.3, 0.8)


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is: the full figures, or a quick smoke run through the same code."""

    discharge_items: int
    rates: tuple[float, ...]
    client_requests: int
    excel_rows: int
    loans: tuple[int, ...]
    capacity_threads: int
    capacity_seconds: float
    quick_build: bool
    command_loans: tuple[int, int]  # the concurrency command end to end: loans from XLSX, loans from CSV
    writeback_rows: int
    writeback_items: int
    analytics_rows: int
    barcode_items: int


FULL = Sizes(
    discharge_items=5000,
    rates=(20.0, 25.0),
    client_requests=1000,
    excel_rows=1000,
    loans=(10_000, 100_000, 1_000_000),
    capacity_threads=192,
    capacity_seconds=10.0,
    quick_build=False,
    command_loans=(200_000, 1_000_000),
    writeback_rows=20_000,
    writeback_items=500,
    analytics_rows=100_000,
    barcode_items=200,
)
QUICK = Sizes(
    discharge_items=100,
    rates=(20.0, 25.0),
    client_requests=100,
    excel_rows=100,
    loans=(10_000,),
    capacity_threads=64,
    capacity_seconds=3.0,
    quick_build=True,
    command_loans=(20_000, 100_000),  # as concurrency_bench's own --quick
    writeback_rows=2_000,
    writeback_items=100,
    analytics_rows=10_000,
    barcode_items=50,
)

Row = tuple[str, str, str]  # area, figure, value


def _ratio(value: float) -> str:
    return f"{value:.3f}"


def discharge_rows(sizes: Sizes) -> list[Row]:
    """The command line's discharge at Alma's latency: rate kept, limit respected, CPU per 1,000 items."""
    import discharge_bench

    rows: list[Row] = []
    for rate in sizes.rates:
        r = discharge_bench.measure(sizes.discharge_items, rate, latency=ALMA_LATENCY)
        area = f"discharge {r['items']:,} items @ {rate:g}/s"
        rows += [
            (
                area,
                "achieved rate / configured",
                f"{r['achieved_rate']:.2f}/s = {_ratio(r['achieved_over_configured'])}",
            ),
            (area, "most requests in any second", str(r["max_requests_in_any_second"])),
            (area, "429s received", str(r["http_429"])),
            (area, "client CPU s per 1,000 items", f"{r['cpu_s_per_1000_items']:.2f}"),
            (
                area,
                "every item scanned once, every row done",
                f"{r['every_item_scanned_once']} / {r['every_row_done']} (exit {r['exit_code']})",
            ),
        ]
    return rows


def client_rows(sizes: Sizes) -> list[Row]:
    """The Alma client alone (no CLI, no journal): the pacer's achieved rate and its sliding-second peak,
    beside the same client paced by the ``ratelimit`` package (one permit per slot) as the reference, on an
    idle machine and with two other processes spinning on its two cores."""
    import client_rate

    rows: list[Row] = []
    for rate in sizes.rates:
        r = client_rate.measure(rate, sizes.client_requests, latency=ALMA_LATENCY)
        area = f"client {r['requests']:,} scans @ {rate:g}/s"
        rows += [
            (area, "achieved rate / configured", f"{r['achieved_rate']:.2f}/s = {_ratio(r['ratio'])}"),
            (area, "steady-state ratio", _ratio(r["steady_ratio"])),
            (area, "most requests in any second", str(r["max_in_any_second"])),
            (area, "429s received", str(r["http_429"])),
        ]
        for load in (0, 2):
            ours = (
                r
                if load == 0
                else client_rate.measure(rate, sizes.client_requests, latency=ALMA_LATENCY, load=load)
            )
            ref = client_rate.measure(
                rate, sizes.client_requests, latency=ALMA_LATENCY, pacer="ratelimit", load=load
            )
            where = "idle CPU" if load == 0 else f"{load} CPU hogs"
            rows += [
                (
                    area,
                    f"{where}: ours vs ratelimit (ratio; most in a second; 429s)",
                    f"{_ratio(ours['ratio'])} vs {_ratio(ref['ratio'])}; {ours['max_in_any_second']} vs "
                    f"{ref['max_in_any_second']}; {ours['http_429']} vs {ref['http_429']}",
                ),
                (
                    area,
                    f"{where}: achieved rate, ours / ratelimit",
                    _ratio(ours["achieved_rate"] / ref["achieved_rate"]),
                ),
            ]
    return rows


def excel_rows(sizes: Sizes) -> list[Row]:
    """Writes to the sheet per 1,000 rows: the ribbon's Discharge through the remote engine at 25/s."""
    import pytest
    import xlwings as xw

    from alma_tools import excel
    from alma_tools.simulator import Simulator, SimulatorConfig
    from samples import make_items
    from xl_payload import actions, locations_rows, payload

    key = "bench-key"
    n = sizes.excel_rows
    items = make_items(n, seed=7)
    config = SimulatorConfig(
        items=items,
        locations=ROOT / "tests" / "data" / "locations.csv",
        api_keys=(key,),
        latency=ALMA_LATENCY,
    )
    with (
        Simulator(config) as sim,
        tempfile.TemporaryDirectory() as folder,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.chdir(folder)
        mp.setenv("ALMA_API_KEY", key)
        data = payload(
            {
                "Items": [list(items.columns), *items.to_numpy().tolist()],
                "Locations": locations_rows(ROOT / "tests" / "data"),
                "Settings": [
                    ["Setting", "Value"],
                    ["AlmaBaseUrl", sim.base_url],
                    ["AlmaRate", 25],
                    ["LocationType", "auto"],
                ],
            },
            names={
                "AlmaBaseUrl": ("Settings", "B2"),
                "AlmaRate": ("Settings", "B3"),
                "LocationType": ("Settings", "B4"),
            },
        )
        book = xw.Book(json=data)
        book.set_mock_caller()
        try:
            started = time.monotonic()
            run = excel.discharge()
            if run is None or not run.wait(timeout=n / 25 * 3 + 60):
                raise RuntimeError("the Excel face's discharge did not finish")
            elapsed = time.monotonic() - started
            result = [
                a for a in actions(book, "setValues") if a["sheet_position"] == 0 and a["start_row"] > 0
            ]
            covered = {a["start_row"] + i for a in result for i in range(a["row_count"])}
        finally:
            del xw.Book._mock_caller
            book.close()
    area = f"Excel face {n:,} rows @ 25/s"
    return [
        (area, "done/status writes per 1,000 rows", f"{len(result) * 1000 / n:.1f}"),
        (area, "all Excel writes per 1,000 rows", f"{run.writes * 1000 / n:.1f}"),
        (area, "rows written / rows", f"{len(covered):,} / {n:,} in {elapsed:.0f} s"),
    ]


def statistics_rows(sizes: Sizes) -> list[Row]:
    """Concurrent-checkout statistics: time and peak memory, against reading the file and brute force."""
    import concurrency_bench

    rows: list[Row] = []
    for r in concurrency_bench.measure(sizes.loans):
        area = f"statistics {r['loans']:,} loans"
        rows += [
            (area, "time, peak memory", f"{r['ours_s']:.2f} s, {r['ours_mb']:.0f} MB"),
            (area, "time / reading the CSV alone", _ratio(r["ours_over_read_only"])),
        ]
        if r["ours_over_brute"] is not None:
            rows.append(
                (
                    area,
                    "time / brute force (same answer)",
                    f"{_ratio(r['ours_over_brute'])} ({r['same_answer']})",
                )
            )
        else:
            rows.append((area, "time / brute force", "brute force not run at this size"))
    return rows


def command_rows(sizes: Sizes) -> list[Row]:
    """``alma-tools concurrency`` start to exit (the fastest of three), each beside the yardstick its target
    is set against: the figure users wait for, where ``statistics`` times the computation alone."""
    import concurrency_bench

    rows: list[Row] = []
    for r in concurrency_bench.measure_commands(*sizes.command_loans):
        area = f"statistics command, {r['what']}"
        rows.append((area, "time, peak memory", f"{r['seconds']:.2f} s, {r['peak_mb']:.0f} MB"))
        if r["ratio"] is not None:
            rows.append((area, "time / yardstick", f"{_ratio(r['ratio'])} (against {r['against']})"))
        rows.append((area, "targets", r["targets"]))
    return rows


def writeback_rows(sizes: Sizes) -> list[Row]:
    """Writing results back into the user's file: one large write-back, and whole discharges from XLSX and
    from CSV, since the XLSX writer is what once cost 2.5 times the CPU and disturbed the pacing."""
    import writeback_bench

    n, items, rate = sizes.writeback_rows, sizes.writeback_items, 25.0
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        xlsx_write = writeback_bench.write_cost(n, folder, "xlsx")
        csv_write = writeback_bench.write_cost(n, folder, "csv")
        # the seeds of writeback_bench's own run, CSV first
        csv, xlsx = (
            writeback_bench.run_cost(items, rate, folder, k, s) for k, s in (("csv", 21), ("xlsx", 22))
        )
    write_area = f"write-back of {n:,} rows"
    run_area = f"discharge {items:,} items @ {rate:g}/s, XLSX vs CSV"
    cpu_xlsx, cpu_csv = xlsx["cpu_s_per_1000_items"], csv["cpu_s_per_1000_items"]
    return [
        (
            write_area,
            "CPU s, XLSX patch / CSV (best of 3)",
            f"{xlsx_write:.3f} / {csv_write:.3f} = {xlsx_write / csv_write:.2f}",
        ),
        (
            run_area,
            "client CPU s per 1,000 items, XLSX / CSV",
            f"{cpu_xlsx:.2f} / {cpu_csv:.2f} = {cpu_xlsx / cpu_csv:.2f}",
        ),
        (
            run_area,
            "most requests in any second; 429s (XLSX / CSV)",
            f"{xlsx['max_requests_in_any_second']} / {csv['max_requests_in_any_second']}; "
            f"{xlsx['http_429']} / {csv['http_429']}",
        ),
        (
            run_area,
            "every item scanned once, every row done (XLSX / CSV)",
            f"{xlsx['every_item_scanned_once']}, {xlsx['every_row_done']} (exit {xlsx['exit_code']}) / "
            f"{csv['every_item_scanned_once']}, {csv['every_row_done']} (exit {csv['exit_code']})",
        ),
    ]


def _measure_in_own_process(module: str, call: str) -> dict:
    """``module.call`` (returning a JSON-able dict) in a fresh interpreter: for a figure that is the whole
    process's peak memory, which in this process an earlier section's peak would hide."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import {module}; "
        f"print(json.dumps({module}.{call}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        raise RuntimeError(f"{module}.{call} failed (exit {done.returncode}): {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def analytics_rows(sizes: Sizes) -> list[Row]:
    """Fetching a large Analytics report at Alma's latency: the paging should be the only cost, and the
    memory should not grow with the report beyond its rows."""
    r = _measure_in_own_process("analytics_bench", f"measure({sizes.analytics_rows})")
    area = f"Analytics fetch {r['rows']:,} rows ({r['pages']} pages)"
    return [
        (
            area,
            "time / pages × mean latency",
            f"{r['wall_s']:.1f} s / {r['pages_x_mean_latency_s']:.1f} s = "
            f"{_ratio(r['ratio_to_pages_x_mean'])}",
        ),
        (area, "time / sum of the answers' own times", _ratio(r["ratio_to_answer_times"])),
        (
            area,
            "client CPU s: fetch; table and CSV",
            f"{r['fetch_cpu_s']:.2f}; {r['table_and_csv_cpu_s']:.2f}",
        ),
        (area, "peak memory growth", f"{r['peak_rss_growth_mb']:.0f} MB"),
        (area, "every row back, equal to the source", str(r["equal_to_source"])),
    ]


def barcode_rows(sizes: Sizes) -> list[Row]:
    """Calls to Alma per item by how the export names its items: what a barcode-only export costs over
    one with ids is Alma's time the user waits for (the target for barcode rows: 2.0 calls per item)."""
    import barcode_calls

    from samples import make_items

    frame = make_items(sizes.barcode_items, seed=5)  # as barcode_calls' own run prepares them:
    frame["Temporary Location Code"] = ""  # the barcode export has one location column, the permanent one
    area = f"calls per item, {sizes.barcode_items:,} items @ {barcode_calls.RATE:g}/s"
    rows: list[Row] = []
    for name, export in barcode_calls.exports(frame).items():
        per_item, elapsed, done = barcode_calls.calls_per_item(export, frame)
        target = "" if name == "ids" else " (target 2.0)"
        rows.append((area, f"{name} rows{target}", f"{per_item:.2f} ({done:,} done in {elapsed:.1f} s)"))
    return rows


def build_rows(sizes: Sizes) -> list[Row]:
    """Building workbook/alma_tools.xlsm from its text sources."""
    import build_bench

    r = build_bench.measure(quick=sizes.quick_build)
    return [
        ("workbook build", "median build time", f"{r['build_seconds_median']:.2f} s ({r['builds']} builds)"),
        ("workbook build", "identical rebuilds", str(r["identical_rebuilds"])),
    ]


def capacity_rows(sizes: Sizes) -> list[Row]:
    """The simulator's own capacity at Alma's latency (it must never be what limits a measured rate)."""
    import simulator_capacity

    from alma_tools.simulator import Simulator, SimulatorConfig

    config = SimulatorConfig(
        items=ROOT / "tests" / "data" / "items_to_discharge.csv",
        locations=ROOT / "tests" / "data" / "locations.csv",
        api_keys=(simulator_capacity.KEY,),
        rate_limit=None,
        latency=ALMA_LATENCY,
    )
    with Simulator(config) as sim:
        count, _statuses, _times, elapsed = simulator_capacity.hammer(
            sim, sizes.capacity_threads, sizes.capacity_seconds
        )
    figure = f"requests/s held ({sizes.capacity_threads} connections)"
    return [("simulator", figure, f"{count / elapsed:.0f}")]


SECTIONS: dict[str, Callable[[Sizes], list[Row]]] = {
    "discharge": discharge_rows,
    "client": client_rows,
    "excel": excel_rows,
    "statistics": statistics_rows,
    "statistics-commands": command_rows,
    "writeback": writeback_rows,
    "analytics": analytics_rows,
    "barcodes": barcode_rows,
    "build": build_rows,
    "simulator": capacity_rows,
}


def format_table(rows: list[Row]) -> str:
    """A plain-text table (also valid Markdown) that reads well in a terminal and pastes into the README."""
    header = ("Area", "Figure", "Value")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(3)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join(lines)


def run(sizes: Sizes, only: list[str]) -> tuple[list[Row], list[str]]:
    """Run the chosen sections; a section that fails is reported as failed, the others still run."""
    rows: list[Row] = []
    failures: list[str] = []
    for name in only:
        started = time.monotonic()
        print(f"[run_all] {name} ...", file=sys.stderr, flush=True)
        try:
            rows += SECTIONS[name](sizes)
        except Exception as error:  # one broken benchmark must not hide the other figures
            failures.append(f"{name}: {type(error).__name__}: {error}")
            rows.append((name, "FAILED", f"{type(error).__name__}: {error}"))
        print(f"[run_all] {name} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return rows, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every benchmark")
    parser.add_argument(
        "--only", nargs="+", choices=list(SECTIONS), default=list(SECTIONS), help="run only these sections"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    started = time.monotonic()
    rows, failures = run(sizes, args.only)
    print(format_table(rows))
    print(
        f"\n{'quick' if args.quick else 'full'} run, {time.monotonic() - started:.0f} s; "
        f"latency {ALMA_LATENCY[0]}-{ALMA_LATENCY[1]} s where a rate is measured"
    )
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
