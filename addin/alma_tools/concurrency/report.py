"""The statistics as sheets (one layout for every face) and the XLSX and CSV writers.

Why a layout as plain data: the command line writes the workbook with xlsxwriter, the Excel face writes the
same sheets into the open workbook with xlwings. :func:`report_sheets` decides once what goes where (titles,
columns, number formats, widths, table style, conditional formats, chart); each renderer only translates
:class:`SheetSpec` to its library, so the two never drift apart. Nothing here holds an xlsxwriter object.

Sheet order follows the question a collection librarian asks: "Buy more copies?" (volumes that were at
capacity, longest first) comes first, then a bar chart of the top 20 (hours all out beside hours 2+ out),
the weeks at capacity of the top volumes (when in the year the shortage was), the full table, the episodes
of the top volumes (every episode goes to ``<name>.episodes.csv``) and the data problems.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from xlsxwriter.utility import xl_col_to_name, xl_range

from alma_tools import files
from alma_tools.cells import safe_text
from alma_tools.concurrency.core import KIND_ALL_OUT, Stats, weeks_at_capacity
from alma_tools.concurrency.loans import to_excel_serial
from alma_tools.words import counted

#: how many volumes the bar chart shows
CHART_VOLUMES = 20
#: how many volumes (the top of the ranking) the Weeks at capacity sheet shows
WEEK_VOLUMES = 30
#: the Episodes sheet holds the episodes of this many volumes, the top of the ranking; the CSV has all
EPISODE_VOLUMES = 100

DATE_TIME = "yyyy-mm-dd hh:mm"
HOURS = "#,##0.0"
RATIO = "0.00"
PERCENT = '0.0"%"'
WHOLE = "#,##0"
#: hours with zero shown as an empty cell, so the weeks at capacity stand out in the colour scale
WHOLE_OR_BLANK = '#,##0;-#,##0;""'
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
    """A conditional format on the data cells of one column, or of a block of columns sharing one scale.

    ``kind``: ``data_bar`` (bar in ``color``), ``color_scale`` (white to ``color``) or ``above_zero``
    (cells above zero filled with ``color``). ``last_column``: the block runs from ``column`` to it (the
    week columns of the Weeks at capacity sheet, one scale for all of them); None for one column.
    """

    column: str
    kind: str
    color: str
    last_column: str | None = None


@dataclass(frozen=True)
class ChartSeries:
    """One series of the chart: its legend name and the sheet's column holding its values."""

    name: str
    column: str
    color: str = ""


@dataclass(frozen=True)
class ChartSpec:
    """A chart over the first ``rows`` data rows of the sheet's own table.

    ``kind="bar"``: horizontal bars, one group per row, labelled by ``categories_column`` (top row at the
    top), one bar per series; ``x_title`` names the horizontal (value) axis, ``y_title`` the vertical one.
    """

    title: str
    categories_column: str
    series: tuple[ChartSeries, ...]
    rows: int
    x_title: str
    y_title: str
    kind: str = "bar"


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


