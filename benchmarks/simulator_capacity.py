"""How many requests per second the Alma simulator holds, with Alma's latency injected.

The discharge benchmarks and the demo drive the simulator at up to 25 calls/s with 0.3-0.8 s answers; the
simulator has to sustain far more than that (target: 200 requests/s with latency) so that what is measured
is the client, never the simulator. Latency is a sleep, so capacity comes from concurrency: this hammers the
simulator from many threads, each on its own keep-alive connection, with a mix of scan-ins, item reads and
loan reads, and prints the achieved rate, answer times and the simulator's own count of the busiest second.

    python benchmarks/simulator_capacity.py                  # 0.3-0.8 s latency, 192 threads, 10 s
    python benchmarks/simulator_capacity.py --latency 0 --threads 32
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import threading
import time
from collections import Counter
from pathlib import Path

from alma_tools.cli.simulator import parse_latency
from alma_tools.simulator import Simulator, SimulatorConfig

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
KEY = "bench-key"
TARGET = 200.0


def hammer(sim: Simulator, threads: int, seconds: float) -> tuple[int, Counter[int], list[float], float]:
    """Send from ``threads`` connections for ``seconds``; (count, statuses, answer times, elapsed)."""
    items = list(sim.items.values())
    statuses: Counter[int] = Counter()
    times: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"apikey {KEY}", "Accept": "application/json"}

    def worker(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=30)
        mine: list[tuple[int, float]] = []
        step = number
        while time.monotonic() < deadline:
            item = items[step % len(items)]
            path = f"/almaws/v1/bibs/{item.mms_id}/holdings/{item.holding_id}/items/{item.item_id}"
            method = "GET"
            if step % 3 == 0:
                method = "POST"
                path += (
                    f"?op=scan&library={item.library}&circ_desk=DEFAULT_CIRC_DESK&register_in_house_use=false"
                )
            elif step % 3 == 1:
                path += "/loans"
            started = time.monotonic()
            connection.request(method, path, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append((response.status, time.monotonic() - started))
            step += threads
        connection.close()
        with lock:
            statuses.update(status for status, _ in mine)
            times.extend(elapsed for _, elapsed in mine)

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return len(times), statuses, times, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=192)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--latency", default="0.3-0.8", help="MIN-MAX seconds (default 0.3-0.8)")
    args = parser.parse_args()
    latency = parse_latency(args.latency)
    config = SimulatorConfig(
        items=DATA / "items_to_discharge.csv",
        locations=DATA / "locations.csv",
        api_keys=(KEY,),
        rate_limit=None,
        latency=latency,
    )
    with Simulator(config) as sim:
        count, statuses, times, elapsed = hammer(sim, args.threads, args.seconds)
        stats = sim.stats()
    rate = count / elapsed
    quantiles = statistics.quantiles(times, n=20)
    print(
        f"simulator capacity: latency {latency[0]}-{latency[1]} s, {args.threads} keep-alive connections, "
        f"{elapsed:.1f} s"
    )
    print(f"  requests answered : {count} ({dict(sorted(statuses.items()))})")
    print(
        f"  achieved rate     : {rate:.1f} requests/s (target {TARGET:.0f}: "
        f"{'met' if rate >= TARGET else 'NOT met'})"
    )
    print(
        f"  answer time       : median {statistics.median(times):.3f} s, p95 {quantiles[18]:.3f} s, "
        f"max {max(times):.3f} s"
    )
    print(f"  busiest second    : {stats['max_requests_in_any_second']} requests (simulator's sliding count)")
    return 0 if rate >= TARGET or latency[1] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
