"""``alma-tools build-workbook``: build workbook/alma_tools.xlsm from its text sources.

The workbook is never edited in Excel and committed: it is rebuilt from ``workbook/`` (ribbon XML, ``.bas``
modules, ``sheets.yaml``) so every change is reviewable, and a test fails when the committed file and a
fresh build differ. See :mod:`alma_tools.workbook_build`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alma_tools.workbook_build import DEFAULT_OUTPUT, WORKBOOK_DIR, build_workbook


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "build-workbook",
        help="Build workbook/alma_tools.xlsm from its text sources",
        description="Build the Alma Tools workbook (ribbon, VBA modules, sheets) from the text sources in "
        "workbook/. Needs the build extra: pip install -e '.[build]'.",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"where to write the workbook (default: {DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--sources",
        type=Path,
        default=WORKBOOK_DIR,
        metavar="DIR",
        help=f"folder with sheets.yaml, customUI/ and vba/ (default: {WORKBOOK_DIR})",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build, then say where the file went, what is in it and how long it took."""
    result = build_workbook(args.output, args.sources)
    print(f"Built {result.path} ({result.size:,} bytes) in {result.seconds:.1f} s")
    print(f"  sheets: {', '.join(result.sheets)}")
    print(f"  VBA modules: {', '.join(result.modules)}")
    for note in result.notes:
        print(f"  note: {note}")
    return 0