def report_sheets(stats: Stats, episodes_file: str | None = None) -> list[SheetSpec]:
    """The workbook's sheets, in order; ``episodes_file`` is where every episode was written (its name)."""
    return [
        _buy_more_sheet(stats),
        _chart_sheet(stats),
        _weeks_sheet(stats),
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
        _episodes_sheet(stats, episodes_file),
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
        f"{counted(len(stats.problems), 'data problem', 'data problems')} (sheet Problems).",
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


def _episodes_sheet(stats: Stats, episodes_file: str | None) -> SheetSpec:
    """The episodes of the top volumes; a million loans have some 300,000 episodes, which belong in a CSV."""
    top = stats.volumes.index[:EPISODE_VOLUMES]
    shown = stats.episodes[stats.episodes["volume"].isin(top)].drop(columns="volume")
    titles = [
        "Episodes: each stretch of time with two or more copies out (2+ out) or every copy out (all out)",
        "Copies Out is the most copies out at once during the episode.",
    ]
    if len(shown) < len(stats.episodes):
        where = episodes_file or "the episodes CSV the command line writes beside the workbook"
        titles.append(
            f"The {len(shown):,} episodes of the {len(top):,} volumes ranked first (of "
            f"{len(stats.episodes):,} episodes); every episode is in {where}."
        )
    return _table_sheet(
        "Episodes", titles, shown, "Episodes", [ConditionalFormat("Hours", "data_bar", "#5B9BD5")]
    )


def _volume_label(volumes: pd.DataFrame) -> pd.Series:
    """What a chart calls a volume: its title (or MMS Id) and call number, short enough for an axis."""
    title = volumes["Title"].where(volumes["Title"] != "", volumes["MMS Id"]).astype(str)
    short = title.where(title.str.len() <= 45, title.str[:44] + "…")
    return short + " (" + volumes["Permanent Call Number"].astype(str) + ")"


def _chart_sheet(stats: Stats) -> SheetSpec:
    """The top volumes by hours all out as horizontal bars: hours all out beside hours 2+ out."""
    top = stats.volumes[stats.volumes["Hours All Out"] > 0].head(CHART_VOLUMES)
    frame = pd.DataFrame(
        {
            "Rank": np.arange(1, len(top) + 1),
            "Volume": _volume_label(top).to_numpy(object),
            "Copies": top["Copies"].to_numpy(),
            "Hours All Out": top["Hours All Out"].to_numpy(),
            "Hours 2+ Out": top["Hours 2+ Out"].to_numpy(),
        }
    )
    titles = [
        f"Top {len(top)} volumes by hours with every copy out",
        "Orange: hours when every copy was out (nobody could borrow one). Blue: hours when two or more "
        "copies were out. The same figures are on the Buy more copies sheet.",
    ]
    if top.empty:
        titles.append("No volume had all of its copies out at the same time in this period.")
    spec = _table_sheet("Top 20 chart", titles, frame, "TopVolumes")
    spec.text_columns = ("Volume",)
    spec.widths["Volume"] = 50
    if len(top):
        spec.chart = ChartSpec(
            title="Hours with every copy out, and with two or more out",
            categories_column="Volume",
            series=(
                ChartSeries("Hours all out", "Hours All Out", "#E46C0A"),
                ChartSeries("Hours 2+ out", "Hours 2+ Out", "#5B9BD5"),
            ),
            rows=len(top),
            x_title="Hours",
            y_title="Volume",
            kind="bar",
        )
    return spec


def _weeks_sheet(stats: Stats) -> SheetSpec:
    """Top volumes as rows, the weeks of the period as columns: hours every copy was out that week."""
    top = stats.volumes[stats.volumes["Hours All Out"] > 0].head(WEEK_VOLUMES)
    hours, weeks = weeks_at_capacity(stats, top.index)
    frame = pd.DataFrame(
        {
            "Rank": np.arange(1, len(top) + 1),
            "Title": top["Title"].to_numpy(object),
            "Permanent Call Number": top["Permanent Call Number"].to_numpy(object),
            "Copies": top["Copies"].to_numpy(),
        }
    )
    names = [f"{week:%Y-%m-%d}" for week in weeks]  # ISO: a sheet about misread dates must not add one
    for position, name in enumerate(names):
        frame[name] = hours.iloc[:, position].round(2).to_numpy()
    titles = [
        f"Weeks at capacity: the top {len(top)} volumes, hours every copy was out in each week",
        "Each column is a week, headed by its Monday (yyyy-mm-dd); the darker the cell, the longer nobody "
        "could borrow a copy that week (168 hours: the whole week). An empty cell: not at capacity.",
    ]
    if top.empty:
        titles.append("No volume had all of its copies out at the same time in this period.")
    conditional = (
        [ConditionalFormat(names[0], "color_scale", "#F8696B", last_column=names[-1])] if names else []
    )
    spec = _table_sheet("Weeks at capacity", titles, frame, "WeeksAtCapacity", conditional)
    spec.number_formats.update({name: WHOLE_OR_BLANK for name in names})
    spec.widths.update({name: 11 for name in names})
    spec.widths["Title"] = 34
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


def episodes_csv_path(workbook: str | os.PathLike[str]) -> Path:
    """``stats.xlsx`` -> ``stats.episodes.csv`` beside it: every episode, written with the workbook."""
    path = Path(workbook)
    return path.with_name(f"{path.stem}.episodes.csv")


def write_xlsx(stats: Stats, path: str | os.PathLike[str]) -> Path:
    """Render :func:`report_sheets` into an ``.xlsx`` with xlsxwriter; written beside, then moved in place.

    Every episode goes to :func:`episodes_csv_path` (the workbook's Episodes sheet holds the top volumes').
    """
    import xlsxwriter

    target = Path(path)
    files.check_writable(target)
    episodes = write_episodes_csv(stats, episodes_csv_path(target))
    with files.replacing(target) as temporary:
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
        for spec in report_sheets(stats, episodes.name):
            _render(workbook, spec)
        workbook.close()
    return target


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
    if len(frame) and len(frame.columns):
        _append_rows(sheet, _rows_xml(frame, top + 1, formats, spec.text_columns))
        sheet._check_dimensions(top + len(frame), len(frame.columns) - 1)
    last_row = top + max(len(frame), 1)
    if len(frame.columns):
        _add_table(sheet, spec, formats, top, last_row)
    names = list(frame.columns)
    for conditional in spec.conditional_formats:
        first_column = names.index(conditional.column)
        last_column = names.index(conditional.last_column or conditional.column)
        sheet.conditional_format(
            top + 1, first_column, last_row, last_column, _xlsx_conditional(workbook, conditional)
        )
    if spec.freeze_header:
        sheet.freeze_panes(top + 1, 0)
    # printed for a meeting: every column on the page's width, the header again on each page
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(top)
    if spec.chart is not None:
        sheet.insert_chart(
            top + 1, len(frame.columns) + 1, _xlsx_chart(workbook, spec), {"x_scale": 2.0, "y_scale": 2.4}
        )


#: characters XML 1.0 cannot hold; Excel writes them as _xHHHH_
_XML_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
#: longest text a cell holds
_CELL_CHARACTERS = 32_767


def _add_table(sheet: Any, spec: SheetSpec, formats: dict[Any, Any], top: int, last_row: int) -> None:
    """The Excel table over the header and data rows: added over the header and first data row (nothing
    else is ever placed on these sheets), its stored range then widened to the data."""
    last_column = len(spec.frame.columns) - 1
    sheet.add_table(
        top,
        0,
        min(last_row, top + 1),
        last_column,
        {
            "name": spec.table_name,
            "style": spec.table_style,
            "columns": [{"header": str(c), "format": formats[c]} for c in spec.frame.columns],
        },
    )
    table = sheet.tables[-1]
    table["range"] = table["a_range"] = xl_range(top, 0, last_row, last_column)
    if table.get("autofilter"):
        table["autofilter"] = table["a_range"]


def _rows_xml(frame: pd.DataFrame, first: int, formats: dict[Any, Any], text_columns: tuple[str, ...]) -> str:
    """The table's data rows as worksheet XML, each column made text in a few vectorised steps: text as
    inline strings (never a formula), numbers as Excel numbers, datetimes as Excel serial days, each with its
    column's format."""
    numbers = range(first + 1, first + 1 + len(frame))
    columns = []
    for position, column in enumerate(frame.columns):
        start = f'<c r="{xl_col_to_name(position)}'
        style = formats[column]._get_xf_index()
        values, is_text = _cell_values(frame[column], column in text_columns)
        if is_text:
            end = f'" s="{style}" t="inlineStr"><is><t xml:space="preserve">'
            cells = [
                f"{start}{r}{end}{v}</t></is></c>" if v else "" for r, v in zip(numbers, values, strict=True)
            ]
        else:
            end = f'" s="{style}"><v>'
            cells = [f"{start}{r}{end}{v}</v></c>" if v else "" for r, v in zip(numbers, values, strict=True)]
        columns.append(cells)
    return "".join(
        f'<row r="{r}">' + "".join(cells) + "</row>"
        for r, cells in zip(numbers, zip(*columns, strict=True), strict=True)
    )


def _cell_values(values: pd.Series, as_text: bool) -> tuple[list[str], bool]:
    """A column's cell contents as XML text ("" for an empty cell), and whether they are text cells."""
    if pd.api.types.is_datetime64_any_dtype(values):
        serial = to_excel_serial(values).to_numpy(float)
        return np.where(np.isfinite(serial), serial.astype(str), "").tolist(), False
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) and not as_text:
        number = values.to_numpy(float)
        exact = values.to_numpy() if pd.api.types.is_integer_dtype(values) else number
        return np.where(np.isfinite(number), exact.astype(str), "").tolist(), False
    text = values.astype(object).where(values.notna(), "").astype(str).str.slice(0, _CELL_CHARACTERS)
    text = text.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")
    text = text.str.replace(_XML_ILLEGAL, lambda m: f"_x{ord(m.group()):04X}_", regex=True)
    return text.tolist(), True


