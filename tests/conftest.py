"""Shared test set-up.

The suite runs on two pytest-xdist workers (``addopts`` in pyproject.toml). A test marked ``timing``
measures pace, rate or elapsed time, so it runs alone: it holds the run's lock file exclusively while every
other test holds it shared, so nothing else runs while a timing test does (and all timing tests go to one
worker, as the ``xdist_group`` "timing", so they queue there instead of stalling both workers).

xlwings' remote engine (used to drive the Excel face through xlwings' real object model) registers itself at
import time only when a licence key is present. The ``noncommercial`` key selects the PolyForm Noncommercial
licence of xlwings PRO, which covers educational institutions; it is set here, for the tests only. The shipped
add-in uses only xlwings' BSD-licensed part and needs no key.
"""

import os

os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")  # must precede any "import xlwings"

from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # Windows: no xdist lock; run the timing tests on their own with -m timing -p no:xdist
    fcntl = None  # type: ignore[assignment]

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder of the sample exports copied from the shared data (tests never read ../shared)."""
    return DATA


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every timing test joins the xdist group "timing" (before xdist's loadgroup reads the groups)."""
    for item in items:
        if item.get_closest_marker("timing") is not None:
            item.add_marker(pytest.mark.xdist_group("timing"))


@pytest.fixture(autouse=True)
def _timing_tests_run_alone(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Under xdist, a ``timing`` test waits until no other test runs, and no test starts while it runs."""
    if fcntl is None or "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    # each worker's base temp is <run's base temp>/popen-gwN: the parent is this run's own folder
    lock_path = tmp_path_factory.getbasetemp().parent / "timing.lock"
    exclusive = request.node.get_closest_marker("timing") is not None
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# Shared fixtures that start the Alma simulator on a real loopback socket.
pytest_plugins = ["fixtures_simulator"]
