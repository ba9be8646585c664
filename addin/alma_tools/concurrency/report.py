"""The statistics as sheets (one layout for every face) and the XLSX and CSV writers.

Why a layout as plain data: the command line writes the workbook with xlsxwriter, the Excel face writes the
same sheets into the open workbook with xlwings. :func:`report_sheets` decides once what goes where (titles,
columns, number formats, widths, table style, conditional formats, chart); each renderer only translates
:class:`SheetSpec` to its library, so the two never drift apart. Nothing here holds an xlsxwriter object.

Sheet order follows the question a collection librarian asks: "Buy more copies?" (volumes that were at
capacity, longest first) comes first, then the full table, the episodes, a chart of copies out over time for
the top volumes, and the data problems.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alma_tools.cells import safe_text
from alma_tools.concurrency.core import KIND_ALL_OUT, Stats
from alma_tools.tables import check_writable

#: Excel's limit of rows per sheet, less room for the title lines and the header
MAX_SHEET_ROWS = 1_048_576 - 16
#: how many volumes the chart shows
CHART_VOLUMES = 5

DATE_TIME = "yyyy-mm-dd hh:mm"
HOURS = "#,##0.0"
RATIO = "0.00"
PERCENT = '0.0"%"'
WHOLE = "#,##0"
TEXT = "@"

#: number format of each column that is not text
_FORMATS = {
    "Copies": WHOLE,
    "Loans": WHOLE,
    "Peak Out": WHOLE,
    "Concurrent Episodes": WHOLE,
    "Hours 2+ Out": HOURS,
    "All Copies Out Episodes": WHOLE,
    "Hours All Out": HOURS,
    "% of Period All Out": PERCENT,
    "Loans per Copy": RATIO,
    "Requests": WHOLE,
    "Requests per Copy": RATIO,
    "Open Loans": WHOLE,
    "First Loan": DATE_TIME,
    "Last Return": DATE_TIME,
    "Last All Out": DATE_TIME,
    "Rank": WHOLE,
    "Start": DATE_TIME,
    "End": DATE_TIME,
    "Hours": HOURS,
    "Copies Out": WHOLE,
    "Row": "0",
}
#: column widths in characters; others get one from their header
_WIDTHS = {
    "Title": 40,
    "MMS Id": 21,
    "Permanent Call Number": 22,
    "Description": 16,
    "Problem": 70,
    "Fix": 60,
    "File": 22,
    "Column": 14,
    "Kind": 9,
}
_ID_COLUMNS = ("MMS Id", "Permanent Call Number", "Description", "Title")


@dataclass(frozen=True)
class ConditionalFormat:
    """A conditional format on one column's data cells.

    ``kind``: ``data_bar`` (bar in ``color``), ``color_scale`` (white to ``color``) or ``above_zero``
    (cells above zero filled with ``color``).
    """

    column: str
    kind: str
    color: str


@dataclass(frozen=True)
class ChartSeries:
    """One line of the chart: x values (times) and y values (copies out), columns of the sheet's frame."""

    name: str
    x_column: str
    y_column: str
    points: int


@dataclass
class ChartSpec:
    """A step chart of copies out over time, drawn from the sheet's own data columns."""

    title: str
    x_title: str
    y_title: str
    series: list[ChartSeries]


@dataclass
class SheetSpec:
    """One sheet: title lines, a blank row, then ``frame`` as an Excel table with its header.

    ``header_row`` (0-based) is where the table's header goes, so every renderer puts it at the same place.
    """

    name: str
    title_lines: list[str]
    frame: pd.DataFrame
    number_formats: dict[str, str] = field(default_factory=dict)
    widths: dict[str, float] = field(default_factory=dict)
    table_name: str | None = None
    table_style: str = "Table Style Medium 2"
    conditional_formats: list[ConditionalFormat] = field(default_factory=list)
    freeze_header: bool = True
    text_columns: tuple[str, ...] = ()
    chart: ChartSpec | None = None

    @property
    def header_row(self) -> int:
        return len(self.title_lines) + 1


