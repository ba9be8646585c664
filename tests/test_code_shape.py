"""The code's shape is part of the test run: the type checker and ruff (format and lint) pass on the tree.

Each check runs the tool as a developer would, from the project root, and fails with the tool's own output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        pytest.fail(f"{' '.join(result.args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")


def test_the_package_type_checks() -> None:
    """mypy with the configuration in pyproject.toml (the package, pandas-stubs, check_untyped_defs)."""
    assert_clean(run_tool(sys.executable, "-m", "mypy"))


def test_every_file_is_formatted() -> None:
    assert_clean(run_tool(sys.executable, "-m", "ruff", "format", "--check", "."))


def test_every_file_passes_the_linter() -> None:
    assert_clean(run_tool(sys.executable, "-m", "ruff", "check", "."))
