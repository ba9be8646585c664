"""The fault matrix: every simulator fault × every client interruption, then reruns until the job is done.

Each cell runs the real ``alma-tools discharge`` process against the real simulator process. The first run
meets the fault (429 storms, 500/503, dropped connections, answers that come too late, the simulator killed
and restarted, the daily quota running out) and the interruption (SIGKILL, Ctrl-C, a journal on a full disk,
a results file that cannot be replaced). Then normal conditions are restored and the command is rerun, as a
person would, until it exits 0. What must hold throughout:

* no item is ever scanned twice, and a row marked done was really scanned;
* a row not done says why; the results file always parses with the original data rows intact;
* no run prints a traceback; the canary API key is in no file, no output and no process argument.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness import (
    DATA,
    CliRun,
    Interrupt,
    Results,
    SimulatorProcess,
    SimulatorSpec,
    check_complete,
    check_reasons,
    check_results,
    check_scans,
    discharge_args,
    files_containing,
    full_disk,
    immutable,
    make_items_csv,
    make_items_xlsx,
    product_env,
    read_results,
    run_cli,
)

N_ITEMS = 60
CLIENT_RATE = 20
#: outcomes journaled before the simulator is killed and restarted (fault "restart")
RESTART_AFTER = 8
#: outcomes journaled before the client is interrupted
INTERRUPT_AFTER = 10
MAX_RERUNS = 4
#: how long Ctrl-C may take to end a run: calls in flight finish first, and an answer that never comes
#: takes the client's read timeout (30 s; the discharge command has no option to shorten it)
STOP_GRACE = 45.0
#: the run folder's disk in the "disk_full" cells: room for the answers and journal lines of a few items
FULL_DISK_SIZE = "16k"
#: the client's default quota floor: it stops when X-Exl-Api-Remaining falls below this
QUOTA_FLOOR = 1000


def _always(stats: dict, restarts: int) -> bool:
    return True


@dataclass(frozen=True)
class Fault:
    """One simulator fault, and the evidence that it really happened during a full first run.

    The evidence keeps a cell from passing without meeting its fault (a fault rate that never fired, a quota
    never reached): ``seen(stats, simulator_starts)`` is checked on the simulator's figures after the run.
    """

    sim: dict = field(default_factory=dict)
    restart_mid_run: bool = False
    seen: Callable[[dict, int], bool] = _always


FAULTS: dict[str, Fault] = {
    "no_fault": Fault(),
    # the simulator allows 5 calls/s while the client sends 20/s: nearly every call meets a 429 first
    "429_storm": Fault(sim={"rate_limit": 5}, seen=lambda stats, _: stats["throttled"] > 0),
    "500_503": Fault(
        sim={"fault_rate": 0.15, "faults": "500,503"},
        seen=lambda stats, _: stats["faults"].get("500", 0) + stats["faults"].get("503", 0) > 0,
    ),
    "dropped": Fault(
        sim={"fault_rate": 0.1, "faults": "drop"},
        seen=lambda stats, _: any(k.startswith("drop") for k in stats["faults"]),
    ),
    # the answer comes after the scan was made, later than the client waits: the outcome is unknown
    "late": Fault(
        sim={"fault_rate": 0.1, "faults": "late"}, seen=lambda stats, _: stats["faults"].get("late", 0) > 0
    ),
    "sim_restart": Fault(restart_mid_run=True, seen=lambda _, starts: starts >= 2),
    # the quota runs below the client's floor after about 20 calls
    "quota_zero": Fault(
        sim={"daily_quota": QUOTA_FLOOR + 20}, seen=lambda stats, _: stats["quota_remaining"] < QUOTA_FLOOR
    ),
}
INTERRUPTIONS = ("none", "sigkill", "sigint", "disk_full", "read_only")


def _journal(items: Path) -> Path:
    return items.with_name(f"{items.name}.alma-run") / "journal.jsonl"


def _outcomes(items: Path) -> int:
    """Outcome lines journaled so far: progress, read from disk without asking the simulator."""
    try:
        return _journal(items).read_bytes().count(b'"event": "outcome"')
    except OSError:
        return 0


@contextmanager
def _interruption(kind: str, items: Path) -> Iterator[tuple[Interrupt | None, list[str]]]:
    """Set up the interruption for the first run (a signal, or a wrapper command), undo it afterwards."""
    if kind in ("sigkill", "sigint"):
        sig = signal.SIGKILL if kind == "sigkill" else signal.SIGINT
        yield Interrupt(sig, when=lambda: _outcomes(items) >= INTERRUPT_AFTER), []
    elif kind == "disk_full":
        with full_disk(_journal(items).parent, size=FULL_DISK_SIZE) as wrap:
            yield None, wrap
    elif kind == "read_only":
        with immutable(items):
            yield None, []
    else:
        yield None, []


@dataclass
class Cell:
    """One matrix cell's files, processes and runs."""

    tmp: Path
    fault: Fault
    fmt: str
    runs: list[CliRun] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.work = self.tmp / "work"
        self.sim_dir = self.tmp / "sim"
        make = make_items_xlsx if self.fmt == "xlsx" else make_items_csv
        self.items = make(self.work / f"items.{self.fmt}", N_ITEMS)
        self.original = read_results(self.items)
        spec = SimulatorSpec(
            items=make_items_csv(self.sim_dir / "items.csv", N_ITEMS),
            locations=DATA / "locations.csv",
            state_file=self.sim_dir / "state.json",
            **self.fault.sim,
        )
        self.sim = SimulatorProcess(spec, self.sim_dir)
        self.env = product_env(self.work / "home")

    def run(
        self,
        interrupt: Interrupt | None = None,
        on_poll: Callable[[], None] | None = None,
        wrap: Sequence[str] = (),
    ) -> CliRun:
        args = discharge_args(self.items, DATA / "locations.csv", self.sim.base_url, rate=CLIENT_RATE)
        run = run_cli(
            args,
            env=self.env,
            log_dir=self.work / "logs",
            interrupt=interrupt,
            on_poll=on_poll,
            wrap=wrap,
            grace=STOP_GRACE,
        )
        self.runs.append(run)
        run.check_clean()
        return run

    def check(self, run: CliRun, *, may_be_unwritten: bool = False) -> Results:
        """The invariants that hold after any run, however it ended."""
        results = check_results(self.original, self.items, may_be_unwritten=may_be_unwritten)
        stats = self.sim.stats()
        assert stats is not None, "the simulator is not answering"
        check_scans(results, stats)
        if run.returncode >= 0:  # a run killed by a signal could not explain the rows it never reached
            check_reasons(results)
        if run.returncode == 0:
            check_complete(results, stats)
        return results