def report_sheets(stats: Stats) -> list[SheetSpec]:
    """The workbook's sheets, in order."""
    return [
        _buy_more_sheet(stats),
        _table_sheet(
            "Statistics",
            [
                "Concurrent checkouts per volume",
                f"Loans: {stats.source}; as of {stats.as_of:%Y-%m-%d %H:%M}. Volume = MMS Id + call number"
                + (" + description" if stats.by_description else "")
                + ". A loan counts from its loan moment until its return (or the as-of moment if still out).",
                *(f"{note}." for note in stats.notes),
            ],
            stats.volumes.reset_index(drop=True),
            "Statistics",
            [
                ConditionalFormat("Concurrent Episodes", "above_zero", "#C6EFCE"),
                ConditionalFormat("All Copies Out Episodes", "above_zero", "#C6EFCE"),
                ConditionalFormat("Hours 2+ Out", "data_bar", "#5B9BD5"),
                ConditionalFormat("Hours All Out", "data_bar", "#E46C0A"),
                ConditionalFormat("% of Period All Out", "color_scale", "#F8696B"),
            ],
        ),
        _episodes_sheet(stats),
        _chart_sheet(stats),
        _problems_sheet(stats),
    ]


def _table_sheet(
    name: str,
    titles: list[str],
    frame: pd.DataFrame,
    table_name: str,
    conditional: list[ConditionalFormat] | None = None,
) -> SheetSpec:
    return SheetSpec(
        name=name,
        title_lines=titles,
        frame=frame,
        number_formats={c: _FORMATS[c] for c in frame.columns if c in _FORMATS},
        widths={c: _WIDTHS.get(c, max(len(str(c)) + 4, 10)) for c in frame.columns},
        table_name=table_name,
        conditional_formats=conditional or [],
        text_columns=tuple(c for c in frame.columns if c in _ID_COLUMNS),
    )


def _buy_more_sheet(stats: Stats) -> SheetSpec:
    volumes = stats.volumes
    at_capacity = volumes[volumes["Hours All Out"] > 0]
    last_all_out = (
        stats.episodes[stats.episodes["Kind"] == KIND_ALL_OUT].groupby("volume")["End"].max()
        if len(stats.episodes)
        else pd.Series(dtype="datetime64[s]")
    )
    keys = ["Title", "MMS Id", "Permanent Call Number"] + (["Description"] if stats.by_description else [])
    figures = [
        "Copies",
        "Loans",
        "Peak Out",
        "Hours All Out",
        "% of Period All Out",
        "All Copies Out Episodes",
        "Hours 2+ Out",
        "Loans per Copy",
    ]
    if stats.has_requests:
        figures += ["Requests", "Requests per Copy"]
    frame = at_capacity[keys + figures + ["Open Loans"]].copy()
    frame["Last All Out"] = last_all_out.reindex(at_capacity.index).to_numpy()
    frame.insert(0, "Rank", np.arange(1, len(frame) + 1))

    period = (
        f"{stats.period_start:%Y-%m-%d %H:%M} to {stats.as_of:%Y-%m-%d %H:%M} "
        f"({stats.period_hours / 24:,.0f} days)"
        if stats.period_start
        else "no loans"
    )
    titles = [
        "Buy more copies? Volumes where every copy was out at the same time",
        f"Loans export: {stats.source}"
        + (f"   Items export: {stats.items_source}" if stats.items_source else ""),
        f"As of: {stats.as_of:%Y-%m-%d %H:%M} (loans not yet returned count as out until then)",
        f"Period: {period}. {len(volumes):,} volumes, {int(volumes['Loans'].sum()):,} loans, "
        f"{len(at_capacity):,} with all copies out at some time; "
        f"{len(stats.problems):,} data problems (sheet Problems).",
        "Hours All Out is time at capacity: nobody could borrow a copy then, so it is a lower bound on "
        "unmet demand. Volumes with one copy are never listed here (see Statistics).",
        *(f"{note}." for note in stats.notes),
    ]
    if frame.empty:
        titles.append("No volume had all of its copies out at the same time in this period.")
    return _table_sheet(
        "Buy more copies",
        titles,
        frame.reset_index(drop=True),
        "BuyMoreCopies",
        [
            ConditionalFormat("Hours All Out", "data_bar", "#E46C0A"),
            ConditionalFormat("% of Period All Out", "color_scale", "#F8696B"),
            ConditionalFormat("Loans per Copy", "data_bar", "#5B9BD5"),
        ],
    )


