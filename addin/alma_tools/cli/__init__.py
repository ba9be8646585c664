"""The ``alma-tools`` command line: one sub-command per job, each a thin face on the core.

Each sub-command lives in its own module here and exposes ``register(subparsers)``, which adds its parser and
sets ``handler`` to a function ``(args) -> int`` (the exit code). Errors meant for people
(:class:`~alma_tools.errors.AlmaToolsError`) are printed as one message, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from alma_tools import __version__
from alma_tools.errors import AlmaToolsError

#: sub-command modules, in the order ``--help`` lists them
COMMANDS = (
    "discharge", "concurrency", "report", "demo", "simulator", "build_workbook", "excel_setup", "selftest",
)  # fmt: skip


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only`` (a command's name), that command's parser alone: its module is
    the only one imported, so a command does not wait for the others' libraries to load."""
    parser = argparse.ArgumentParser(
        prog="alma-tools",
        description="Bulk discharge of Alma loans and concurrent-checkout statistics.",
    )
    parser.add_argument("--version", action="version", version=f"alma-tools {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only is None or _command_name(name) == only:
            importlib.import_module(f"alma_tools.cli.{name}").register(subparsers)
    return parser


def _command_name(module: str) -> str:
    return module.replace("_", "-")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    named = argv[0] if argv and argv[0] in map(_command_name, COMMANDS) else None
    parser = build_parser(only=named)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except AlmaToolsError as error:
        print(f"alma-tools: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("alma-tools: interrupted", file=sys.stderr)
        return 130
