"""``alma-tools selftest --excel``: the release checklist made executable, against the real Excel (Windows).

It opens the installed workbook through xlwings' COM engine, pastes the packaged sample (items, locations,
loans), points the Settings sheet at an Alma simulator running inside this command, and presses the
buttons the way a person would (through the workbook's own ``AlmaRun`` macro, so the VBA, the xlwings DLL,
the UDF server and the Python that Excel starts are all exercised): Check sheet, Discharge, Stop, Discharge
again (continues, nothing scanned twice), Concurrent checkouts, and both worksheet functions. Each step
prints PASS or FAIL with its time. The workbook is closed without saving.

The steps are :class:`SelfTest`'s methods over a *driver*: :class:`ExcelDriver` presses the buttons in
Excel; :class:`InProcessDriver` calls the same macros in this process, which is how the steps are tested on
Linux through xlwings' remote engine.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from alma_tools.errors import ConfigError

#: a damaged id for =ALMA_CHECK_ID (Excel showed an 18-digit MMS Id in scientific notation)
DAMAGED_ID = "9.93547E+17"


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool | None  # None: skipped (the engine cannot do it)
    seconds: float
    detail: str

    def line(self) -> str:
        word = {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]
        return f"{word}  {self.name:<28} {self.seconds:6.1f} s  {self.detail}"


def packaged_rows(name: str) -> list[list[str]]:
    """A packaged sample CSV (``alma_tools/data``) as rows of text."""
    text = resources.files("alma_tools").joinpath("data").joinpath(name).read_text(encoding="utf-8-sig")
    return [row for row in csv.reader(io.StringIO(text))]


def packaged_loans() -> list[list[Any]]:
    """The packaged loans export's first sheet as rows (read with the project's own reader)."""
    from alma_tools.tables import read_grid

    sample = resources.files("alma_tools").joinpath("data").joinpath("loans_export.xlsx")
    with resources.as_file(sample) as path:
        grid = read_grid(path)
    return [[None if cell is None else cell for cell in row] for row in grid.values.itertuples(index=False)]


class InProcessDriver:
    """Presses a button by calling its macro in this process (xlwings' remote engine, or a script)."""

    def __init__(self, book: Any) -> None:
        self.book = book

    def press(self, macro: str, timeout: float) -> str:
        """Run ``alma_tools.excel.<macro>(book)``, wait for its job, and return its message."""
        from alma_tools import excel

        before = self._alerts()
        job = getattr(excel, macro)(self.book)
        if job is not None and not job.wait(timeout):
            raise TimeoutError(f"{macro} did not finish within {timeout:.0f} s")
        alerts = self._alerts()
        return alerts[-1] if len(alerts) > len(before) else ""

    def start(self, macro: str) -> None:
        from alma_tools import excel

        getattr(excel, macro)(self.book)

    def _alerts(self) -> list[str]:
        from alma_tools.excel import desktop

        return desktop.recorded_alerts(self.book)

    def can_calculate(self) -> bool:
        return False  # the remote engine has no calculation: worksheet functions need Excel


class ExcelDriver:
    """Presses a button in Excel: the workbook's ``AlmaRun`` macro, as the ribbon does. With the
    ``AlmaSelfTest`` name in the workbook every message goes to the log sheet instead of a box, where this
    driver waits for it."""

    def __init__(self, book: Any) -> None:
        self.book = book

    def press(self, macro: str, timeout: float) -> str:
        """Run the macro and return the message it ends with (written to the log sheet under self-test)."""
        from alma_tools.excel.messages import SELFTEST_MARK

        seen = len(self._log())
        self.start(macro)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            lines = self._log()[seen:]
            for number, line in enumerate(lines):
                if line.startswith(SELFTEST_MARK):
                    return "\n".join([line[len(SELFTEST_MARK) :], *lines[number + 1 :]])
        raise TimeoutError(f"{macro} showed no message within {timeout:.0f} s")

    def start(self, macro: str) -> None:
        self.book.macro("AlmaRun")(macro)

    def _log(self) -> list[str]:
        from alma_tools.excel import LOG_SHEET

        if LOG_SHEET not in [s.name for s in self.book.sheets]:
            return []
        rows = self.book.sheets[LOG_SHEET].used_range.options(ndim=2).value
        return [str(row[1]) for row in rows if len(row) > 1 and row[1]]

    def can_calculate(self) -> bool:
        return True


class SelfTest:
    """The checklist's steps over one workbook and one simulator; ``run()`` gives one result per step."""

    def __init__(self, book: Any, driver: Any, simulator: Any, *, paste: bool = True) -> None:
        self.book = book
        self.driver = driver
        self.simulator = simulator
        self.paste = paste
        self.results: list[StepResult] = []

    def run(self) -> list[StepResult]:
        steps: list[tuple[str, Callable[[], str | None]]] = [
            ("paste the packaged sample", self.paste_sample),
            ("Check sheet", self.check),
            ("Discharge, then Stop", self.discharge_and_stop),
            ("Discharge again (continues)", self.discharge_rest),
            ("Concurrent checkouts", self.concurrency),
            ("=ALMA_CHECK_ID", self.udf_check_id),
            ("=ALMA_CONCURRENCY", self.udf_concurrency),
        ]
        for name, step in steps:
            started = time.monotonic()
            try:
                detail = step()
                ok: bool | None = None if detail is None else True  # None: skipped
                detail = detail if detail is not None else "the remote engine cannot calculate formulas"
            except Exception as error:
                ok, detail = False, f"{type(error).__name__}: {error}".splitlines()[0]
            self.results.append(StepResult(name, ok, time.monotonic() - started, detail))
        return self.results

    # the steps ---------------------------------------------------------------------------------------
    def paste_sample(self) -> str:
        if not self.paste:
            return "the book already holds the sample (remote engine: reads do not see writes)"
        items, locations = packaged_rows("items_to_discharge.csv"), packaged_rows("locations.csv")
        self.book.sheets["Items"].range("A1").value = items
        self.book.sheets["Locations"].range("A1").value = locations
        self.book.sheets["Loans"].range("A1").value = packaged_loans()
        names = {n.name.split("!")[-1]: n for n in self.book.names}
        names["AlmaBaseUrl"].refers_to_range.value = self.simulator.base_url
        names["AlmaRate"].refers_to_range.value = 25
        self.book.names.add("AlmaSelfTest", "=TRUE")
        return f"{len(items) - 1} items, {len(locations) - 1} locations, the loans export"

    def check(self) -> str:
        self.book.sheets["Items"].activate()
        text = self.driver.press("check", timeout=120)
        _expect(text.startswith("Check of sheet 'Items'"), text)
        _expect(self.simulator.stats()["requests"] == 0, "Check sent a request to Alma")
        return text.splitlines()[-2] if len(text.splitlines()) > 1 else text

    def discharge_and_stop(self) -> str:
        self.driver.start("discharge")
        time.sleep(1.5)
        text = self.driver.press("stop", timeout=60)  # returns once the run's summary is out
        _expect(text.startswith("Discharge stopped"), text)
        return text.splitlines()[0]

    def discharge_rest(self) -> str:
        text = self.driver.press("discharge", timeout=300)
        _expect(text.startswith("Discharge finished"), text)
        scans = self.simulator.stats()["scans"]
        _expect(scans and set(scans.values()) == {1}, "an item was scanned twice")
        return f"{len(scans)} items scanned in, each once"

    def concurrency(self) -> str:
        self.book.sheets["Loans"].activate()
        text = self.driver.press("concurrency", timeout=300)
        _expect(text.startswith("Concurrent checkouts of sheet 'Loans'"), text)
        return text.splitlines()[0]

    def udf_check_id(self) -> str | None:
        if not self.driver.can_calculate():
            return None
        cell = self._scratch().range("A1")
        cell.formula = f'=ALMA_CHECK_ID("{DAMAGED_ID}")'
        self.book.app.calculate()
        value = str(cell.value or "")
        _expect(bool(value) and not value.startswith("#"), f"=ALMA_CHECK_ID gave {value!r}")
        return value

    def udf_concurrency(self) -> str | None:
        if not self.driver.can_calculate():
            return None
        cell = self._scratch().range("C1")
        cell.formula = "=ALMA_CONCURRENCY(Loans!A1:Z2000)"
        self.book.app.calculate()
        value = cell.value
        _expect(
            value not in (None, "") and not str(value).startswith("#"), f"=ALMA_CONCURRENCY gave {value!r}"
        )
        return f"spilled from {cell.address}: {value}"

    # helpers -----------------------------------------------------------------------------------------
    def _scratch(self) -> Any:
        if "Self-test" not in [s.name for s in self.book.sheets]:
            self.book.sheets.add("Self-test")
        return self.book.sheets["Self-test"]


def _expect(condition: object, detail: str) -> None:
    if not condition:
        raise AssertionError(detail.splitlines()[0] if detail else "no message")


@contextmanager
def simulator_for_selftest(api_key: str) -> Iterator[Any]:
    """The packaged sample's Alma, in this process, accepting ``api_key`` (the key Excel's Python uses)."""
    from alma_tools.simulator import Simulator, SimulatorConfig

    with Simulator(SimulatorConfig(api_keys=(api_key,), latency=(0.05, 0.2))) as sim:
        yield sim


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "selftest",
        help="Check that Alma Tools works in this computer's Excel (Windows), step by step",
        description="With --excel: opens the installed workbook in Excel, pastes the packaged sample and "
        "presses every button against an Alma simulator inside this command; PASS/FAIL per step.",
    )
    parser.add_argument("--excel", action="store_true", help="drive Excel (the only self-test so far)")
    parser.add_argument(
        "--workbook", type=Path, default=None, metavar="PATH",
        help="the installed workbook (default: alma_tools.xlsm in your Documents)",
    )  # fmt: skip
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.excel:
        raise ConfigError("say what to test: alma-tools selftest --excel")
    if sys.platform != "win32":
        raise ConfigError("selftest --excel drives Excel for Windows; this computer has none")
    import xlwings as xw

    from alma_tools.alma.keys import resolve_api_key
    from alma_tools.cli.excel_setup import documents_folder

    key = resolve_api_key()  # the key Excel's Python will use; the simulator accepts it, on loopback only
    path = args.workbook or documents_folder(Path.home()) / "alma_tools.xlsm"
    if not path.is_file():
        raise ConfigError(f"{path} was not found: run alma-tools excel-setup first, or pass --workbook")
    results = []
    with simulator_for_selftest(key) as sim:
        book = xw.Book(str(path))
        try:
            results = SelfTest(book, ExcelDriver(book), sim).run()
        finally:
            book.close()  # never saved: the sample and the simulator's address stay out of the file
    for result in results:
        print(result.line())
    failed = [r for r in results if r.ok is False]
    print(
        f"{len(results) - len(failed)} of {len(results)} steps passed"
        + (": see FAIL above" if failed else "")
    )
    return 1 if failed else 0
