"""Concurrent checkouts in Excel: the statistics core's sheet specs rendered natively through xlwings.

The same computation and the same layout as ``alma-tools concurrency`` (``report_sheets``); only the
rendering differs (xlwings here, XlsxWriter there).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from alma_tools import sheets
from alma_tools.cells import safe_text
from alma_tools.errors import InputError
from alma_tools.excel import desktop
from alma_tools.excel.background import Job, start_job
from alma_tools.excel.inputs import LOCATIONS_SHEET
from alma_tools.excel.logsheet import LOG_SHEET, append_log
from alma_tools.excel.messages import reported
from alma_tools.excel.settings import read_as_of, read_date_order

#: sheets that are never read as a loans or items export
_OWN_SHEETS = (LOCATIONS_SHEET, LOG_SHEET, "Settings", "Help", "xlwings.conf")
#: the sheet whose items export, when it has one, gives copy counts (volumes with copies never lent)
ITEMS_SHEET = "Items"
#: chart size in points
_CHART_SIZE = (720, 480)


class ConcurrencyJob(Job):
    """Concurrent checkouts on the job's thread: read the loans, compute, add the report sheets one by one
    (Stop between sheets; the status bar says which)."""

    label = "Concurrent checkouts"

    def __init__(self, book: Any, sheet_name: str, as_of: dt.datetime | None) -> None:
        super().__init__(book)
        self.sheet_name = sheet_name
        #: the end of the period (Settings › AsOf); None: now, and a warning when the export is weeks older
        self.as_of = as_of

    def run(self, book: Any) -> Any:
        from alma_tools.concurrency import compute, report_sheets
        from alma_tools.concurrency.core import refuse_a_period_before_every_loan

        sheet = book.sheets[self.sheet_name]
        loans, notes = _read_loans(book, sheet)
        self.progress(book, "Alma Tools: computing concurrent checkouts…", now=True)
        stats = compute(loans, as_of=self.as_of)
        refuse_a_period_before_every_loan(loans, stats, "type a later date in Settings › AsOf (blank: now)")
        warning = stale_as_of_warning(loans, stats) if self.as_of is None else ""
        if warning:
            stats.notes.append(warning)  # on the report's title lines too, as the command line's workbook
        specs = report_sheets(stats)
        added: list[str] = []
        after = sheet  # the report sits next to the loans it was made from
        for number, spec in enumerate(specs, start=1):
            if self.stopping:
                notes.append(f"Stopped: {len(added)} of {len(specs)} sheets were added.")
                break
            self.progress(
                book, f"Alma Tools: writing sheet {number} of {len(specs)} ({spec.name})…", now=True
            )
            after = render_sheet(book, spec, after)
            added.append(after.name)
        if added:
            book.sheets[added[0]].activate()
        lines = [
            f"Concurrent checkouts of sheet '{sheet.name}' as of {stats.as_of:%Y-%m-%d %H:%M}: "
            f"{len(stats.volumes):,} volumes, {int(stats.volumes['Loans'].sum()):,} loans, "
            f"{len(stats.problems):,} data problems.",
            *([f"{warning}."] if warning else []),
            "New sheets: " + (", ".join(added) or "none"),
            *notes,
        ]
        append_log(book, lines)
        sheets.set_status_bar(book.app, False)
        self.tell(book, "\n".join(lines))
        return stats


def stale_as_of_warning(loans: Any, stats: Any) -> str:
    """The statistics' warning (``stale_as_of``) when the as-of defaulted to now weeks after the export's
    latest loan or return, with the fix in Excel's words; "" when there is nothing to warn about."""
    from alma_tools.concurrency.core import stale_as_of

    stale = stale_as_of(loans, stats)
    if stale is None:
        return ""
    return stale.warning(
        f"type {stale.latest_text} (or the date the export was made) in Settings › AsOf and press "
        "Concurrent checkouts again"
    )


def _read_loans(book: Any, sheet: Any) -> tuple[Any, list[str]]:
    """The loans on ``sheet``, with copy counts from the Items sheet when it holds an items export."""
    from alma_tools.concurrency import read_loans

    date_order = read_date_order(book)
    loans_rows = sheets.sheet_rows(sheet)
    notes: list[str] = []
    items_rows = None
    names = [s.name for s in book.sheets]
    if ITEMS_SHEET in names and sheet.name != ITEMS_SHEET:
        candidate = sheets.sheet_rows(book.sheets[ITEMS_SHEET])
        if sum(1 for row in candidate if any(c not in (None, "") for c in row)) > 1:
            items_rows = candidate
    try:
        loans = read_loans(loans_rows, items=items_rows, date_order=date_order)
    except InputError as error:
        if items_rows is None:
            raise
        # the loans alone still give every figure except never-lent copies
        loans = read_loans(loans_rows, date_order=date_order)
        notes.append(f"The {ITEMS_SHEET} sheet was not used for copy counts: {error}")
    loans.source = f"sheet '{sheet.name}'"
    if loans.items_source:
        loans.items_source = f"sheet '{ITEMS_SHEET}'"
    return loans, notes