def _restart_hook(cell: Cell) -> Callable[[], None]:
    """Kill the simulator with SIGKILL once RESTART_AFTER outcomes are journaled, and start it again."""
    state = {"done": False}

    def poll() -> None:
        if not state["done"] and _outcomes(cell.items) >= RESTART_AFTER:
            state["done"] = True
            cell.sim.restart()

    return poll


def run_matrix_cell(tmp_path: Path, fault_name: str, interruption: str, fmt: str = "csv") -> Cell:
    cell = Cell(tmp_path, FAULTS[fault_name], fmt)
    with cell.sim.start():
        hook = _restart_hook(cell) if cell.fault.restart_mid_run else None
        with _interruption(interruption, cell.items) as (interrupt, wrap):
            first = cell.run(interrupt, on_poll=hook, wrap=wrap)
            stats = cell.sim.stats() or {}
            if interruption in ("none", "read_only"):  # the run went to its end: the fault must have struck
                assert cell.fault.seen(stats, cell.sim.starts), f"{fault_name} never happened: {stats}"
            if interruption in ("sigkill", "sigint") and fault_name != "quota_zero":
                assert first.interrupted, f"the run ended before the {interruption}\n{first.describe()}"
            if interruption == "sigkill" and first.interrupted:
                assert first.returncode == -signal.SIGKILL
            if interruption == "sigint" and first.interrupted:
                # handled: the run ends by itself (0 only if every row got done before it could stop)
                assert first.returncode >= 0, f"Ctrl-C killed the run\n{first.describe()}"
                assert "stopping" in first.stderr.lower(), f"Ctrl-C was not acknowledged\n{first.describe()}"
            if interruption in ("disk_full", "read_only"):
                assert first.returncode != 0, f"a run that could not save claims success\n{first.describe()}"
                assert (first.stdout + first.stderr).strip(), "the run failed without saying why"
            cell.check(first, may_be_unwritten=interruption in ("sigkill", "disk_full", "read_only"))
        cell.sim.restart(cell.sim.spec.normal())  # normal conditions, same state
        for _ in range(MAX_RERUNS):
            rerun = cell.run()
            cell.check(rerun)
            if rerun.returncode == 0:
                break
        assert cell.runs[-1].returncode == 0, f"no rerun completed the job\n{cell.runs[-1].describe()}"
        check_complete(cell.check(cell.runs[-1]), cell.sim.stats() or {})
    leaks = files_containing(cell.work)
    assert not leaks, f"the API key is written in: {leaks}"
    return cell


_SLOW_FAULTS = {"429_storm", "late"}


@pytest.mark.parametrize("interruption", INTERRUPTIONS)
@pytest.mark.parametrize(
    "fault_name",
    [pytest.param(name, marks=pytest.mark.slow) if name in _SLOW_FAULTS else name for name in FAULTS],
)
def test_fault_matrix(tmp_path: Path, fault_name: str, interruption: str) -> None:
    """Every fault × every interruption: nothing scanned twice, nothing corrupted, a rerun finishes."""
    run_matrix_cell(tmp_path, fault_name, interruption)


@pytest.mark.parametrize(
    ("fault_name", "interruption"), [("sim_restart", "sigkill"), ("dropped", "read_only")]
)
def test_fault_matrix_xlsx(tmp_path: Path, fault_name: str, interruption: str) -> None:
    """The same promises when the items file is an XLSX (rewritten through openpyxl, not as text)."""
    run_matrix_cell(tmp_path, fault_name, interruption, fmt="xlsx")


def test_canary_is_really_searched_for(tmp_path: Path) -> None:
    """The key search finds the key in plain, UTF-16 and zipped (XLSX) files, and not elsewhere."""
    from harness import CANARY_KEY

    (tmp_path / "plain.log").write_text(f"calling with apikey={CANARY_KEY}\n")
    (tmp_path / "wide.txt").write_bytes(CANARY_KEY.encode("utf-16-le"))
    make_items_xlsx(tmp_path / "clean.xlsx", 3)
    import openpyxl

    book = openpyxl.Workbook()
    book.active["A1"] = CANARY_KEY
    book.save(tmp_path / "book.xlsx")
    os.symlink("/dev/full", tmp_path / "full")
    found = files_containing(tmp_path)
    assert [name.split("!")[0] for name in found] == ["book.xlsx", "plain.log", "wide.txt"], found
