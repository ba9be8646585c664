"""``alma-tools simulator``: run the Alma simulator on loopback until Ctrl-C.

For trying the product without a real Alma (none is reachable from a test machine) and for manual checks.
Keys given here are simulator keys, never real ones, so they may be printed and passed as arguments; they can
also come from ``ALMA_SIMULATOR_KEYS`` (comma-separated; ``KEY:read-only`` marks a read-only key).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
from types import FrameType

from alma_tools.errors import InputError
from alma_tools.simulator import FAULT_KINDS, HOSTILE_MODES, Simulator, SimulatorConfig

KEYS_ENV = "ALMA_SIMULATOR_KEYS"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulator",
        help="Run the Alma simulator on loopback",
        description="Serve a simulated Alma (scan-in, items, loans) on this computer until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    parser.add_argument("--items", help="items export (CSV/XLSX); default: the built-in sample")
    parser.add_argument("--locations", help="locations table (CSV/XLSX) naming each library's desks")
    parser.add_argument("--api-key", action="append", default=[], help="read/write key (repeatable)")
    parser.add_argument("--read-only-key", action="append", default=[], help="read-only key (repeatable)")
    parser.add_argument("--rate-limit", type=int, default=25, help="requests per sliding second (default 25)")
    parser.add_argument(
        "--daily-quota", type=int, default=None, help="requests allowed per day (default: none)"
    )
    parser.add_argument("--latency", default="0.3-0.8", help="seconds per answer, MIN-MAX (default 0.3-0.8)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of requests that fail (0-1)")
    parser.add_argument("--faults", default=",".join(FAULT_KINDS), help="fault kinds, comma-separated")
    parser.add_argument("--seed", type=int, default=0, help="seed for faults, latency and requests")
    parser.add_argument("--state-file", help="log of applied scans, replayed on the next start")
    parser.add_argument("--hostile", choices=HOSTILE_MODES, help="answer every request in a hostile way")
    parser.add_argument(
        "--report",
        action="append",
        default=[],
        metavar="PATH=FILE",
        help="serve a CSV/XLSX file as the Analytics report at PATH (repeatable); the packaged samples are "
        "served under /shared/Sample University/Reports/",
    )
    parser.add_argument(
        "--analytics-delay",
        type=float,
        default=0.0,
        help="seconds each Analytics report is 'still running' before its first rows (default 0)",
    )
    parser.set_defaults(handler=run)


def parse_latency(text: str) -> tuple[float, float]:
    """``"0.3-0.8"`` → (0.3, 0.8); a single number is a fixed latency."""
    low, _, high = text.strip().partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise InputError(
            f"--latency {text!r} is not a range of seconds: write MIN-MAX, for example 0.3-0.8, or 0."
        ) from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise InputError(f"--latency {text!r}: the first number must not be larger than the second.")
    return bounds


def keys_from(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Read/write and read-only keys from the options, then the environment; a random key if none."""
    read_write, read_only = list(args.api_key), list(args.read_only_key)
    for entry in os.environ.get(KEYS_ENV, "").split(","):
        key, _, kind = entry.strip().partition(":")
        if key:
            (read_only if kind.strip().lower() in ("read-only", "ro") else read_write).append(key)
    if not read_write:
        read_write.append("sim-" + secrets.token_hex(12))
    return read_write, read_only


def parse_reports(entries: list[str]) -> dict[str, str]:
    """``["/shared/X/Reports/Items=items.csv", …]`` → {path: file}, split at the last ``=``."""
    reports: dict[str, str] = {}
    for entry in entries:
        path, equals, file = entry.rpartition("=")
        if not equals or not path.strip() or not file.strip():
            raise InputError(
                f"--report {entry!r} is not PATH=FILE: write, for example, "
                '--report "/shared/My University/Reports/Items to discharge=items.csv".'
            )
        reports[path.strip()] = file.strip()
    return reports


def run(args: argparse.Namespace) -> int:
    """Start the simulator, print where it is and its keys, serve until SIGINT or SIGTERM; exit 0."""
    read_write, read_only = keys_from(args)
    faults = tuple(kind.strip() for kind in args.faults.split(",") if kind.strip())
    config = SimulatorConfig(
        items=args.items,
        locations=args.locations,
        api_keys=tuple(read_write),
        read_only_keys=tuple(read_only),
        rate_limit=args.rate_limit,
        daily_quota=args.daily_quota,
        latency=parse_latency(args.latency),
        fault_rate=args.fault_rate,
        faults=faults,
        seed=args.seed,
        state_file=args.state_file,
        hostile=args.hostile,
        reports=parse_reports(args.report),
        analytics_delay=args.analytics_delay,
        host=args.host,
        port=args.port,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Simulator(config) as sim:
            keys = [f"{key} (read/write)" for key in read_write] + [f"{key} (read-only)" for key in read_only]
            print(f"Alma simulator at {sim.base_url} — keys: {', '.join(keys)}", flush=True)
            print(f"Analytics reports: {'; '.join(sim.analytics.paths)}", flush=True)
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Alma simulator stopped.", file=sys.stderr, flush=True)
    return 0
