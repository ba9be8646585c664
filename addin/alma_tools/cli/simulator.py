"""``alma-tools simulator``: run the alma simulator on loopback."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("simulator", help="Run the Alma simulator on loopback")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("simulator is being built")
