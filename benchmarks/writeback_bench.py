"""What writing results back costs: one write-back of a large file, and a whole discharge from XLSX vs CSV.

Why these figures: the discharge writes ``done``/``status`` into the user's file while the run goes on. The
old XLSX writer loaded and saved the whole workbook with openpyxl every 5 s, so a run from an XLSX cost
2.5 times the CPU of the same run from a CSV, and its long holds of the interpreter disturbed the pacing.
The writer now patches only the worksheet's XML part (and CSV text record by record) and saves less often
when a save is slow. This benchmark reads:

- the CPU time of one write-back of ``--rows`` rows (every row given a status), XLSX patch and CSV,
  the best of three, and their ratio (the bound: 0.5 s for 20,000 rows);
- the CPU seconds per 1,000 items of ``alma-tools discharge`` run in this process (``time.process_time``;
  the simulator runs in a process of its own, at Alma's latency and limit, see ``simproc``) from an XLSX
  and from a CSV of the same ``--items`` items at ``--rate``, and their ratio (the bound: 1.5);
- the most requests the simulator saw in any sliding second during each run (never above the rate).

    python benchmarks/writeback_bench.py                        # 20,000-row write-back, 500 items at 25/s
    python benchmarks/writeback_bench.py --rows 5000 --items 200
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/samples.py: seeded exports
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addin"))  # a checkout works uninstalled

import pandas as pd
from simproc import simulator_process
from simproc import stats as simulator_stats

from alma_tools.cli import main as cli_main
from alma_tools.discharge.results import ResultsFile
from alma_tools.tables import ITEM_COLUMNS, find_table, read_grid
from samples import make_items

KEY = "benchmark-key-not-secret-0123456789"
LOCATIONS = Path(__file__).resolve().parents[1] / "addin" / "alma_tools" / "data" / "locations.csv"
STATUS = "Returned; reshelve to Main stacks"


def _save(frame: pd.DataFrame, path: Path) -> None:
    """The items as the user has them: a CSV from Excel (UTF-8 with BOM) or an XLSX workbook."""
    if path.suffix == ".xlsx":
        frame.to_excel(path, index=False)
    else:
        frame.to_csv(path, index=False, encoding="utf-8-sig")


def write_cost(rows: int, folder: Path, kind: str) -> float:
    """CPU seconds of one write-back of ``rows`` statuses into a ``kind`` file (best of three)."""
    path = folder / f"writeback.{kind}"
    _save(make_items(rows, seed=3), path)
    table = find_table(read_grid(path), ITEM_COLUMNS)
    target = ResultsFile(path, table)
    results = {int(row): (True, STATUS) for row in table.rows}
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        target.write(results)
        best = min(best, time.process_time() - started)
    return best


def run_cost(items: int, rate: float, folder: Path, kind: str, seed: int) -> dict[str, Any]:
    """One discharge through the command line in this process; CPU per 1,000 items and the busiest second."""
    frame = make_items(items, seed=seed)
    source = folder / f"sim-{kind}.csv"  # what the simulator knows, in a file the run does not touch
    frame.to_csv(source, index=False, encoding="utf-8-sig")
    path = folder / f"items-{kind}.{kind}"
    _save(frame, path)
    latency = (0.3, 0.8)
    with simulator_process(KEY, latency, items=source, locations=LOCATIONS, seed=seed) as base:
        os.environ["ALMA_API_KEY"] = KEY
        argv = [
            "discharge",
            str(path),
            "--locations",
            str(LOCATIONS),
            "--base-url",
            base,
            "--rate",
            f"{rate:g}",
        ]
        started_cpu, started = time.process_time(), time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            code = cli_main(argv)
        cpu, wall = time.process_time() - started_cpu, time.monotonic() - started
        stats = simulator_stats(base)
    done = find_table(read_grid(path), ITEM_COLUMNS).text("done")
    return {
        "kind": kind,
        "items": items,
        "exit_code": code,
        "cpu_s_per_1000_items": round(cpu * 1000 / items, 2),
        "wall_s": round(wall, 1),
        "max_requests_in_any_second": stats["max_requests_in_any_second"],
        "http_429": stats["throttled"],
        "every_item_scanned_once": stats["scans"] == dict.fromkeys(frame["Item Id"], 1),
        "every_row_done": bool((done == "TRUE").all()),
        "summary_last_line": printed.getvalue().strip().splitlines()[-1]
        if printed.getvalue().strip()
        else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the one write-back measured")
    parser.add_argument("--items", type=int, default=500, help="items of each discharge run")
    parser.add_argument("--rate", type=float, default=25.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        xlsx_write, csv_write = write_cost(args.rows, folder, "xlsx"), write_cost(args.rows, folder, "csv")
        print(f"One write-back of {args.rows:,} rows (CPU s, best of 3):")
        print(f"  XLSX patch {xlsx_write:.3f}   CSV {csv_write:.3f}   XLSX/CSV {xlsx_write / csv_write:.2f}")
        runs = [
            run_cost(args.items, args.rate, folder, kind, seed) for kind, seed in (("csv", 21), ("xlsx", 22))
        ]
    print(f"\nDischarge of {args.items:,} items at {args.rate:g}/s through the command line:")
    print(pd.DataFrame(runs).set_index("kind").T.to_string())
    ratio = runs[1]["cpu_s_per_1000_items"] / runs[0]["cpu_s_per_1000_items"]
    print(f"\nCPU per 1,000 items, XLSX/CSV: {ratio:.2f}")


if __name__ == "__main__":
    main()
