"""The ribbon's macros: Check sheet, Discharge, Stop, Concurrent checkouts, Set API key.

The package's modules, one concern each: ``messages`` (message boxes, the error log), ``settings`` (the
Settings sheet), ``inputs`` (reading the sheets), ``check`` (Check sheet), ``background`` (jobs on
threads of their own, the discharge run), ``report`` (the statistics renderer), ``keyprompt`` (Set API
key), ``logsheet`` (the log sheet), ``desktop`` (where Excel on Windows and xlwings' remote engine
differ). This module keeps every name the ribbon calls.

Each ribbon button is a VBA ``Sub AlmaX(control As IRibbonControl)`` that calls ``AlmaRun "x"``, which runs
``RunPython "import alma_tools.excel; alma_tools.excel.x()"``. Every macro takes an optional ``book``
(``book or xw.Book.caller()``) so that tests and scripts can hand one in. The macros are thin: they read
the sheet into plain rows, call the same cores as the command line (:mod:`alma_tools.tables`,
:mod:`alma_tools.discharge`, :mod:`alma_tools.concurrency`) and write the results back through
:mod:`alma_tools.sheets`. A mistake a person can fix is shown as a message in plain words; anything else as
"Alma Tools hit an unexpected problem", with the details in a log file, never a traceback in a dialog.

Every button starts a background job and returns within a second (``background``); Stop sets a flag the run
checks before each item; the run's journal (``<workbook name>.alma-run`` beside the workbook) lets a second
Discharge skip the rows done and never scan an item twice. Why: ARCHITECTURE.md, Decisions, "Excel face".
"""

from __future__ import annotations

from alma_tools.excel.background import DischargeRun, Job, discharge, make_client, running_in, stop
from alma_tools.excel.check import check
from alma_tools.excel.fetch import fetch_items as fetch_items
from alma_tools.excel.fetch import fetch_loans as fetch_loans
from alma_tools.excel.inputs import LOCATIONS_SHEET, DischargeInput, read_discharge_input
from alma_tools.excel.keyprompt import set_api_key
from alma_tools.excel.logsheet import LOG_SHEET, append_log, ensure_log_sheet
from alma_tools.excel.messages import ERROR_LOG, TITLE, alert, error_log_path, report_unexpected
from alma_tools.excel.report import concurrency, render_sheet
from alma_tools.excel.settings import SETTING_DEFAULTS, Settings, read_settings

__all__ = [
    "ERROR_LOG",
    "LOCATIONS_SHEET",
    "LOG_SHEET",
    "SETTING_DEFAULTS",
    "TITLE",
    "DischargeInput",
    "DischargeRun",
    "Job",
    "Settings",
    "alert",
    "append_log",
    "check",
    "concurrency",
    "discharge",
    "ensure_log_sheet",
    "error_log_path",
    "make_client",
    "read_discharge_input",
    "read_settings",
    "render_sheet",
    "report_unexpected",
    "running_in",
    "set_api_key",
    "stop",
]