def _episodes_sheet(stats: Stats) -> SheetSpec:
    episodes = stats.episodes.drop(columns="volume")
    titles = [
        "Episodes: each stretch of time with two or more copies out (2+ out) or every copy out (all out)",
        "Copies Out is the most copies out at once during the episode.",
    ]
    if len(episodes) > MAX_SHEET_ROWS:
        titles.append(f"Only the first {MAX_SHEET_ROWS:,} of {len(episodes):,} episodes fit in a sheet.")
        episodes = episodes.iloc[:MAX_SHEET_ROWS]
    return _table_sheet(
        "Episodes", titles, episodes, "Episodes", [ConditionalFormat("Hours", "data_bar", "#5B9BD5")]
    )


def _chart_sheet(stats: Stats) -> SheetSpec:
    """Copies out over time for the top volumes, as step lines (the count holds until the next change)."""
    top = stats.volumes[stats.volumes["Hours 2+ Out"] > 0].head(CHART_VOLUMES)
    columns: dict[str, pd.Series] = {}
    series = []
    for number, (volume, row) in enumerate(top.iterrows(), start=1):
        timeline = stats.timeline(volume)
        times = timeline["Time"].to_numpy()
        counts = timeline["Copies Out"].to_numpy()
        # a step: at each change, first the count before it, then the count after it
        step_times = np.repeat(times, 2)
        step_counts = np.r_[0, np.repeat(counts, 2)[:-1]]
        x, y = f"{number}. Time", f"{number}. Copies Out"
        columns[x] = pd.Series(step_times)
        columns[y] = pd.Series(step_counts)
        name = f"{number}. {row['Title'] or row['MMS Id']} ({row['Copies']} copies)"
        series.append(ChartSeries(name=name[:80], x_column=x, y_column=y, points=len(step_times)))
    frame = pd.DataFrame(columns)
    titles = ["Copies out over time for the volumes with the most hours of two or more copies out"]
    titles += [s.name for s in series] or ["No volume had two or more copies out at once."]
    spec = _table_sheet("Copies out over time", titles, frame, "CopiesOut")
    spec.widths = {c: (17 if c.endswith("Time") else 10) for c in frame.columns}
    spec.number_formats = {c: (DATE_TIME if c.endswith("Time") else WHOLE) for c in frame.columns}
    if series:
        spec.chart = ChartSpec(
            title="Copies out over time", x_title="Time", y_title="Copies out", series=series
        )
    return spec


def _problems_sheet(stats: Stats) -> SheetSpec:
    problems = stats.problems
    titles = [
        "Data problems: rows left out or merged, with the fix",
        f"{len(problems):,} problems." if len(problems) else "No problems found in the data.",
    ]
    spec = _table_sheet("Problems", titles, problems, "Problems")
    spec.text_columns = ("Column", "Problem", "Fix", "File")
    return spec


# --- XLSX (xlsxwriter) ----------------------------------------------------------------------------


def write_xlsx(stats: Stats, path: str | os.PathLike[str]) -> Path:
    """Render :func:`report_sheets` into an ``.xlsx`` with xlsxwriter; written beside, then moved in place."""
    import xlsxwriter

    target = Path(path)
    check_writable(target)
    with _replacing(target) as temporary:
        workbook = xlsxwriter.Workbook(
            str(temporary), {"remove_timezone": True, "strings_to_formulas": False}
        )
        workbook.set_properties(
            {
                "title": "Concurrent checkout statistics",
                "subject": f"Loans export {stats.source}",
                "comments": f"As of {stats.as_of:%Y-%m-%d %H:%M}; made by Alma Tools",
            }
        )
        for spec in report_sheets(stats):
            _render(workbook, spec)
        workbook.close()
    return target


@contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """A temporary name beside ``target``, moved over it when writing succeeded.

    A crash or a full disk then never leaves half a file under the name the user asked for, and an
    earlier good file stays until the new one is complete.
    """
    temporary = target.with_name(f".{target.stem}.{os.getpid()}.partial{target.suffix}")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            temporary.unlink()


