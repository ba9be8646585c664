"""Check sheet: every problem the run would refuse, marked in the sheet, without a call to Alma."""

from __future__ import annotations

from typing import Any

from alma_tools import sheets
from alma_tools.alma import describe_key_source
from alma_tools.errors import InputError
from alma_tools.excel.background import running_in
from alma_tools.excel.inputs import column_of, read_discharge_input
from alma_tools.excel.logsheet import append_log
from alma_tools.excel.messages import alert, reported


@reported
def check(book: Any = None) -> Any:
    """Validate the pasted export without calling Alma: mark each problem cell and say what to fix.

    Rows that are not done get a fresh status (the problem, or empty when the row is fine) and lose old
    marks, so pressing Check again after fixing shows only what is left. Done rows are left as they are.
    """
    if running_in(book) is not None:
        raise InputError(
            "A discharge is running in this workbook: wait for its summary, or press Stop, then Check"
        )
    data = read_discharge_input(book)
    sheet = book.sheets[data.sheet_name]
    columns = data.columns
    target = sheets.SheetWriter(sheet, columns)
    target.write_headers()
    known = sheets.known_results(data.rows, columns)
    writer = sheets.BatchWriter(target, known)
    open_rows = [
        row.row for row in data.plan.rows if not (row.decided and row.decided.kind == "skipped_done")
    ]
    decided = {row.row: row.decided for row in data.plan.rows if row.decided is not None}
    last_col = max(columns.last, len(data.rows[data.items.header_row - 1]))
    for first, last in sheets.runs(open_rows):
        sheet.range((first, columns.first), (last, last_col)).color = None
    for row in open_rows:
        outcome = decided.get(row)
        writer.add(row, False, outcome.status if outcome else "")
    writer.close()
    cells: dict[int, list[int]] = {}
    for problem in data.plan.problems:
        column = column_of(data.rows, data.items.header_row, data.items.label(problem.column))
        if column is not None:
            cells.setdefault(column, []).append(problem.row)
    for column, rows in cells.items():
        for first, last in sheets.runs(sorted(set(rows))):
            sheet.range((first, column), (last, column)).color = sheets.PROBLEM_FILL
    summary = data.plan.summary()
    lines = [f"Check of sheet '{data.sheet_name}' (no call to Alma):", *summary.lines()]
    if data.plan.problems:
        lines.append(
            f"{len(data.plan.problems):,} problem cells are marked in the sheet; the status column says why."
        )
    else:
        lines.append("No problems found.")
    lines.append(describe_key_source())
    append_log(book, lines)
    alert(book, "\n".join(lines))
    return summary
