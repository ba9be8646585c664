"""``alma-tools demo``: run the whole product on built-in sample data against the simulator."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="Run the whole product on built-in sample data against the simulator")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("demo is being built")
