"""Calls to Alma per item for a discharge, by how the export names its items (target for barcode rows: 2.0).

Runs the discharge core (plan, then the run on worker threads through the one paced client) against an
in-process simulator, for three exports of the same seeded items: ids (MMS, holding, item), barcodes with
their library and location, and barcodes alone. Calls are the simulator's count of HTTP requests
(``/_simulator/stats`` → ``requests``, redirect hops included), before and after each run.

    python3 benchmarks/barcode_calls.py [--items 200]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/samples.py: seeded exports
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addin"))  # a checkout works uninstalled

import pandas as pd

from alma_tools.alma import AlmaClient
from alma_tools.discharge import DischargeOptions, make_plan, run_plan
from alma_tools.simulator import Simulator, SimulatorConfig
from alma_tools.tables import ITEM_COLUMNS, LOCATION_COLUMNS, find_table, read_grid
from samples import make_items

ROOT = Path(__file__).resolve().parent.parent
LOCATIONS = ROOT / "tests" / "data" / "locations.csv"
KEY = "bench-key"
RATE = 25.0


def exports(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The same items exported three ways."""
    return {
        "ids": frame,
        "barcode + library + location": frame[["Barcode", "Library Code", "Location Code"]],
        "barcode alone": frame[["Barcode"]],
    }


def calls_per_item(export: pd.DataFrame, frame: pd.DataFrame) -> tuple[float, float, int]:
    """(requests per item, seconds, items done) for one run of ``export`` on a fresh simulator."""
    config = SimulatorConfig(items=frame, locations=LOCATIONS, api_keys=(KEY,), latency=(0.0, 0.01))
    with Simulator(config) as sim:
        options = DischargeOptions(rate=RATE)
        plan = make_plan(
            find_table(read_grid(export), ITEM_COLUMNS),
            find_table(read_grid(LOCATIONS), LOCATION_COLUMNS),
            options,
        )
        before = sim.stats()["requests"]
        started = time.monotonic()
        with AlmaClient(base_url=sim.base_url, api_key=KEY, rate=RATE) as alma:
            outcomes = list(run_plan(plan, alma, None, options, threading.Event()))
        elapsed = time.monotonic() - started
        requests = sim.stats()["requests"] - before
    return requests / len(frame), elapsed, sum(o.done for o in outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200)
    args = parser.parse_args()
    frame = make_items(args.items, seed=5)
    frame["Temporary Location Code"] = ""  # the barcode export has one location column: the permanent one
    print(f"{args.items} items at {RATE:g} calls/s")
    for name, export in exports(frame).items():
        per_item, elapsed, done = calls_per_item(export, frame)
        print(f"  {name:30s} {per_item:.2f} calls per item, {done} done, {elapsed:.1f} s")


if __name__ == "__main__":
    main()
