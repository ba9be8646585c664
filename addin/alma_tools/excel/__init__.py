"""The ribbon's macros: Check sheet, Discharge, Stop, Concurrent checkouts, Set API key.

The package's modules, one concern each: ``messages`` (message boxes, the error log), ``settings`` (the
Settings sheet), ``inputs`` (reading the sheets), ``check`` (Check sheet), ``background`` (jobs on
threads of their own, the discharge run), ``report`` (the statistics renderer), ``keyprompt`` (Set API
key), ``logsheet`` (the log sheet), ``desktop`` (where Excel on Windows and xlwings' remote engine
differ). This module keeps every name the ribbon calls.

Each ribbon button is a VBA ``Sub OnX(control As IRibbonControl)`` that calls
``RunPython "import alma_tools.excel; alma_tools.excel.x()"``. Every macro takes an optional ``book``
(``book or xw.Book.caller()``) so that tests and scripts can hand one in. The macros are thin: they read
the sheet into plain rows, call the same cores as the command line (:mod:`alma_tools.tables`,
:mod:`alma_tools.discharge`, :mod:`alma_tools.concurrency`) and write the results back through
:mod:`alma_tools.sheets`. A mistake a person can fix is shown as a message in plain words; anything else as
"Alma Tools hit an unexpected problem", with the details in a log file, never a traceback in a dialog.

How a long discharge keeps Excel usable, and how Stop works
-----------------------------------------------------------

A discharge of 5,000 items takes about four minutes at Alma's pace (20-25 calls a second), and Excel must
stay usable for all of it. This is how:

1. **One Python process for every button.** The workbook's ``xlwings.conf`` sets ``Use UDF Server = True``,
   so every ``RunPython`` call goes to the same long-lived Python process (xlwings' COM server) instead of
   starting a new one. The Discharge button can therefore leave a run going in that process, and the Stop
   button, pressed later, reaches it.
2. **The macro returns at once.** Every button (Discharge, Check sheet, Concurrent checkouts, Set API key)
   starts a background job and returns within a second (a ``RunPython`` call that blocks times out after
   about 90 s under the UDF server, and freezes Excel until then). ``discharge()`` first reads the sheet and
   plans (columns, ids, desks, settings) and reports those problems straight away.
3. **xlwings' threading rules.** A COM object belongs to the thread that made it. The button's thread
   marshals the caller's workbook to the job's thread (``pythoncom.CoMarshalInterThreadInterfaceInStream``,
   in ``excel/desktop.py``), which pumps messages while it waits. Only that thread writes to the sheet; the
   discharge itself (:class:`~alma_tools.discharge.session.DischargeSession`, the command line's run) goes
   on a thread of its own and hands each outcome over through a queue.
4. **Few writes, retried when Excel is busy.** Results arrive from Alma a few dozen per second; the writer
   collects them and writes ``done`` and ``status`` as contiguous blocks at most about once a second
   (measured: about 65 writes for 1,000 rows, plus one fill per run of highlighted rows; never a write per
   cell). When Excel is busy (someone is typing in a cell, a dialog is open) it refuses the write; the
   writer waits a little and tries again, and keeps the rows queued until Excel accepts them, so nothing
   is lost and Excel is never blocked by Python.
5. **Stop.** The Stop button sets a flag that the run checks before each item. Requests already on their way
   finish and are written; every other row gets "Stopped before this row". The run ends within a few
   seconds with everything so far in the sheet, and shows its summary.
6. **Nothing is lost, even if Excel crashes.** Every scan is written to a journal in a run folder beside the
   workbook (``<workbook name>.alma-run``) before it is sent and after Alma answers. Pressing Discharge
   again skips the rows already done and never scans an item twice.
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
