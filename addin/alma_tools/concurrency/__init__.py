"""Concurrent-checkout statistics: which volumes had several, or all, copies out at once, and for how long.

The one implementation behind the command line (``alma-tools concurrency``), the Excel face and the demo:
:func:`read_loans` reads an export into typed columns and a problem list, :func:`compute` runs the
whole-column sweep, and :mod:`~alma_tools.concurrency.report` lays the results out as sheets (rendered by
xlsxwriter here, by xlwings in Excel) and writes the CSV. Nothing in this package knows Excel.
"""

from alma_tools.concurrency.core import CSV_COLUMNS, Stats, compute
from alma_tools.concurrency.loans import LoansInput, read_loans
from alma_tools.concurrency.report import SheetSpec, report_sheets, write_csv, write_xlsx

__all__ = [
    "CSV_COLUMNS",
    "LoansInput",
    "SheetSpec",
    "Stats",
    "compute",
    "read_loans",
    "report_sheets",
    "write_csv",
    "write_xlsx",
]
