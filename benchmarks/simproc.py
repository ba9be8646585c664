"""The simulator as its own process, for the benchmarks that measure pacing.

Alma runs on its own machine. A simulator inside the measuring process would share the interpreter lock with
whatever else runs there, and stamp arrivals late by however long its threads wait for that lock (measured:
up to 50 ms on this 2-core machine under load): late stamps crowd into the next second and count as a burst
the client never sent. So the rate benchmarks start ``alma-tools simulator`` as a process of its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

ADDIN = Path(__file__).resolve().parents[1] / "addin"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def simulator_process(
    key: str,
    latency: tuple[float, float],
    *,
    items: Path | None = None,
    locations: Path | None = None,
    seed: int = 7,
    extra: tuple[str, ...] = (),
) -> Iterator[str]:
    """``alma-tools simulator`` on a free loopback port, limit 25 over a sliding second; yields its base URL.

    *key* is a simulator key made up for the benchmark (a real key is never a process argument); *extra*
    are further options (``--report PATH=FILE``).
    """
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "alma_tools",
        "simulator",
        "--port",
        str(port),
        "--api-key",
        key,
        "--rate-limit",
        "25",
        "--latency",
        f"{latency[0]}-{latency[1]}",
        "--seed",
        str(seed),
    ]
    if items is not None:
        command += ["--items", str(items)]
    if locations is not None:
        command += ["--locations", str(locations)]
    command += extra
    env = {**os.environ, "PYTHONPATH": str(ADDIN)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{base}/_simulator/stats", timeout=1).raise_for_status()
                break
            except requests.RequestException:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the simulator did not start within 30 s") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def stats(base: str) -> dict[str, Any]:
    """The simulator's ``/_simulator/stats``."""
    return requests.get(f"{base}/_simulator/stats", timeout=30).json()