def _append_rows(sheet: Any, xml: str) -> None:
    """Have xlsxwriter write ``xml`` after the rows it holds itself (the title lines and the header).

    xlsxwriter writes a sheet's rows in its ``_write_rows`` step; the data rows follow every row it
    holds, so they are written right after it. (A private method: the tests read every sheet back.)
    """
    write_own_rows = sheet._write_rows

    def write_rows() -> None:
        write_own_rows()
        sheet.fh.write(xml)

    sheet._write_rows = write_rows


def _xlsx_conditional(workbook: Any, conditional: ConditionalFormat) -> dict[str, Any]:
    if conditional.kind == "data_bar":
        return {"type": "data_bar", "bar_color": conditional.color, "bar_solid": True, "min_type": "num",
                "min_value": 0}  # fmt: skip
    if conditional.kind == "color_scale":
        return {"type": "2_color_scale", "min_color": "#FFFFFF", "max_color": conditional.color}
    fill = workbook.add_format({"bg_color": conditional.color, "font_color": "#006100"})
    return {"type": "cell", "criteria": ">", "value": 0, "format": fill}


def _xlsx_chart(workbook: Any, spec: SheetSpec) -> Any:
    """A native horizontal bar chart over the sheet's own columns (top row at the top)."""
    assert spec.chart is not None
    chart_spec = spec.chart
    chart = workbook.add_chart({"type": chart_spec.kind})
    names = list(spec.frame.columns)
    first = spec.header_row + 1
    last = first + chart_spec.rows - 1
    categories = names.index(chart_spec.categories_column)
    for series in chart_spec.series:
        column = names.index(series.column)
        options: dict[str, Any] = {
            "name": series.name,
            "categories": [spec.name, first, categories, last, categories],
            "values": [spec.name, first, column, last, column],
            "gap": 60,
        }
        if series.color:
            options["fill"] = {"color": series.color}
            options["border"] = {"none": True}
        chart.add_series(options)
    chart.set_title({"name": chart_spec.title})
    # in a bar chart xlsxwriter's x axis is the horizontal (value) axis, the y axis the categories
    chart.set_x_axis(
        {"name": chart_spec.x_title, "min": 0, "num_format": "#,##0", "major_gridlines": {"visible": True}}
    )
    chart.set_y_axis({"name": chart_spec.y_title, "reverse": True, "num_font": {"size": 8}})
    chart.set_legend({"position": "top"})
    return chart