def _render(workbook: Any, spec: SheetSpec) -> None:
    sheet = workbook.add_worksheet(spec.name)
    sheet.hide_gridlines(2)  # the tables carry their own banding; gridlines only add noise around the titles
    title = workbook.add_format({"bold": True, "font_size": 14, "font_color": "#1F3864"})
    note = workbook.add_format({"italic": True, "font_color": "#595959"})
    for number, line in enumerate(spec.title_lines):
        sheet.write_string(number, 0, line, title if number == 0 else note)

    frame = spec.frame
    top = spec.header_row
    formats = {
        c: workbook.add_format({"num_format": spec.number_formats.get(c, TEXT)}) for c in frame.columns
    }
    for position, column in enumerate(frame.columns):
        sheet.set_column(position, position, spec.widths.get(column, 12), formats[column])
        _write_column(sheet, top + 1, position, frame[column], formats[column], column in spec.text_columns)
    last_row = top + max(len(frame), 1)
    if len(frame.columns):
        sheet.add_table(
            top,
            0,
            last_row,
            len(frame.columns) - 1,
            {
                "name": spec.table_name,
                "style": spec.table_style,
                "columns": [{"header": str(c), "format": formats[c]} for c in frame.columns],
            },
        )
    for conditional in spec.conditional_formats:
        position = list(frame.columns).index(conditional.column)
        sheet.conditional_format(
            top + 1, position, last_row, position, _xlsx_conditional(workbook, conditional)
        )
    if spec.freeze_header:
        sheet.freeze_panes(top + 1, 0)
    # printed for a meeting: every column on the page's width, the header again on each page
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(top)
    if spec.chart is not None:
        sheet.insert_chart(
            top + 1, len(frame.columns) + 1, _xlsx_chart(workbook, spec), {"x_scale": 2.2, "y_scale": 1.8}
        )


def _write_column(sheet: Any, first: int, position: int, values: pd.Series, fmt: Any, as_text: bool) -> None:
    """Write one column by type: text always as a string cell (never a formula), numbers, datetimes."""
    if pd.api.types.is_datetime64_any_dtype(values):
        for offset, value in enumerate(values.dt.to_pydatetime()):
            if not pd.isna(value):
                sheet.write_datetime(first + offset, position, value, fmt)
    elif pd.api.types.is_numeric_dtype(values) and not as_text:
        for offset, value in enumerate(values.to_numpy(dtype=float)):
            if np.isfinite(value):
                sheet.write_number(first + offset, position, value, fmt)
    else:
        for offset, value in enumerate(values.to_numpy(dtype=object)):
            if value is not None and not (isinstance(value, float) and np.isnan(value)) and value != "":
                sheet.write_string(first + offset, position, str(value), fmt)


def _xlsx_conditional(workbook: Any, conditional: ConditionalFormat) -> dict[str, Any]:
    if conditional.kind == "data_bar":
        return {"type": "data_bar", "bar_color": conditional.color, "bar_solid": True, "min_type": "num",
                "min_value": 0}  # fmt: skip
    if conditional.kind == "color_scale":
        return {"type": "2_color_scale", "min_color": "#FFFFFF", "max_color": conditional.color}
    fill = workbook.add_format({"bg_color": conditional.color, "font_color": "#006100"})
    return {"type": "cell", "criteria": ">", "value": 0, "format": fill}


def _xlsx_chart(workbook: Any, spec: SheetSpec) -> Any:
    assert spec.chart is not None
    chart = workbook.add_chart({"type": "scatter", "subtype": "straight"})
    first = spec.header_row + 1
    for series in spec.chart.series:
        x = spec.frame.columns.get_loc(series.x_column)
        y = spec.frame.columns.get_loc(series.y_column)
        last = first + series.points - 1
        chart.add_series(
            {
                "name": series.name,
                "categories": [spec.name, first, x, last, x],
                "values": [spec.name, first, y, last, y],
                "line": {"width": 1.5},
            }
        )
    chart.set_title({"name": spec.chart.title})
    chart.set_x_axis(
        {
            "name": spec.chart.x_title,
            "date_axis": True,
            "num_format": "yyyy-mm-dd",
            "num_font": {"rotation": -45},
        }
    )
    chart.set_y_axis(
        {"name": spec.chart.y_title, "min": 0, "major_unit": 1, "major_gridlines": {"visible": True}}
    )
    chart.set_legend({"position": "bottom"})
    return chart


