"""Shared test set-up.

The suite runs on pytest-xdist workers (``addopts`` in pyproject.toml); a test marked ``timing`` runs while no
other test does (``timing_apart.py``).

xlwings' remote engine (used to drive the Excel face through xlwings' real object model) registers itself at
import time only when a licence key is present. The ``noncommercial`` key selects the PolyForm Noncommercial
licence of xlwings PRO, which covers educational institutions; it is set here, for the tests only. The shipped
add-in uses only xlwings' BSD-licensed part and needs no key.
"""

import os

os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")  # must precede any "import xlwings"

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Folder of the sample exports copied from the shared data (tests never read ../shared)."""
    return DATA


# Shared fixtures that start the Alma simulator on a real loopback socket; timing tests kept apart.
pytest_plugins = ["fixtures_simulator", "timing_apart"]
