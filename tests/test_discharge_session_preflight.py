"""Before the first scan, one call proves the key may write; losing Alma mid-run stops the run cleanly.

The command line runs as a user runs it (a real process, the key in the environment); the lost-contact case
runs the session in this process so the simulator can be stopped part-way through, over real sockets.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import pandas as pd
import pytest

from alma_tools.alma import AlmaClient
from alma_tools.discharge import DischargeOptions
from alma_tools.discharge.results import ResultsFile, ResultsWriter
from alma_tools.discharge.session import DischargeSession
from alma_tools.simulator import Simulator
from harness import write_items_csv as write_items
from samples import make_items
from test_discharge_cli import CANARY, DATA, run


def argv(
    items: Path, sim: Simulator | None, *extra: str, locations: Path = DATA / "locations.csv"
) -> list[str]:
    """``alma-tools discharge`` arguments at ``--rate 25``; without a simulator the test names the address."""
    where = ["--base-url", sim.base_url] if sim else []
    return ["discharge", str(items), "--locations", str(locations), *where, "--rate", "25", *extra]


def assert_said_once(text: str, *phrases: str) -> None:
    for phrase in phrases:
        assert text.count(phrase) == 1, (phrase, text)


def test_a_refused_key_costs_one_request_and_leaves_the_file_byte_for_byte(simulator, tmp_path: Path) -> None:
    frame = make_items(30, seed=41)
    sim = simulator(items=frame, api_keys=(CANARY,))
    items = write_items(tmp_path, frame)
    before = items.read_bytes()
    done = run(argv(items, sim), tmp_path / "home", key="not-the-key-of-this-institution")
    assert done.returncode == 2, done.stdout + done.stderr
    assert sim.stats()["requests"] == 1
    assert items.read_bytes() == before
    assert "Alma refused the API key" in done.stderr
    assert_said_once(done.stderr, "ALMA_API_KEY environment variable", "No item was scanned", "run again")
    assert done.stdout == ""  # one message, on stderr, no summary of rows that were never tried


def test_a_key_that_may_only_read_is_refused_before_the_first_row(simulator, tmp_path: Path) -> None:
    read_only = "read-only-canary-key-1234"
    frame = make_items(10, seed=42)
    sim = simulator(items=frame, api_keys=(CANARY,), read_only_keys=(read_only,))
    items = write_items(tmp_path, frame)
    before = items.read_bytes()
    done = run(argv(items, sim), tmp_path / "home", key=read_only)
    assert done.returncode == 2 and sim.stats()["requests"] == 1 and items.read_bytes() == before
    assert "Bibs read/write" in done.stderr and sim.stats()["open_loans"] == 10


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the probe is closed


@contextmanager
def _silent_port() -> Iterator[int]:
    """A port whose listening queue is full and never served: a connection to it times out."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        try:
            yield port
        finally:
            for filler in fillers:
                filler.close()


@pytest.mark.parametrize(
    ("case", "host"),
    [
        ("connection refused", "127.0.0.1"),
        ("no such host", "alma.invalid"),
        ("not TLS", "127.0.0.1"),
        ("connect timeout", "127.0.0.1"),
    ],
)
def test_an_unreachable_alma_stops_within_seconds_naming_the_host_and_the_setting(
    simulator, tmp_path: Path, case: str, host: str
) -> None:
    frame = make_items(20, seed=43)
    items = write_items(tmp_path, frame)
    before = items.read_bytes()
    with ExitStack() as stack:
        if case == "connection refused":
            url = f"http://127.0.0.1:{_closed_port()}"
        elif case == "no such host":
            url = "https://alma.invalid"
        elif case == "not TLS":  # a plain-HTTP server where TLS is expected
            url = simulator(items=frame, api_keys=(CANARY,)).base_url.replace("http://", "https://")
        else:
            url = f"http://127.0.0.1:{stack.enter_context(_silent_port())}"
        command = [*argv(items, None), "--base-url", url]
        started = time.monotonic()
        done = run(command, tmp_path / "home")
        elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stdout + done.stderr
    assert elapsed < 15, (
        f"{elapsed:.1f} s"
    )  # the preflight's short connect timeout, interpreter start included
    assert items.read_bytes() == before
    assert host in done.stderr and "--base-url" in done.stderr
    assert_said_once(done.stderr, "nothing was sent", "the file is unchanged")
    assert done.stdout == ""


def test_the_dry_run_says_whether_a_key_is_set_and_calls_nothing(simulator, tmp_path: Path) -> None:
    sim = simulator(api_keys=(CANARY,))
    items = write_items(tmp_path, make_items(5, seed=44))
    with_key = run(argv(items, sim, "--dry-run"), tmp_path / "home")
    without = run(argv(items, sim, "--dry-run"), tmp_path / "home", key=None)
    assert "The Alma API key is taken from the ALMA_API_KEY environment variable." in with_key.stdout
    assert "No Alma API key is set." in without.stdout and without.returncode == 0
    assert sim.stats()["requests"] == 0


def test_contact_lost_mid_run_stops_after_three_failures_and_rows_not_reached_keep_their_status(
    simulator, tmp_path: Path
) -> None:
    frame = make_items(120, seed=45)
    sim = simulator(items=frame, api_keys=(CANARY,))
    earlier = frame.assign(done="", status="Stopped before this row")  # what an earlier stopped run left
    items = tmp_path / "items.csv"
    earlier.to_csv(items, index=False, encoding="utf-8-sig")
    options = DischargeOptions(rate=20)
    session = DischargeSession.from_files(items, DATA / "locations.csv", options)
    lost = threading.Event()

    def progress(finished: int, total: int) -> None:
        if finished == 20 and not lost.is_set():
            lost.set()
            sim.stop()  # Alma goes away: every later connection is refused

    report = session.run(
        lambda: ResultsWriter(ResultsFile(items, session.items)),
        lambda on_response: AlmaClient(
            base_url=sim.base_url, api_key=CANARY, rate=options.rate, on_response=on_response
        ),
        progress=progress,
    )
    assert report.exit_code == 1 and not report.finished
    assert report.halt is not None and report.halt.startswith("Lost contact with Alma at row ")
    assert report.halt.endswith("; nothing after it was sent; run again to finish")
    summary = "\n".join(report.lines())
    assert_said_once(summary, "Lost contact with Alma", "nothing")
    result = pd.read_csv(items, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    scanned = set(sim.stats()["scans"])
    done = result["done"] == "TRUE"
    assert set(result.loc[done, "Item Id"]) <= scanned  # done only where Alma really scanned
    untouched = ~result["Item Id"].isin(scanned) & ~result["status"].str.startswith("Alma did not answer")
    assert untouched.sum() > 50  # most rows were never reached
    assert (result.loc[untouched, "status"] == "Stopped before this row").all()  # their old status kept
    assert (result.loc[untouched, "done"] == "").all()
