"""The discharge (bulk scan-in) core: decide each row, call Alma, record every outcome.

Knows nothing of Excel or of the command line: the faces read tables, call :func:`make_plan` and
:func:`run_plan`, and write the outcomes where their user looks. Only the journal touches files.
"""

from alma_tools.discharge.journal import Journal, run_folder_for
from alma_tools.discharge.outcomes import KINDS, Outcome
from alma_tools.discharge.plan import DischargeOptions, Plan, PlannedRow, PlanSummary, Problem, make_plan
from alma_tools.discharge.run import run_plan

__all__ = [
    "KINDS",
    "DischargeOptions",
    "Journal",
    "Outcome",
    "Plan",
    "PlanSummary",
    "PlannedRow",
    "Problem",
    "make_plan",
    "run_folder_for",
    "run_plan",
]
