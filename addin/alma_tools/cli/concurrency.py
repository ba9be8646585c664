"""``alma-tools concurrency``: concurrent-checkout statistics from a loans export.

A thin face on :mod:`alma_tools.concurrency`: read, compute, write the workbook and/or CSV, and print what a
person needs to trust the result (the as-of moment used, counts, the top volumes, how many data problems).
Data problems are reported, not fatal; unreadable input ends with exit code 2 and one message. With no
output named the summary is printed with how to save the results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING

from alma_tools.cli.report import add_connection_arguments, add_report_arguments, resolve_input
from alma_tools.errors import InputError
from alma_tools.files import check_writable

if TYPE_CHECKING:
    from alma_tools.concurrency import LoansInput, Stats

_AS_OF_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "concurrency",
        help="Concurrent-checkout statistics from a loans export",
        description=(
            "Per volume (MMS Id + call number): copies, loans, the most copies out at once, and how long two "
            "or more, or all, copies were out. Writes a workbook (--output; every episode beside it in "
            "STATS.episodes.csv) and/or a CSV (--csv; alone, the data problems go to STATS.problems.csv); "
            "with neither, prints the summary."
        ),
    )
    parser.add_argument(
        "loans", nargs="?", metavar="LOANS", help="loans export (.csv or .xlsx), or --report PATH"
    )
    add_report_arguments(parser, "loans")
    add_connection_arguments(parser)
    parser.add_argument(
        "--items", metavar="ITEMS", help="items export listing every copy (MMS Id, call number, barcode)"
    )
    parser.add_argument("--requests", metavar="REQUESTS", help="requests export (MMS Id, Requests)")
    parser.add_argument(
        "--by-description",
        action="store_true",
        help="count each Description (v.1, v.2 ...) of a multi-volume set as its own volume",
    )
    parser.add_argument(
        "--as-of",
        metavar='"YYYY-MM-DD HH:MM"',
        help="end of the period; loans not yet returned count as out until then (default: now)",
    )
    parser.add_argument(
        "--date-order",
        choices=("mdy", "dmy", "ymd"),
        help="how text dates are written: mdy (9/5/2025 = 5 September, Alma's US default), dmy "
        "(05/09/2025 = 5 September) or ymd; default: told by the file (a day over 12), else mdy",
    )
    parser.add_argument("--output", metavar="STATS.xlsx", help="write the workbook here")
    parser.add_argument("--csv", metavar="STATS.csv", help="write the per-volume table here as CSV")
    parser.set_defaults(handler=run)


def parse_as_of(text: str | None) -> dt.datetime:
    """The ``--as-of`` value, or now (to the second) when it is not given."""
    if text is None:
        return dt.datetime.now().replace(microsecond=0)
    for fmt in _AS_OF_FORMATS:
        try:
            return dt.datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise InputError(
        f'--as-of "{text}" is not a date and time: write it as "YYYY-MM-DD HH:MM", e.g. "2026-06-30 23:59".'
    )


def run(args: argparse.Namespace) -> int:
    from alma_tools.tables.xlsx_columns import open_large_sheet

    # a large workbook's parse starts now, on another core, while the statistics' libraries load below
    loans_source = open_large_sheet(Path(args.loans)) if args.loans else None
    from alma_tools.concurrency import compute, read_loans, write_csv, write_xlsx
    from alma_tools.concurrency.core import refuse_a_period_before_every_loan
    from alma_tools.concurrency.report import (
        describe,
        episodes_csv_path,
        problems_csv_path,
        write_problems_csv,
    )

    if args.output and not args.output.lower().endswith(".xlsx"):
        raise InputError(f"--output {args.output}: the workbook name must end in .xlsx.")
    problems_path = problems_csv_path(args.csv) if args.csv and not args.output else None
    episodes_path = episodes_csv_path(args.output) if args.output else None
    if args.csv and Path(args.csv).suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        raise InputError(f"--csv {args.csv}: a CSV file's name must not end in {Path(args.csv).suffix}.")
    outputs = [p for p in (args.output, episodes_path, args.csv, problems_path) if p]
    named = {
        "--output": args.output,
        "the episodes file beside --output": episodes_path,
        "--csv": args.csv,
        "the problems file beside --csv": problems_path,
    }
    refuse_output_over_input(named, [p for p in (args.loans, args.items, args.requests) if p])
    refuse_outputs_on_one_file(named)
    for path in outputs:
        check_writable(path)  # before the work, not after it
    as_of = parse_as_of(args.as_of)
    resolve_input(args, "loans", "loans")  # --report PATH: fetched into a new file, read as usual
    print(f"Reading {args.loans} ...", flush=True)
    loans = read_loans(
        loans_source or args.loans,
        items=args.items,
        by_description=args.by_description,
        requests=args.requests,
        date_order=args.date_order,
    )
    stats = compute(loans, as_of=as_of)
    refuse_a_period_before_every_loan(
        loans, stats, "give a later --as-of (without one, loans count up to now)"
    )
    if args.as_of is None and (note := as_of_after_the_export_note(loans, stats)):
        stats.notes.append(note)
    where = "the Problems sheet" if args.output else (str(problems_path) if problems_path else None)
    for line in describe(stats, problems_at=where):
        print(line)
    if args.output:
        print("Writing the workbook ...", flush=True)
        print(f"Workbook: {write_xlsx(stats, args.output)}")
        print(f"Every episode: {episodes_csv_path(args.output)}")
    if args.csv:
        print(f"CSV: {write_csv(stats, args.csv)}")
    if problems_path is not None:
        print(f"Problems: {write_problems_csv(stats, problems_path)}")
    if not args.output and not args.csv:
        print(
            "Nothing was saved: add --output STATS.xlsx (the workbook) and/or --csv STATS.csv to keep these."
        )
    return 0


def as_of_after_the_export_note(loans: LoansInput, stats: Stats) -> str:
    """The warning when the as-of defaulted to now, weeks after the export's latest loan or return ("" when
    nothing is still out or the export is recent): the statistics' rule (``stale_as_of``), the fix in the
    command line's words."""
    from alma_tools.concurrency.core import stale_as_of

    stale = stale_as_of(loans, stats)
    if stale is None:
        return ""
    return stale.warning(f'run again with --as-of "{stale.latest_text}" (or the date the export was made)')


def refuse_output_over_input(outputs: dict[str, str | Path | None], inputs: list[str]) -> None:
    """InputError when an output would overwrite an input (``--csv loans.csv`` replaced the export); an
    output made from another's name (``a.episodes.csv`` beside ``--output a.xlsx``) is named as such."""
    for option, output in outputs.items():
        for source in inputs:
            if output and _same_file(Path(output), Path(source)):
                what = str(output) if option.startswith("--") else f"{output} ({option})"
                raise InputError(
                    f"{what} is also an input ({source}): writing the results there would replace the "
                    "export being read. Choose another name for the output."
                )


def refuse_outputs_on_one_file(outputs: dict[str, str | Path | None]) -> None:
    """InputError when two outputs are one file: the second replaced the first, and the summary named both
    (``--csv a.episodes.csv --output a.xlsx`` left no episodes file; ``--csv`` = ``--output`` no workbook)."""
    named = [(option, Path(path)) for option, path in outputs.items() if path]
    for at, (option, path) in enumerate(named):
        for other, other_path in named[at + 1 :]:
            if _same_file(path, other_path):
                raise InputError(
                    f"{option} and {other} are the same file ({path}): one would replace the other. "
                    "Give --csv another name."
                )


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()
