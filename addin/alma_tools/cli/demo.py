"""``alma-tools demo``: run the whole product on built-in sample data against the simulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alma_tools.cli.discharge import print_report


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="Run the whole product on built-in sample data against the simulator",
        description=(
            "Start the built-in Alma simulator, discharge the sample items export into a folder, compute the "
            "concurrent-checkout statistics of the sample loans export beside it, and print where the "
            "results are. Needs no API key and no network."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("alma-tools-demo"),
        help="folder for the results (default ./alma-tools-demo)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from alma_tools.demo import run_demo

    print(
        f"Fetching the sample items from the built-in Alma simulator's Analytics and discharging them into "
        f"{args.out} …",
        flush=True,
    )
    result = run_demo(args.out, progress=sys.stderr.isatty())
    print(result.fetched)
    print_report(result.report)
    for line in result.statistics:
        print(line)
    return result.report.exit_code
