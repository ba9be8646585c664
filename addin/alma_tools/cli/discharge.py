"""``alma-tools discharge``: scan in (discharge) every item of an items export.

The command is a thin face: the tables module reads the files, :func:`~alma_tools.discharge.make_plan`
decides each row, :func:`~alma_tools.discharge.run_plan` calls Alma, and :mod:`alma_tools.discharge.results`
writes ``done``/``status`` back into the input. :func:`discharge_file` is the whole run without argument
parsing, so ``alma-tools demo`` goes through exactly the same code.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table as RichTable

from alma_tools.discharge import DischargeOptions, Journal, Outcome, Plan, make_plan, run_plan
from alma_tools.discharge.results import ResultsFile, ResultsWriter
from alma_tools.tables import ITEM_COLUMNS, LOCATION_COLUMNS, Table, find_table, read_grid

#: how many rows that need a person are listed at the end (all of them are in the file's status column)
PEOPLE_SHOWN = 20

#: the order kinds are listed in the summary
KIND_WORDS = {
    "returned": "returned, reshelve",
    "transit": "returned, in transit (set aside)",
    "hold_shelf": "returned, on hold shelf (set aside)",
    "skipped_done": "done in an earlier run",
    "not_on_loan": "not on loan (nothing changed)",
    "duplicate": "same item as another row",
    "refused": "refused: damaged or missing ids",
    "no_desk": "no desk for the location",
    "alma_error": "Alma error",
    "unknown": "no answer from Alma (checked next run)",
    "stopped": "stopped before sending",
}


@dataclass
class RunReport:
    """What one discharge run did: counts per kind, the rows a person must handle, and file problems."""

    counts: Counter[str] = field(default_factory=Counter)
    needs_person: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)
    results_error: str | None = None
    elapsed: float = 0.0
    results_path: Path | None = None

    @property
    def exit_code(self) -> int:
        """0: every row done or deliberately skipped; 1: a row failed or the file could not be written."""
        return 1 if self.failed or self.results_error else 0

    def record(self, outcome: Outcome) -> None:
        self.counts[outcome.kind] += 1
        if outcome.needs_person:
            self.needs_person.append(outcome)
        if outcome.failed:
            self.failed.append(outcome)


def read_tables(items_path: Path, locations_path: Path) -> tuple[Table, Table]:
    """Read the items export and the locations table (InputError with the fix when either is unusable)."""
    items = find_table(read_grid(items_path), ITEM_COLUMNS)
    locations = find_table(read_grid(locations_path), LOCATION_COLUMNS)
    return items, locations


def plan_file(items_path: Path, locations_path: Path, options: DischargeOptions) -> tuple[Table, Plan]:
    items, locations = read_tables(items_path, locations_path)
    return items, make_plan(items, locations, options)


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr (count, rate, time left) when it is a terminal; nothing otherwise."""
    if not enabled:
        yield lambda: None
        return
    columns = (
        TextColumn("Discharging"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("discharge", total=total, rate="")
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.update(task, advance=1, rate=f"{rate:4.1f}/s")

        yield advance


@contextmanager
def _stop_on_interrupt(stop: threading.Event) -> Iterator[None]:
    """Ctrl+C ends the run cleanly (calls in flight finish, the rest are marked); a second Ctrl+C aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nalma-tools: stopping after the calls in flight (Ctrl+C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def discharge_file(
    items_path: Path,
    locations_path: Path,
    options: DischargeOptions,
    make_client: Callable[[Callable[[Any], None]], Any],
    *,
    stop: threading.Event | None = None,
    progress: bool = False,
) -> RunReport:
    """Discharge every row of ``items_path``, writing ``done``/``status`` into it; the CLI's and demo's run.

    ``make_client(on_response)`` builds the Alma client with the journal's hook for saving answers.
    """
    stop = stop or threading.Event()
    items, plan = plan_file(items_path, locations_path, options)
    report = RunReport(results_path=items_path)
    started = time.monotonic()
    with Journal.for_input(items_path) as journal:
        client = make_client(journal.save_answer)
        writer = ResultsWriter(ResultsFile(items_path, items.header_row))
        try:
            with _progress(len(plan.rows), progress) as advance, _stop_on_interrupt(stop):
                for outcome in run_plan(plan, client, journal, options, stop):
                    writer.record(outcome)
                    report.record(outcome)
                    advance()
        finally:
            report.results_error = writer.close()
            client.close()
    report.elapsed = time.monotonic() - started
    return report


def print_report(report: RunReport, out: TextIO | None = None) -> None:
    """The summary table (count per kind) and the rows that need a person."""
    console = Console(file=out or sys.stdout, highlight=False, soft_wrap=True)  # paths unbroken
    table = RichTable(title=f"Discharge of {report.results_path.name if report.results_path else 'the file'}")
    table.add_column("Rows", justify="right")
    table.add_column("Outcome")
    for kind, words in KIND_WORDS.items():
        if report.counts[kind]:
            table.add_row(f"{report.counts[kind]:,}", words)
    console.print(table)
    console.print(f"{sum(report.counts.values()):,} rows in {report.elapsed:.0f} s.")
    report.needs_person.sort(key=lambda o: o.row)
    report.failed.sort(key=lambda o: o.row)
    if report.needs_person:
        console.print(
            f"{len(report.needs_person):,} rows need a person (filter the status column on 'set aside'):"
        )
        for outcome in report.needs_person[:PEOPLE_SHOWN]:
            console.print(f"  row {outcome.row}: {outcome.status}", markup=False)
        if len(report.needs_person) > PEOPLE_SHOWN:
            console.print(f"  … and {len(report.needs_person) - PEOPLE_SHOWN:,} more")
    if report.failed:
        console.print(f"{len(report.failed):,} rows not done: their status column says why; the first ones:")
        for outcome in report.failed[:5]:
            console.print(f"  row {outcome.row}: {outcome.status}", markup=False)
    if report.results_error:
        console.print(report.results_error, markup=False)
    elif report.results_path:
        console.print(f"Results (done, status) are in {report.results_path}", markup=False)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "discharge",
        help="Scan in (discharge) every item of an items export",
        description=(
            "Scan in every item of an Alma Analytics items export at the circulation desk of its location, "
            "and write done and status into the file. The API key comes from ALMA_API_KEY, the keyring or "
            "the config file, never from the command line."
        ),
    )
    parser.add_argument("items", type=Path, metavar="ITEMS", help="items export (CSV or XLSX)")
    parser.add_argument(
        "--locations",
        type=Path,
        required=True,
        help="locations table: Location Code, Library Code, Circulation Desk",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="check everything and print the plan; call nothing"
    )
    parser.add_argument(
        "--rate", type=float, default=20.0, help="calls per second (default 20; Alma allows 25)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--region", help="Alma region: na, eu, ap, ca, cn")
    where.add_argument("--base-url", help="Alma API base URL (e.g. the simulator's)")
    parser.add_argument(
        "--location-type",
        choices=("auto", "temp", "perm"),
        default="auto",
        help="which location picks the desk: auto (temporary when there is one), temp or perm",
    )
    parser.add_argument(
        "--register-in-house-use", action="store_true", help="let Alma count an in-house use (off by default)"
    )
    parser.add_argument("--auto-print-slip", action="store_true", help="ask Alma to print request slips")
    parser.add_argument(
        "--place-on-hold-shelf", action="store_true", help="put requested items on the hold shelf"
    )
    parser.set_defaults(handler=run)


def options_from(args: argparse.Namespace) -> DischargeOptions:
    return DischargeOptions(
        location_type=args.location_type,
        rate=args.rate,
        register_in_house_use=args.register_in_house_use,
        auto_print_slip=True if args.auto_print_slip else None,
        place_on_hold_shelf=True if args.place_on_hold_shelf else None,
    )


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    if args.dry_run:
        _, plan = plan_file(args.items, args.locations, options)
        print(plan.summary())
        print("Dry run: nothing was sent to Alma.")
        return 1 if plan.problems else 0

    from alma_tools.alma import AlmaClient

    def make_client(on_response: Callable[[Any], None]) -> Any:
        return AlmaClient(
            base_url=args.base_url,
            region=args.region,
            rate=options.rate,
            workers=options.worker_count(),
            on_response=on_response,
        )

    report = discharge_file(args.items, args.locations, options, make_client, progress=sys.stderr.isatty())
    print_report(report)
    return report.exit_code
