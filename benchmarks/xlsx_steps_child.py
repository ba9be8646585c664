"""The XLSX statistics command's steps, timed in a fresh interpreter (``concurrency_bench.py --xlsx-steps``).

Run as ``python benchmarks/xlsx_steps_child.py LOANS.xlsx``; prints one JSON line, step -> [wall, CPU]
seconds. Nothing is imported before the clock starts but the standard library, so the imports the parse
overlaps are timed as the command has them.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

AS_OF = dt.datetime(2026, 7, 1)  # concurrency_bench.AS_OF (that module imports pandas)


class Clock:
    """Wall and CPU seconds (every thread of the process) of the steps timed with :meth:`step`."""

    def __init__(self) -> None:
        self.steps: dict[str, tuple[float, float]] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def step(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.steps[name] = (wall - self._wall, cpu - self._cpu)
        self._wall, self._cpu = wall, cpu


def xlsx_steps(path: Path) -> dict[str, tuple[float, float]]:
    """Each step in the order the command runs them: the sheet opened and its first rows read from the
    XML (its parse then starts on another thread), the statistics' imports meanwhile, the wait for
    fastexcel's parse (what it took beyond the imports), the header search and the columns handed to
    pandas, typing the columns (ids, dates, times), the statistics."""
    clock = Clock()
    from alma_tools.tables.xlsx_columns import open_large_sheet

    sheet = open_large_sheet(path)
    assert sheet is not None, "not a large workbook"
    clock.step("open the sheet, read its first rows (XML)")
    from alma_tools.concurrency import LoansInput, compute, loans

    clock.step("imports (pandas, the statistics) while it parses")
    sheet.search_xml()  # as read_columns does, then the wait for the load it takes
    sheet._loads[3].result()
    sheet.is_plain()
    clock.step("fastexcel's parse: the wait beyond the imports")
    table = loans.read_table(sheet, loans.LOAN_COLUMNS)
    clock.step("header search, columns to pandas (Arrow)")
    frame, problems, _ = loans.loans_from_table(table)
    clock.step("typing the columns (ids, dates, times)")
    compute(LoansInput(loans=frame, problems=problems, source=table.source), as_of=AS_OF)
    clock.step("the statistics (compute)")
    assert loans._read_large_workbook(sheet, loans.LOAN_COLUMNS) is not None, "read cell by cell"
    return clock.steps


if __name__ == "__main__":
    print(json.dumps(xlsx_steps(Path(sys.argv[1]))))