# --- CSV ------------------------------------------------------------------------------------------


def write_csv(stats: Stats, path: str | os.PathLike[str]) -> Path:
    """The per-volume table as CSV: UTF-8 with a byte-order mark so Excel reads accents, ids as text.

    The contract's columns come first, then the extra figures and ``As Of`` (the moment open loans were
    counted up to, so the file says what it was computed for). Text that would run as a formula in a
    spreadsheet gets Excel's text prefix.
    """
    target = Path(path)
    files.check_writable(target)
    frame = stats.volumes.reset_index(drop=True).copy()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            frame[column] = values.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
        elif pd.api.types.is_float_dtype(values):
            frame[column] = values.round(2)
        elif not pd.api.types.is_numeric_dtype(values):
            frame[column] = _safe_column(values)
    frame["As Of"] = f"{stats.as_of:%Y-%m-%d %H:%M:%S}"
    with files.replacing(target) as temporary:
        frame.to_csv(temporary, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return target


def _safe_column(values: pd.Series) -> pd.Series:
    """:func:`~alma_tools.cells.safe_text` of every cell, worked out once per distinct text (an episode
    list repeats each title hundreds of times)."""
    codes, uniques = pd.factorize(values.astype(object).to_numpy(), use_na_sentinel=False)
    safe = np.array([safe_text(value) for value in uniques], dtype=object)
    return pd.Series(safe[codes] if len(safe) else values.astype(object), index=values.index)


def write_episodes_csv(stats: Stats, path: str | os.PathLike[str]) -> Path:
    """Every episode (the workbook shows the top volumes' only) as CSV, times as ``yyyy-mm-dd hh:mm:ss``.

    The lines are built a column at a time rather than by ``to_csv``.
    """
    target = Path(path)
    files.check_writable(target)
    frame = stats.episodes.drop(columns="volume")
    fields: list[list[str]] = []
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values):
            iso = values.to_numpy("datetime64[s]").astype(str).tolist()
            fields.append([moment.replace("T", " ") if moment != "NaT" else "" for moment in iso])
        elif pd.api.types.is_float_dtype(values):
            fields.append(values.round(4).to_numpy().astype(str).tolist())
        elif pd.api.types.is_numeric_dtype(values):
            fields.append(values.to_numpy().astype(str).tolist())
        else:  # titles and ids repeat for every episode of a volume: made safe and quoted once each
            codes, distinct = pd.factorize(values.astype(object).to_numpy(), use_na_sentinel=False)
            text = _csv_quoted(_safe_column(pd.Series(distinct, dtype=object)).astype(str))
            fields.append(text.to_numpy(object)[codes].tolist())
    header = ",".join(_csv_quoted(pd.Series([str(c) for c in frame.columns], dtype=object)).tolist())
    lines = [header, *map(",".join, zip(*fields, strict=True))] if fields else [header]
    with files.replacing(target) as temporary:
        temporary.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8-sig", newline="")
    return target


