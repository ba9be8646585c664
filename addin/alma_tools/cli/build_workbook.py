"""``alma-tools build-workbook``: build workbook/alma_tools.xlsm from its text sources."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("build-workbook", help="Build workbook/alma_tools.xlsm from its text sources")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("build-workbook is being built")
