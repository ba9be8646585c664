"""``alma-tools discharge``: scan in (discharge) every item of an items export."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("discharge", help="Scan in (discharge) every item of an items export")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("discharge is being built")
