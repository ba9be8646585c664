"""The discharge run against the simulator at Alma's real latency: rate kept, limit respected, CPU spent.

Why these figures: the institution's 25 calls/s is shared by every system, so the run must never go above the
configured rate in any (sliding) second, and should still achieve close to it (the old script burst 50 in one
second and burned 24-28 s of CPU polling). Each measurement runs ``alma-tools discharge`` as a real process
against ``alma-tools simulator`` in a process of its own, as Alma runs on its own machine (latency 0.3-0.8 s,
the institution's limit of 25 enforced over a sliding second; see ``simproc``) and reads:

- achieved rate: requests started per second, first to last, and its ratio to the configured rate. A start
  is read from the run's ``answers.jsonl`` as the answer's time less its elapsed time (the client measures
  elapsed from the request's pacer slot); the journal's ``sent`` lines would overstate it, since each is
  written before its row waits for a slot (200 items at 25/s: 1.023). Also items per second from the first
  request to the last outcome (Alma's latency included);
- most requests the simulator saw in any sliding second, and how many 429s it sent;
- the command's CPU seconds (user + system, ``getrusage(RUSAGE_CHILDREN)``) per 1,000 items;
- correctness: every item scanned exactly once, every row done;
- calls per item: the simulator's requests less the run's one preflight call (``POST /bibs/test``), per item.
  An ids export costs 1 (the scan); a barcode export (Barcode, Library Code, Location Code: no ids) costs 2
  (the lookup, whose redirect carries the ids, then the scan);
- items per hour at the configured rate, for an ids export and a barcode export: items per second end to end
  times 3,600. The run is short (``--items``), so this is an extrapolation from it, and says so.

    python benchmarks/discharge_bench.py                 # 1,000 items at 20 and 25 calls/s (ids export)
    python benchmarks/discharge_bench.py --items 5000    # larger run
    python benchmarks/discharge_bench.py --exports ids barcode --rates 20 --items 300   # the issue's figures

``measure(n, rate, export=...)`` returns one row as a dict, for a combined benchmark table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
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

from samples import make_items

KEY = "benchmark-key-not-secret-0123456789"
LOCATIONS = Path(__file__).resolve().parents[1] / "addin" / "alma_tools" / "data" / "locations.csv"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: the columns of a barcode export: what a person pastes from a list of barcodes, with where each belongs
BARCODE_COLUMNS = ["Title", "Barcode", "Library Code", "Location Code", "Temporary Location Code"]


def _latest_run_files(run_folder: Path) -> tuple[Path, Path]:
    """The journal and answers of the run just made: put away under ``finished/`` once it is complete."""
    finished = sorted((run_folder / "finished").glob("*")) if (run_folder / "finished").is_dir() else []
    where = finished[-1] if finished else run_folder
    return where / "journal.jsonl", where / "answers.jsonl"


def measure(
    n: int = 1000,
    rate: float = 25.0,
    latency: tuple[float, float] = (0.3, 0.8),
    seed: int = 0,
    export: str = "ids",
) -> dict[str, Any]:
    """Discharge ``n`` generated items at ``rate`` through the command line; the figures as a dict.

    ``export``: ``"ids"`` (MMS, Holding and Item Id in every row) or ``"barcode"`` (barcodes only).
    """
    frame = make_items(n, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        alma_items = Path(folder) / "alma_items.csv"  # what the simulator holds: every id
        frame.to_csv(alma_items, index=False, encoding="utf-8-sig")
        items = Path(folder) / "items.csv"
        export_frame = frame[BARCODE_COLUMNS] if export == "barcode" else frame
        export_frame.to_csv(items, index=False, encoding="utf-8-sig")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALMA_")} | {"ALMA_API_KEY": KEY}
        command = [
            sys.executable,
            "-m",
            "alma_tools",
            "discharge",
            str(items),
            "--locations",
            str(LOCATIONS),
            "--rate",
            f"{rate:g}",
        ]
        # the simulator has read the items by the time it answers, before the discharge writes to the file
        with simulator_process(KEY, latency, items=alma_items, locations=LOCATIONS, seed=seed) as base:
            cpu_before = _children_cpu()
            started = time.monotonic()
            done = subprocess.run([*command, "--base-url", base], env=env, capture_output=True, text=True)
            wall = time.monotonic() - started
            cpu = _children_cpu() - cpu_before
            stats = simulator_stats(base)
        journal_path, answers_path = _latest_run_files(Path(folder) / "items.csv.alma-run")
        journal = [json.loads(line) for line in journal_path.open()]
        answers = [json.loads(line) for line in answers_path.open()]
        starts = sorted(answer["time"] - answer["elapsed"] for answer in answers)
        # from the first request (the preflight; a barcode row's lookup comes before its journal line)
        span = journal[-1]["time"] - min(starts[0], journal[0]["time"])
        result = pd.read_csv(items, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    per_second = n / span
    return {
        "export": export,
        "items": n,
        "rate": rate,
        "calls_per_item": round((stats["requests"] - 1) / n, 3),  # less the one preflight call
        "items_per_hour_extrapolated": round(per_second * 3600),
        "achieved_rate": round(achieved, 2),
        "achieved_over_configured": round(achieved / rate, 3),
        "items_per_s_end_to_end": round(per_second, 2),
        "max_requests_in_any_second": stats["max_requests_in_any_second"],
        "http_429": stats["throttled"],
        "requests": stats["requests"],
        "cpu_s_per_1000_items": round(cpu * 1000 / n, 2),
        "wall_s": round(wall, 1),
        "exit_code": done.returncode,
        "every_item_scanned_once": stats["scans"] == dict.fromkeys(frame["Item Id"], 1),
        "every_row_done": bool((result["done"] == "TRUE").all()),
        "in_house_uses": stats["in_house_uses"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rates", type=float, nargs="+", default=[20.0, 25.0])
    parser.add_argument("--exports", nargs="+", choices=("ids", "barcode"), default=["ids"])
    args = parser.parse_args()
    rows = [measure(args.items, rate, export=export) for export in args.exports for rate in args.rates]
    print(pd.DataFrame(rows).T.to_string(header=False))
    print(
        f"items_per_hour_extrapolated: items per second over this {args.items:,}-item run (first request "
        "to last outcome, Alma's latency included) times 3,600; an hour-long run was not made."
    )


if __name__ == "__main__":
    main()
