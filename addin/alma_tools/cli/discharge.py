"""``alma-tools discharge``: scan in (discharge) every item of an items export.

A thin face on :class:`~alma_tools.discharge.session.DischargeSession`, which does the whole run (plan,
journal, preflight, scans, summary): this module parses the arguments, builds the client from them, writes
results into the file (:mod:`alma_tools.discharge.results`), shows a progress bar and prints the report.
:func:`discharge_file` is that run without argument parsing (the demo uses it too).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from alma_tools.alma.pacing import DEFAULT_RATE, MAX_RATE
from alma_tools.cli.report import add_report_arguments, resolve_input
from alma_tools.discharge import DischargeOptions
from alma_tools.discharge.plan import LOCATION_TYPES
from alma_tools.discharge.results import ResultsFile, ResultsWriter
from alma_tools.discharge.session import (
    ClientFactory,
    DischargeSession,
    RunReport,
    describe_address,
)
from alma_tools.errors import ConfigError


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr (count, rate, time left) when it is a terminal; nothing otherwise."""
    if not enabled:
        yield None
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
        task = bar.add_task("discharge", total=None, rate="")

        def advance(done: int, total: int) -> None:
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=done, total=total, rate=f"{rate:4.1f}/s")

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
    make_client: ClientFactory,
    *,
    stop: threading.Event | None = None,
    progress: bool = False,
    key_source: str | None = None,
    address: str = "",
) -> RunReport:
    """Discharge every row of ``items_path``, writing ``done``/``status`` into it; the CLI's and demo's run.

    ``make_client(on_response)`` builds the Alma client with the journal's hook for saving answers.
    """
    stop = stop or threading.Event()
    session = DischargeSession.from_files(items_path, locations_path, options)
    with _progress(progress) as advance, _stop_on_interrupt(stop):
        report = session.run(
            lambda: ResultsWriter(ResultsFile(items_path, session.items)),
            make_client,
            stop=stop,
            progress=advance,
            key_source=key_source,
            address=address,
        )
    if report.results_message is None:
        report.results_where = f"Results (done, status) are in {items_path}"
    return report


def print_report(report: RunReport, out: TextIO | None = None) -> None:
    """The summary: count per kind, the rows that need a person, where the results are."""
    stream = out or sys.stdout
    for line in report.lines():
        print(line, file=stream)


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
    parser.add_argument(
        "items", type=Path, nargs="?", metavar="ITEMS", help="items export (CSV or XLSX), or --report PATH"
    )
    add_report_arguments(parser, "items")
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
        "--sheet",
        metavar="NAME",
        help="the workbook's sheet to discharge (default: the active sheet when visible, else the first "
        "visible one; a hidden sheet only when named here)",
    )
    parser.add_argument(
        "--include-hidden",
        action="store_true",
        help="also send rows hidden by a filter or by hand (left alone by default)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help=f"calls per second (default {DEFAULT_RATE:g}; Alma allows {MAX_RATE:g})",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--region", help="Alma region: na, eu, ap, ca, cn")
    where.add_argument("--base-url", help="Alma API base URL (e.g. the simulator's)")
    parser.add_argument(
        "--location-type",
        choices=LOCATION_TYPES,
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
        sheet=args.sheet,
        include_hidden=args.include_hidden,
    )


def dry_run_address(base_url: str | None, region: str | None) -> str:
    """Where a real run would send its calls, in a line, checked as the run checks it (no call).

    A wrong address given (plain http to another host, an unknown region) is a ConfigError, as for the run
    and as a wrong rate is; no address set at all is said in the line, as a missing key is.
    """
    from alma_tools.alma.regions import BASE_URL_ENV, resolve_base_url

    try:
        address = resolve_base_url(base_url, region)
    except ConfigError as error:
        if base_url or region or os.environ.get(BASE_URL_ENV, "").strip():
            raise
        return f"A real run would be refused: {error}"
    host = urlsplit(address).hostname
    return f"A real run would call Alma at {host}; {describe_address(base_url, region)}."


def run(args: argparse.Namespace) -> int:
    options = options_from(args)
    resolve_input(args, "items", "items")  # --report PATH: fetched into a new file, discharged as usual
    if args.dry_run:
        session = DischargeSession.from_files(args.items, args.locations, options)
        lines = session.dry_run_lines()
        # the address is checked as the run checks it (no call): a run refused for it must not pass here
        lines.insert(-1, dry_run_address(args.base_url, args.region))
        for line in lines:
            print(line)
        return 1 if session.plan.problems else 0

    from alma_tools.alma import client_factory

    make_client = client_factory(
        base_url=args.base_url, region=args.region, rate=options.rate, workers=options.worker_count()
    )
    report = discharge_file(
        args.items,
        args.locations,
        options,
        make_client,
        progress=sys.stderr.isatty(),
        address=describe_address(args.base_url, args.region),
    )
    print_report(report)
    return report.exit_code
