"""Check sheet: every problem the run would refuse, marked in the sheet, without a call to Alma.

It runs in the background like Discharge (a large sheet takes a while to plan and mark), with progress in
the status bar and Stop between blocks of rows.
"""

from __future__ import annotations

from typing import Any

from alma_tools import sheets
from alma_tools.alma import describe_key_source
from alma_tools.excel.background import Job, start_job
from alma_tools.excel.inputs import DischargeInput, column_of, read_discharge_input
from alma_tools.excel.logsheet import append_log
from alma_tools.excel.messages import reported

#: rows written between two looks at Stop and the status bar
CHUNK = 1000


class CheckJob(Job):
    """Check sheet on the job's thread: read, plan, write each open row's status, mark the problem cells."""

    label = "A check"

    def run(self, book: Any) -> Any:
        data = read_discharge_input(book)
        if not self._write_statuses(book, data):
            self.tell(book, f"Check of sheet '{data.sheet_name}' stopped: press Check sheet again.")
            return None
        self._mark_problems(book, data)
        summary = data.plan.summary()
        lines = [f"Check of sheet '{data.sheet_name}' (no call to Alma):", *summary.lines()]
        if data.plan.problems:
            lines.append(
                f"{len(data.plan.problems):,} problem cells are marked in the sheet; the status column says "
                "why."
            )
        else:
            lines.append("No problems found.")
        lines.append(describe_key_source())
        append_log(book, lines)
        sheets.set_status_bar(book.app, False)
        self.tell(book, "\n".join(lines))
        return summary

    def _write_statuses(self, book: Any, data: DischargeInput) -> bool:
        """Fresh status (the problem, or empty) for every row that is not done or left alone; False on Stop.

        Done rows and rows hidden in the sheet keep what they have; the open rows lose old marks.
        """
        sheet = book.sheets[data.sheet_name]
        columns = data.columns
        decided = {row.row: row.decided for row in data.plan.rows if row.decided is not None}
        open_rows = [
            row.row
            for row in data.plan.rows
            if not (row.decided and (row.decided.kind == "skipped_done" or row.decided.left_alone))
        ]
        target = sheets.SheetWriter(sheet, columns, guard=data.guard)
        target.write_headers()
        writer = sheets.BatchWriter(target, sheets.known_results(data.rows, columns))
        last_col = max(columns.last, len(data.rows[data.items.header_row - 1]))
        for start in range(0, len(open_rows), CHUNK):
            if self.stopping:
                return False
            chunk = open_rows[start : start + CHUNK]
            for first, last in sheets.runs(chunk):
                sheet.range((first, columns.first), (last, last_col)).color = None
            for row in chunk:
                outcome = decided.get(row)
                writer.add(row, False, outcome.status if outcome else "")
            writer.close()
            self.progress(
                book,
                f"Alma Tools: checking sheet '{data.sheet_name}': {start + len(chunk):,} of "
                f"{len(open_rows):,} rows",
            )
        return True

    def _mark_problems(self, book: Any, data: DischargeInput) -> None:
        sheet = book.sheets[data.sheet_name]
        cells: dict[int, list[int]] = {}
        for problem in data.plan.problems:
            if not problem.column:
                continue
            column = column_of(data.rows, data.items.header_row, data.items.label(problem.column))
            if column is not None:
                cells.setdefault(column, []).append(problem.row)
        for column, rows in cells.items():
            for first, last in sheets.runs(sorted(set(rows))):
                sheet.range((first, column), (last, column)).color = sheets.PROBLEM_FILL


@reported
def check(book: Any = None) -> Job:
    """Validate the pasted export without calling Alma, in the background: mark each problem cell and say
    what to fix. Rows that are not done get a fresh status, so pressing Check again shows what is left."""
    return start_job(book, CheckJob(book), "Alma Tools: checking the sheet…")
