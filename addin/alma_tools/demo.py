"""``alma-tools demo``: the whole product on built-in sample data, against the simulator, with no key.

A librarian evaluating Alma Tools (or an IT person checking an install) should see a real discharge without an
Alma key or network: the simulator starts in this process with the packaged sample export, a random key that
exists only in memory is handed to the client directly (never through the environment or a command line), and
the sample is discharged through :func:`alma_tools.cli.discharge.discharge_file`, the same function the
``discharge`` command uses. Each demo starts afresh: a new simulator, and the previous demo's files removed.

Hook for the statistics part: when :mod:`alma_tools.concurrency` offers ``demo(out_dir: Path) -> list[str]``,
the demo calls it after the discharge and prints the lines it returns (where its report is, a short summary).
"""

from __future__ import annotations

import importlib
import importlib.resources
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alma_tools.alma import AlmaClient
from alma_tools.cli.discharge import RunReport, discharge_file
from alma_tools.discharge import DischargeOptions, run_folder_for
from alma_tools.discharge.results import original_copy_path
from alma_tools.simulator import Simulator, SimulatorConfig

ITEMS_NAME = "items_to_discharge.csv"
LOCATIONS_NAME = "locations.csv"
DEFAULT_OUT = Path("alma-tools-demo")
#: Alma's real latency is 0.3-0.8 s; shorter here so the 300 sample rows take about 20 s at 20 calls/s
DEMO_LATENCY = (0.05, 0.2)
DEMO_RATE = 20.0


@dataclass
class DemoResult:
    """Where the demo's files are, the discharge report, and the statistics part's lines (if any)."""

    items: Path
    report: RunReport
    extra_lines: list[str] = field(default_factory=list)


def _packaged(name: str) -> Any:
    return importlib.resources.files("alma_tools") / "data" / name


def _fresh_copy(out: Path) -> Path:
    """Put the sample files in ``out``, removing what an earlier demo left there (and only that)."""
    out.mkdir(parents=True, exist_ok=True)
    items = out / ITEMS_NAME
    for old in (items, original_copy_path(items), out / LOCATIONS_NAME):
        old.unlink(missing_ok=True)
    shutil.rmtree(run_folder_for(items), ignore_errors=True)
    for name in (ITEMS_NAME, LOCATIONS_NAME):
        # copy the bytes only: the packaged files may be read-only, the user's copy must be writable
        (out / name).write_bytes(_packaged(name).read_bytes())
    return items


def _statistics_hook() -> Callable[[Path], list[str]] | None:
    """The statistics part's demo function, when it has one."""
    try:
        module = importlib.import_module("alma_tools.concurrency")
    except ImportError:
        return None
    hook = getattr(module, "demo", None)
    return hook if callable(hook) else None


def run_demo(
    out: Path = DEFAULT_OUT,
    *,
    latency: tuple[float, float] = DEMO_LATENCY,
    rate: float = DEMO_RATE,
    progress: bool = False,
) -> DemoResult:
    """Discharge the packaged sample against a fresh in-process simulator; results land in ``out``."""
    items = _fresh_copy(out)
    key = secrets.token_urlsafe(32)  # exists only in this process: no environment, file or argument
    options = DischargeOptions(rate=rate)
    config = SimulatorConfig(api_keys=(key,), latency=latency)
    with Simulator(config) as sim:
        report = discharge_file(
            items,
            out / LOCATIONS_NAME,
            options,
            lambda on_response: AlmaClient(
                base_url=sim.base_url,
                api_key=key,
                rate=rate,
                workers=options.worker_count(),
                on_response=on_response,
            ),
            progress=progress,
        )
    hook = _statistics_hook()
    extra = list(hook(out)) if hook else []
    return DemoResult(items=items, report=report, extra_lines=extra)
