"""``alma-tools concurrency``: concurrent-checkout statistics from a loans export."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("concurrency", help="Concurrent-checkout statistics from a loans export")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    raise NotImplementedError("concurrency is being built")