def _csv_quoted(values: pd.Series) -> pd.Series:
    """CSV fields as the ``csv`` module writes them: quoted (quotes doubled) when they hold , " or a line
    break, as they are otherwise."""
    needs = values.str.contains(r'[",\r\n]', regex=True).fillna(False).to_numpy(bool)
    return values.where(~needs, '"' + values.str.replace('"', '""', regex=False) + '"')


def write_problems_csv(stats: Stats, path: str | os.PathLike[str]) -> Path:
    """The data problems (Row, Column, Problem, Fix, File) as CSV, for a run that writes no workbook."""
    target = Path(path)
    files.check_writable(target)
    frame = stats.problems.copy()
    for column in ("Column", "Problem", "Fix", "File"):
        frame[column] = _safe_column(frame[column])
    with files.replacing(target) as temporary:
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
        f"{counted(len(volumes), 'volume', 'volumes')}, "
        f"{counted(int(volumes['Loans'].sum()), 'loan', 'loans')}; "
        f"{counted(int((volumes['Hours All Out'] > 0).sum()), 'volume', 'volumes')} had every copy out "
        "at some time",
        *stats.notes,
    ]
    if len(volumes):
        lines.append(f"Top {min(top, len(volumes))} by hours with every copy out:")
        for _, row in volumes.head(top).iterrows():
            all_out, two_plus = float(row["Hours All Out"]), float(row["Hours 2+ Out"])
            figures = f"{duration_text(all_out)} all out"
            if round(two_plus, 1) != round(all_out, 1):  # equal for every 2-copy volume: said once
                figures += f", {duration_text(two_plus)} 2+ out"
            counts = f"{counted(row['Copies'], 'copy', 'copies')}, {counted(row['Loans'], 'loan', 'loans')}"
            lines.append(
                f"  {figures}, {counts}: {row['Title'] or '(no title)'} "
                f"[{row['MMS Id']} {row['Permanent Call Number']}]".rstrip()
            )
    count = counted(len(stats.problems), "data problem", "data problems")
    if not len(stats.problems):
        lines.append(count)
    elif problems_at:
        lines.append(f"{count} (see {problems_at})")
    else:
        lines.append(f"{count} (save with --output or --csv to see them)")
    return lines
