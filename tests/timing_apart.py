"""Tests marked ``timing`` run while no other test does, on a suite spread over pytest-xdist workers.

A timing test asserts a rate, a pace or an elapsed time, which a busy neighbour would spoil. The workers share
two lock files in the run's temporary folder. Every other test takes the *gate*, takes the *run* lock shared
and lets the gate go. A timing test takes the gate and then the run lock exclusively, and keeps both until the
last of a row of timing tests has ended: all timing tests are one xdist group ("timing"), so they come to
one worker one after the other. Holding the gate while it waits means no new test starts elsewhere in the
meantime: a timing test waits only for the tests already running. In one process (``-n 0``) or where there is
no ``fcntl`` (Windows) no lock is taken; the group still keeps the timing tests on one worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

MARK = "timing"


def is_timing(item: pytest.Item | None) -> bool:
    return item is not None and item.get_closest_marker(MARK) is not None


class Apart:
    """This worker's hold on the run's two lock files: none, shared (one test) or exclusive (timing tests)."""

    def __init__(self, folder: Path) -> None:
        self._gate: IO[str] = (folder / "timing.gate").open("a")
        self._run: IO[str] = (folder / "timing.run").open("a")
        self.held: str | None = None

    def shared(self) -> None:
        fcntl.flock(self._gate, fcntl.LOCK_EX)
        fcntl.flock(self._run, fcntl.LOCK_SH)
        fcntl.flock(self._gate, fcntl.LOCK_UN)
        self.held = "shared"

    def exclusive(self) -> None:
        if self.held != "exclusive":
            fcntl.flock(self._gate, fcntl.LOCK_EX)
            fcntl.flock(self._run, fcntl.LOCK_EX)
            self.held = "exclusive"

    def release(self) -> None:
        fcntl.flock(self._run, fcntl.LOCK_UN)
        if self.held == "exclusive":
            fcntl.flock(self._gate, fcntl.LOCK_UN)
        self.held = None


_apart: Apart | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _apart
    basetemp = config.option.basetemp
    if fcntl is not None and os.environ.get("PYTEST_XDIST_WORKER") and basetemp:
        _apart = Apart(Path(basetemp).parent)  # a worker's base temp is <run's folder>/popen-gwN


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every timing test joins the xdist group "timing" (before xdist's loadgroup reads the groups)."""
    for item in items:
        if is_timing(item):
            item.add_marker(pytest.mark.xdist_group(MARK))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Set-up, call and teardown of each test inside the worker's hold on the locks."""
    if _apart is None:
        yield
        return
    timing = is_timing(item)
    if timing:
        _apart.exclusive()
    else:
        _apart.shared()
    try:
        yield
    finally:
        if not (timing and is_timing(nextitem)):
            _apart.release()