# --- CSV ------------------------------------------------------------------------------------------


def write_csv(stats: Stats, path: str | os.PathLike[str]) -> Path:
    """The per-volume table as CSV: UTF-8 with a byte-order mark so Excel reads accents, ids as text.

    The contract's columns come first, then the extra figures and ``As Of`` (the moment open loans were
    counted up to, so the file says what it was computed for). Text that would run as a formula in a
    spreadsheet gets Excel's text prefix.
    """
    target = Path(path)
    check_writable(target)
    frame = stats.volumes.reset_index(drop=True).copy()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            frame[column] = values.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
        elif pd.api.types.is_float_dtype(values):
            frame[column] = values.round(2)
        elif not pd.api.types.is_numeric_dtype(values):
            frame[column] = values.astype(object).map(safe_text)
    frame["As Of"] = f"{stats.as_of:%Y-%m-%d %H:%M:%S}"
    with _replacing(target) as temporary:
        frame.to_csv(temporary, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return target


def write_problems_csv(stats: Stats, path: str | os.PathLike[str]) -> Path:
    """The data problems (Row, Column, Problem, Fix, File) as CSV, for a run that writes no workbook."""
    target = Path(path)
    check_writable(target)
    frame = stats.problems.copy()
    for column in ("Column", "Problem", "Fix", "File"):
        frame[column] = frame[column].astype(object).map(safe_text)
    with _replacing(target) as temporary:
        frame.to_csv(temporary, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return target


def problems_csv_path(csv_path: str | os.PathLike[str]) -> Path:
    """``stats.csv`` -> ``stats.problems.csv`` beside it: where the problems go when there is no workbook."""
    path = Path(csv_path)
    return path.with_name(f"{path.stem}.problems.csv")


#: durations up to this many hours are said in hours, longer ones in days
DAYS_AFTER_HOURS = 72.0


def duration_text(hours: float) -> str:
    """``23.0 h`` up to three days, ``254.8 days`` beyond: the unit a person reads at once."""
    if hours > DAYS_AFTER_HOURS:
        return f"{hours / 24:,.1f} days"
    return f"{hours:,.1f} h"


def describe(stats: Stats, top: int = 5, problems_at: str | None = "the Problems sheet") -> list[str]:
    """A few lines for a terminal or a status message: as-of, counts, the top volumes, problems.

    ``problems_at`` says where the problems were written ("the Problems sheet", a file name); None when
    they were not written anywhere.
    """
    volumes = stats.volumes
    lines = [
        f"As of {stats.as_of:%Y-%m-%d %H:%M} (loans still out count as out until then)",
        f"{len(volumes):,} volumes, {int(volumes['Loans'].sum()):,} loans; "
        f"{int((volumes['Hours All Out'] > 0).sum()):,} volumes had every copy out at some time",
        *stats.notes,
    ]
    if len(volumes):
        lines.append(f"Top {min(top, len(volumes))} by hours with every copy out:")
        for _, row in volumes.head(top).iterrows():
            all_out, two_plus = float(row["Hours All Out"]), float(row["Hours 2+ Out"])
            figures = f"{duration_text(all_out)} all out"
            if round(two_plus, 1) != round(all_out, 1):  # equal for every 2-copy volume: said once
                figures += f", {duration_text(two_plus)} 2+ out"
            lines.append(
                f"  {figures}, {row['Copies']} copies, {row['Loans']} loans: {row['Title'] or '(no title)'} "
                f"[{row['MMS Id']} {row['Permanent Call Number']}]".rstrip()
            )
    count = f"{len(stats.problems):,} data problems"
    if not len(stats.problems):
        lines.append(count)
    elif problems_at:
        lines.append(f"{count} (see {problems_at})")
    else:
        lines.append(f"{count} (save with --output or --csv to see them)")
    return lines
