"""``alma-tools demo``: the whole product on built-in sample data, against the simulator, with no key.

A librarian evaluating Alma Tools (or an IT person checking an install) should see a real discharge without an
Alma key or network: the simulator starts in this process with the packaged sample export, a random key that
exists only in memory is handed to the client directly (never through the environment or a command line), and
the sample is discharged through :func:`alma_tools.cli.discharge.discharge_file`, the same run (the
discharge session) and the same file writer the ``discharge`` command uses. The sample reaches the folder
through the simulator's Analytics API (as ``discharge --report`` fetches a report), not as a copied file.
Each demo starts afresh: a new simulator, and the previous demo's files (its run folder too) removed.

Then the packaged loans export goes through the statistics core, as ``alma-tools concurrency`` would take it,
into a workbook and a CSV beside the discharge results. Its as-of is fixed at the end of the export's period
(:data:`DEMO_AS_OF`), so the demo shows the same figures whatever day it runs.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alma_tools import files
from alma_tools.alma import AlmaClient, client_factory
from alma_tools.alma.analytics import fetch_rows
from alma_tools.cli.discharge import discharge_file
from alma_tools.cli.report import write_report
from alma_tools.concurrency import compute, read_loans, write_csv, write_xlsx
from alma_tools.concurrency.report import describe
from alma_tools.discharge import DischargeOptions, run_folder_for
from alma_tools.discharge.journal import legacy_run_folder_for
from alma_tools.discharge.results import original_copy_path
from alma_tools.discharge.session import RunReport
from alma_tools.simulator import Simulator, SimulatorConfig

ITEMS_NAME = "items_to_discharge.csv"
LOCATIONS_NAME = "locations.csv"
LOANS_NAME = "loans_export.xlsx"
STATS_XLSX = "concurrent_checkouts.xlsx"
STATS_CSV = "concurrent_checkouts.csv"
#: the end of the sample loans export's period (its footer: "Loan Date is between 08/25/2025 and 06/30/2026")
DEMO_AS_OF = dt.datetime(2026, 6, 30, 23, 59)
DEFAULT_OUT = Path("alma-tools-demo")
#: Alma's real latency is 0.3-0.8 s; shorter here so the 300 sample rows take about 20 s at 20 calls/s
DEMO_LATENCY = (0.05, 0.2)
DEMO_RATE = 20.0
#: the packaged items sample, as the simulator serves it through the Analytics API
ITEMS_REPORT = "/shared/Sample University/Reports/Items to discharge"


@dataclass
class DemoResult:
    """Where the demo's files are, the discharge report, and what the statistics part has to say."""

    items: Path
    report: RunReport
    statistics: list[str]
    #: the Analytics fetch's summary (rows, pages, when)
    fetched: str = ""


def _packaged(name: str) -> Any:
    return importlib.resources.files("alma_tools") / "data" / name


def _fresh_copy(out: Path) -> Path:
    """Put the sample files in ``out``, removing what an earlier demo left there (and only that)."""
    out.mkdir(parents=True, exist_ok=True)
    items = out / ITEMS_NAME
    made = (ITEMS_NAME, LOCATIONS_NAME, LOANS_NAME, STATS_XLSX, STATS_CSV)
    for old in (original_copy_path(items), *(out / name for name in made)):
        old.unlink(missing_ok=True)
    for folder in (run_folder_for(items), legacy_run_folder_for(items)):
        shutil.rmtree(folder, ignore_errors=True)
    for name in (LOCATIONS_NAME, LOANS_NAME):  # the items come from Analytics (_fetch_items)
        # copy the bytes only: the packaged files may be read-only, the user's copy must be writable
        files.atomic_write(out / name, _packaged(name).read_bytes())
    return items


def _fetch_items(base_url: str, key: str, items: Path) -> str:
    """The items sample fetched through the simulator's Analytics API into ``items``, as
    ``alma-tools discharge --report`` fetches a report; returns the fetch's summary line."""
    with AlmaClient(base_url=base_url, api_key=key) as client:
        report = fetch_rows(client, ITEMS_REPORT)
    write_report(report, items)
    return report.summary()


def _statistics(out: Path) -> list[str]:
    """The sample loans export through the statistics core into a workbook and a CSV; lines to print.

    The sample carries four problems on purpose (a duplicated line, a blank return time, a return before
    its loan, a date that is no date; the data folder's README says why); each is printed with its row.
    """
    stats = compute(read_loans(out / LOANS_NAME), as_of=DEMO_AS_OF)
    problems = [
        f"  row {row.Row}, {row.Column}: {row.Problem}" for row in stats.problems.itertuples(index=False)
    ]
    return [
        "",
        f"Concurrent-checkout statistics of the sample {LOANS_NAME}:",
        *describe(stats),
        *(
            ["The sample's problems, put there on purpose to show what the statistics do with them:"]
            if problems
            else []
        ),
        *problems,
        f"Workbook: {write_xlsx(stats, out / STATS_XLSX)}",
        f"CSV: {write_csv(stats, out / STATS_CSV)}",
    ]


def run_demo(
    out: Path = DEFAULT_OUT,
    *,
    latency: tuple[float, float] = DEMO_LATENCY,
    rate: float = DEMO_RATE,
    progress: bool = False,
) -> DemoResult:
    """Discharge the packaged sample against a fresh in-process simulator, then compute the statistics of
    the packaged loans export; every result lands in ``out``."""
    items = _fresh_copy(out)
    key = secrets.token_urlsafe(32)  # exists only in this process: no environment, file or argument
    options = DischargeOptions(rate=rate)
    config = SimulatorConfig(api_keys=(key,), latency=latency)
    with Simulator(config) as sim:
        fetched = _fetch_items(sim.base_url, key, items)
        report = discharge_file(
            items,
            out / LOCATIONS_NAME,
            options,
            client_factory(base_url=sim.base_url, api_key=key, rate=rate, workers=options.worker_count()),
            progress=progress,
            key_source="The demo's key exists only in this process (no key of yours is used).",
            address="the built-in simulator",
        )
    return DemoResult(items=items, report=report, statistics=_statistics(out), fetched=fetched)