@reported
def concurrency(book: Any = None, as_of: dt.datetime | None = None) -> Job:
    """Concurrent-checkout statistics of the loans on the active sheet, as new formatted sheets of this
    book, made in the background; ``as_of`` defaults to Settings › AsOf, and an empty AsOf to now (with a
    warning when the export's latest loan or return is weeks older). The same computation and sheet layout
    as ``alma-tools concurrency`` (``report_sheets``): only the rendering differs."""
    sheet = book.sheets.active
    if sheet.name in _OWN_SHEETS:
        raise InputError(
            f"The active sheet is '{sheet.name}': click the sheet where the loans export is pasted, then "
            "press Concurrent checkouts again"
        )
    if as_of is None:
        as_of = read_as_of(book)  # a date that is not one is refused here, before any work
    return start_job(book, ConcurrencyJob(book, sheet.name, as_of), "Alma Tools: reading the loans…")


def _unique(name: str, taken: set[str], limit: int = 31) -> str:
    """``name``, or ``name (2)``, ``name (3)``… so an earlier report is never overwritten."""
    if name.casefold() not in taken:
        return name[:limit]
    number = 2
    while True:
        candidate = f"{name[: limit - 5]} ({number})"
        if candidate.casefold() not in taken:
            return candidate
        number += 1


def render_sheet(book: Any, spec: Any, after: Any) -> Any:
    """Write one :class:`~alma_tools.concurrency.report.SheetSpec` as a new sheet after ``after``.

    Titles on top, then the frame as an Excel table (one write for header and data), number formats and
    widths per column, conditional formats, a frozen header, and the chart as a native Excel chart.
    """
    name = _unique(spec.name, {s.name.casefold() for s in book.sheets})
    sheet = book.sheets.add(name, after=after)
    if spec.title_lines:
        sheet.range((1, 1)).value = [[safe_text(line)] for line in spec.title_lines]
        sheet.range((1, 1)).font.bold = True
        sheet.range((1, 1)).font.size = 14
    frame = spec.frame
    top = spec.header_row + 1  # 1-based row of the table's header
    width = max(len(frame.columns), 1)
    last = top + max(len(frame), 1)
    columns = {column: position for position, column in enumerate(frame.columns, start=1)}
    for column in spec.text_columns:
        # ids stay text: the cells are text before the values arrive, so Excel never reads them as numbers
        sheet.range((top + 1, columns[column]), (last, columns[column])).number_format = "@"
    sheet.range((top, 1)).value = sheets.frame_values(frame)
    for column, number_format in spec.number_formats.items():
        sheet.range((top + 1, columns[column]), (last, columns[column])).number_format = number_format
    for column, size in spec.widths.items():
        sheet.range((top, columns[column])).column_width = size
    if spec.table_name and len(frame.columns):
        taken = {t.name.casefold() for s in book.sheets for t in s.tables}
        sheet.tables.add(
            source=sheet.range((top, 1), (last, width)),
            name=_unique(spec.table_name, taken, limit=255).replace(" (", "_").replace(")", ""),
            table_style_name=spec.table_style.replace(" ", ""),
        )
    for rule in spec.conditional_formats:
        # one rule over a block of columns (the weeks sheet's week columns share one colour scale)
        right = columns[rule.last_column] if rule.last_column else columns[rule.column]
        cells = sheet.range((top + 1, columns[rule.column]), (last, right))
        if rule.kind == "data_bar":
            cells.conditional_formats.add_data_bar(rule.color, minimum=0)
        elif rule.kind == "color_scale":
            cells.conditional_formats.add_color_scale(["#FFFFFF", rule.color])
        else:
            cells.conditional_formats.add_cell_value("greater_than", 0, fill_color=rule.color)
    if spec.freeze_header:
        desktop.freeze_rows(sheet, top)  # titles and header stay in view while scrolling
    if spec.chart is not None and spec.chart.series:
        _render_chart(sheet, spec, top, width)
    return sheet


def _render_chart(sheet: Any, spec: Any, top: int, width: int) -> None:
    """A native horizontal bar chart of the table's first ``rows`` rows (top row at the top of the chart).

    Excel takes a chart's data from one block, and the categories and series columns need not be side by
    side in the table, so they are copied into a chart-data block right of the table first.
    """
    chart_spec = spec.chart
    names = [series.name for series in chart_spec.series]
    block = spec.frame[[chart_spec.categories_column, *(series.column for series in chart_spec.series)]]
    block = block.iloc[: chart_spec.rows].set_axis([chart_spec.y_title, *names], axis=1)
    if block.empty:
        return
    first_column = width + 2
    sheet.range((top - 1, first_column)).value = [["Chart data"]]
    sheet.range((top, first_column)).value = sheets.frame_values(block.reset_index(drop=True))
    source = sheet.range((top, first_column), (top + len(block), first_column + len(names)))
    chart = sheet.charts.add(left=40, top=15 * (top + 2), width=_CHART_SIZE[0], height=_CHART_SIZE[1])
    chart.set_source_data(source)
    chart.chart_type = "bar_clustered"
    chart.title = chart_spec.title
    chart.category_axis.reverse_order = True  # the first (longest) row at the top, as in the table
    chart.category_axis.title = chart_spec.y_title
    chart.value_axis.title = chart_spec.x_title
    desktop.color_series(chart, [series.color for series in chart_spec.series])
