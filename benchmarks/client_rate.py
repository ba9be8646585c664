"""The Alma client's pacing at Alma's real latency: rate achieved, limit never exceeded, no 429s.

Why these figures: the institution's 25 calls/s is shared by every system, so the client must never go above
the configured rate in any (sliding) second, and should still achieve close to it while 0.3-0.8 s answers
keep 10-20 requests in flight. One run per rate scans the simulator's sample items in (cycling through them:
a second scan of a returned item with ``register_in_house_use=false`` changes nothing), from enough worker
threads (latency x rate x 1.5), against a simulator that enforces 25 over a sliding second, running as its
own process (see ``simproc``).

Figures per rate:

- ``achieved_rate``: requests per second from the first request's start to the last one's (starts are what
  the pacer spaces; the last answer's latency is not part of the rate), and ``ratio`` to the configured rate;
- ``steady_ratio``: the same after the start-up ramp (the first requests, which open the connections, are
  spaced twice as wide on purpose: see ``alma_tools.alma.pacing``);
- ``max_in_any_second``: most requests the simulator saw arrive in any sliding second (must be <= rate);
- ``client_max_in_any_second``: the same counted on the client's start times;
- ``http_429``: PER_SECOND_THRESHOLD answers received (target 0); ``in_house_uses`` (must be 0).

The reference is the design card's ``ratelimit`` package in the role the foundation issue describes for it:
one permit per slot (``sleep_and_retry(limits(calls=1, period=1/rate))``) in place of the client's
:class:`~alma_tools.alma.pacing.Pacer`, same client, same threads, same simulator. ``--pacer ratelimit``
measures it alone; ``run_all.py`` prints ours / reference from one run. ``--load N`` keeps N other
processes spinning on the CPU during the run, as on a staff PC where Excel and a browser compete with the
discharge: a thread that wakes late for its permit is what separates the two pacers.
(``limits(calls=25, period=1)``, the other way to use it, is not measured: a fixed window lets 25 go at the
end of one window and 25 at the start of the next: 42-50 in one sliding second, measured.)

    python benchmarks/client_rate.py                   # 1,000 requests at 20 and at 25 calls/s
    python benchmarks/client_rate.py --requests 1000 --rates 25 --pacer ratelimit
    python benchmarks/client_rate.py --requests 1000 --rates 25 --load 2

``measure(rate, n, workers, pacer=...)`` returns one row as a dict, for a combined benchmark table.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addin"))  # a checkout works uninstalled

import pandas as pd
from ratelimit import limits, sleep_and_retry
from simproc import simulator_process
from simproc import stats as simulator_stats

from alma_tools import tables
from alma_tools.alma import AlmaClient, ResponseRecord
from alma_tools.alma.pacing import RAMP_SLOTS
from alma_tools.simulator.window import max_in_any_second

KEY = "benchmark-key-0000"  # a simulator key, not a real one: it may be a process argument
LATENCY = (0.3, 0.8)
SAMPLE = Path(__file__).resolve().parents[1] / "addin" / "alma_tools" / "data" / "items_to_discharge.csv"


class RatelimitPacer:
    """The reference pacer: ``ratelimit`` as one permit per slot, with the interface the client calls.

    ``ratelimit`` has no shared pause, so after a 429 only the thread that met it waits, as it would in a
    client built on that package.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.wait = sleep_and_retry(limits(calls=1, period=1 / rate)(lambda: None))

    def pause(self, seconds: float, jitter: float = 0.2) -> float:
        time.sleep(seconds)
        return seconds


def default_workers(rate: float, latency: tuple[float, float] = LATENCY) -> int:
    """Threads enough to keep the rate with answers this slow: mean latency x rate x 1.5."""
    return max(1, math.ceil((latency[0] + latency[1]) / 2 * rate * 1.5))


def sample_items() -> list[tuple[str, str, str, str]]:
    """(MMS id, holding id, item id, library) of every usable row of the packaged sample export."""
    frame = tables.find_table(tables.read_grid(SAMPLE), tables.ITEM_COLUMNS).frame
    usable = frame[frame["item_id"].astype(str).str.fullmatch(r"[0-9]+")].drop_duplicates("item_id")
    columns = ["mms_id", "holding_id", "item_id", "library_code"]
    return list(usable[columns].astype(str).itertuples(index=False))


def measure(
    rate: float,
    n: int = 500,
    workers: int | None = None,
    latency: tuple[float, float] = LATENCY,
    pacer: str = "ours",
    load: int = 0,
) -> dict[str, Any]:
    """Scan *n* items in at *rate* from *workers* threads against a fresh simulator; the figures as a dict.

    *pacer* is ``"ours"`` (the client as shipped) or ``"ratelimit"`` (the reference, see the module text);
    *load* other processes keep the CPU busy meanwhile.
    """
    workers = workers or default_workers(rate, latency)
    items = sample_items()
    starts: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def note(record: ResponseRecord) -> None:
        with lock:
            starts.append(time.monotonic() - record.elapsed)
            statuses.append(record.status)

    spinners: list[subprocess.Popen[bytes]] = []
    with simulator_process(KEY, latency) as base:
        spinners += [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
        try:
            client = AlmaClient(base_url=base, api_key=KEY, rate=rate, workers=workers, on_response=note)
            if pacer == "ratelimit":
                client._pacer = RatelimitPacer(rate)  # type: ignore[assignment]  # the reference, same client
            with client:

                def scan(number: int) -> None:
                    mms_id, holding_id, item_id, library = items[number % len(items)]
                    client.scan_in(
                        mms_id, holding_id, item_id, library=library, circ_desk="DEFAULT_CIRC_DESK"
                    )

                began = time.monotonic()
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(scan, range(n)))
                wall = time.monotonic() - began
        finally:
            for spinner in spinners:
                spinner.kill()
                spinner.wait()
        stats = simulator_stats(base)
    starts.sort()
    steady = starts[RAMP_SLOTS:] if len(starts) > RAMP_SLOTS + 1 else starts
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    steady_rate = (len(steady) - 1) / (steady[-1] - steady[0])
    return {
        "pacer": pacer,
        "cpu_load": load,
        "rate": rate,
        "workers": workers,
        "requests": n,
        "answers": len(statuses),
        "wall_s": round(wall, 2),
        "achieved_rate": round(achieved, 2),
        "ratio": round(achieved / rate, 3),
        "steady_ratio": round(steady_rate / rate, 3),
        "max_in_any_second": stats["max_requests_in_any_second"],
        "client_max_in_any_second": max_in_any_second(starts),
        "http_429": statuses.count(429),
        "in_house_uses": stats["in_house_uses"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rates", type=float, nargs="+", default=[20.0, 25.0])
    parser.add_argument("--workers", type=int, default=None, help="default: mean latency x rate x 1.5")
    parser.add_argument("--pacer", choices=["ours", "ratelimit", "both"], default="both")
    parser.add_argument("--load", type=int, default=0, help="processes spinning on the CPU during the run")
    args = parser.parse_args()
    pacers = ["ours", "ratelimit"] if args.pacer == "both" else [args.pacer]
    rows = [
        measure(rate, args.requests, args.workers, pacer=p, load=args.load)
        for rate in args.rates
        for p in pacers
    ]
    print(pd.DataFrame(rows).T.to_string(header=False))


if __name__ == "__main__":
    main()
