"""Reading a loans export (and optionally items and requests exports) into clean, typed columns.

Why this is more than ``read_csv``: Analytics and Fulfillment exports arrive with title rows above the
header, a footer row, dates as real Excel dates or as text in two orders, times as text or as Excel time
cells, sometimes one combined date-time column, and ids that Excel has damaged. Every row that cannot be used
is listed as a problem (row, column, what is wrong, how to fix it) and left out; nothing is dropped silently
and nothing is guessed silently.

Parsing is whole-column: each text format is tried on the cells that are still unparsed with
``pd.to_datetime(format=...)``, most likely format first, so a million-row CSV costs a few vectorised passes.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alma_tools.errors import InputError
from alma_tools.ids import Kind, check_id_column, damage_codes, institution_suffix
from alma_tools.tables import HEADER_SEARCH_ROWS, Column, Grid, Table, cell_text, find_table, read_grid
from alma_tools.tables.dialect import decode_bytes, sniff_delimiter
from alma_tools.tables.xlsx_columns import LargeSheet, open_large_sheet, read_columns
from alma_tools.words import counted, either

LOAN_COLUMNS = (
    Column("title", "Title", ("Title (Complete)", "Item Title", "Title (Normalized)")),
    Column("mms_id", "MMS Id", ("MMS ID", "Bib MMS Id", "MMS Record ID"), required=True),
    Column("call_number", "Permanent Call Number", ("Call Number", "Permanent Call No"), required=True),
    Column("barcode", "Barcode", ("Item Barcode",), required=True),
    Column("description", "Description", ("Item Description",)),
    Column(
        "loan_date", "Loan Date", ("Loan Date Time", "Loan Datetime", "Loan Date and Time"), required=True
    ),
    Column("loan_time", "Loan Time", ()),
    Column(
        "return_date",
        "Return Date",
        ("Returned Date", "Return Date Time", "Return Datetime", "Return Date and Time", "Returned On"),
        required=True,
    ),
    Column("return_time", "Return Time", ("Returned Time",)),
)
ITEM_COLUMNS = (
    Column("mms_id", "MMS Id", ("MMS ID", "Bib MMS Id", "MMS Record ID"), required=True),
    Column("call_number", "Permanent Call Number", ("Call Number", "Permanent Call No"), required=True),
    Column("barcode", "Barcode", ("Item Barcode",), required=True),
    Column("description", "Description", ("Item Description",)),
)
REQUEST_COLUMNS = (
    Column("mms_id", "MMS Id", ("MMS ID", "Bib MMS Id", "MMS Record ID"), required=True),
    Column(
        "requests", "Requests", ("Number of Requests", "Request Count", "Num of Requests", "Requests Count")
    ),
)
#: columns of every problem list
PROBLEM_COLUMNS = ("Row", "Column", "Problem", "Fix", "File")

#: the orders a text date can be written in (``--date-order``): month first (Alma's US default), day first,
#: year first
DATE_ORDERS = ("mdy", "dmy", "ymd")
#: how each order is written, for messages
ORDER_WORDS = {
    "mdy": "month first (mm/dd/yyyy)",
    "dmy": "day first (dd/mm/yyyy)",
    "ymd": "year first (yyyy-mm-dd)",
}
_ORDER_EXAMPLES = {"mdy": "m/d/yyyy", "dmy": "d/m/yyyy", "ymd": "yyyy-mm-dd"}
#: text dates with the year first: never ambiguous, read whatever the order
_YEAR_FIRST_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d")
#: text dates with the year last, in each order (slashes, dots or dashes)
_YEAR_LAST_FORMATS = {
    "mdy": ("%m/%d/%Y", "%m.%d.%Y", "%m-%d-%Y"),
    "dmy": ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y"),
    "ymd": (),
}
_TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p", "%H:%M:%S.%f")
#: the two leading fields of a year-last date ("05/09/2025", "5.9.2025 08:00"): what decides the order
_YEAR_LAST_RE = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{4}(?:[ T]|$)"
#: CSV files at least this large are read by the fast path of :func:`read_table`
FAST_CSV_BYTES = 2_000_000
#: workbooks with at least this many rows have their table taken by the fast path of :func:`read_table`
FAST_GRID_ROWS = 20_000
_HEAD_CHARACTERS = 256 * 1024
#: stands for the row number in a message made once per distinct id, replaced by each row's number
_ROW_MARK = "\x00row\x00"
#: Excel's day zero for serial dates (1900 date system), right from day 61 (1 March 1900) on: before it
#: Excel counts a 29 February 1900 that never was, and no loans export holds such dates
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
#: serial numbers Excel accepts as dates: 1 (1900-01-01) to 2958465 (9999-12-31)
EXCEL_SERIALS = (1, 2958466)
_ID_FIX = "Correct the cell as the message says (the row is left out until then)"
_COPY_FIX = "Correct the cell as the message says (the row is counted as one copy of its volume meanwhile)"
_TIME_FIX = "Write the time as HH:MM:SS, or make the cell an Excel time"

#: what a loans, items or requests export can be read from (a LargeSheet: a workbook already opened)
Source = str | os.PathLike | pd.DataFrame | list | LargeSheet


@dataclass
class LoansInput:
    """Loans ready for :func:`alma_tools.concurrency.compute`, with the problems found while reading.

    ``loans`` has ``mms_id, call_number, [description], title, barcode`` (text), ``start`` and ``end``
    (datetimes; ``end`` is NaT for a loan still out) and ``row`` (the row the user sees).
    """

    loans: pd.DataFrame
    problems: pd.DataFrame
    source: str
    by_description: bool = False
    items: pd.DataFrame | None = None
    items_source: str | None = None
    requests: pd.DataFrame | None = None
    #: what the reader decided and the user should know (the date order read), for summary and titles
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DateOrder:
    """The order text dates were read in, and the sentence that says so ("" when no text date needed one)."""

    order: str
    note: str = ""


def volume_keys(by_description: bool) -> tuple[str, ...]:
    """The columns that make a volume: MMS Id + call number, plus Description for multi-volume sets."""
    return ("mms_id", "call_number", "description") if by_description else ("mms_id", "call_number")


def problem_frame(rows: Any, column: str, problem: Any, fix: str, source: str) -> pd.DataFrame:
    """A problem list in the common shape; ``problem`` may be one text or one text per row."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(problem, pd.Series):
        problem = problem.to_numpy(object)
    return pd.DataFrame(
        {"Row": rows, "Column": column, "Problem": problem, "Fix": fix, "File": source},
        columns=list(PROBLEM_COLUMNS),
    )


def concat_problems(parts: Sequence[pd.DataFrame], source: str = "") -> pd.DataFrame:
    """The problem lists as one (lists with no rows left out, so none changes a column's type), or an
    empty one in the common shape when no list has a row."""
    filled = [part for part in parts if len(part)]
    return pd.concat(filled, ignore_index=True) if filled else problem_frame([], "", "", "", source)


def read_loans(
    source: Source,
    items: Source | None = None,
    by_description: bool = False,
    requests: Source | None = None,
    date_order: str | None = None,
) -> LoansInput:
    """Read a loans export (file path, DataFrame or sheet values) and, optionally, items and requests.

    ``date_order`` (``mdy``, ``dmy`` or ``ymd``) says how text dates are written; None decides it from the
    file (see :func:`decide_date_order`).
    """
    if date_order is not None and date_order not in DATE_ORDERS:
        raise InputError(f"Date order '{date_order}' is not one of {', '.join(DATE_ORDERS)}.")
    table = read_table(source, LOAN_COLUMNS)
    _require_description(table, by_description)
    item_table, item_frame, item_problems = None, None, None
    if items is not None:
        item_table = read_table(items, ITEM_COLUMNS)
        _require_description(item_table, by_description)
        lent = volume_barcodes(table, by_description)
        item_frame, item_problems = items_from_table(item_table, by_description, reference=lent)
    loans, problems, order = loans_from_table(table, by_description, date_order, reference=item_frame)
    refuse_when_no_loan_is_usable(loans, problems, table.source)
    result = LoansInput(
        loans=loans,
        problems=problems,
        source=table.source,
        by_description=by_description,
        notes=[order.note] if order.note else [],
    )
    result.notes += [note for t in (table, item_table) if t is not None and (note := hidden_rows_note(t))]
    extra = [problems]
    if item_table is not None and item_problems is not None:
        result.items, result.items_source = item_frame, item_table.source
        extra.append(item_problems)
    if requests is not None:
        result.requests, request_problems = requests_from_table(read_table(requests, REQUEST_COLUMNS))
        extra.append(request_problems)
    result.problems = concat_problems(extra, table.source)
    return result


def hidden_rows_note(table: Table) -> str:
    """The sentence saying that rows hidden in the sheet (a filter, or by hand) were counted; "" if none.

    Hidden rows are data like the others (the statistics are of the export), but a user who filtered the
    sheet may expect only what shows: so the summary and the title lines say it, with the way out.
    """
    hidden = table.rows[table.hidden.reindex(table.rows.index, fill_value=False).to_numpy(bool)]
    if hidden.empty:
        return ""
    shown = ", ".join(str(row) for row in hidden.iloc[:3]) + (", …" if len(hidden) > 3 else "")
    rows = f"{counted(len(hidden), 'row', 'rows')} {either(len(hidden), 'is', 'are')}"
    where = either(len(hidden), "row", "rows")
    return (
        f"{rows} hidden in {table.source} (a filter, or by hand; {where} {shown}) and counted like the "
        "others: to leave them out, delete them from the sheet"
    )


#: a year-last text date with a two-digit year ("05/09/25"): Excel saved the date as it showed it
_TWO_DIGIT_YEAR = r"\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}(?:[ T].*)?"


def refuse_when_no_loan_is_usable(loans: pd.DataFrame, problems: pd.DataFrame, source: str) -> None:
    """InputError when every data row was left out: "0 volumes, 0 loans" with exit 0 read as a result.

    The message names the first row's problem and its fix (the usual cause is one for the whole file: a
    two-digit year, a date order that does not fit, a column of the wrong thing).
    """
    if len(loans) or not len(problems):
        return
    first = problems.sort_values("Row", kind="stable").iloc[0]
    hint = ""
    cell = str(first["Problem"]).partition("'")[2].rpartition("'")[0]
    if re.fullmatch(_TWO_DIGIT_YEAR, cell.strip()):
        hint = (
            " The year has two digits: format the date columns with a four-digit year (dd/mm/yyyy, "
            "mm/dd/yyyy or yyyy-mm-dd) before saving, or export the loans again."
        )
    rows = problems["Row"].nunique()
    raise InputError(
        f"None of the loans in {source} could be used ({rows:,} rows, each with a problem). The first: "
        f"row {first['Row']}, {first['Column']}: {first['Problem']}. {first['Fix']}.{hint}"
    )


def read_table(source: Source, columns: Sequence[Column]) -> Table:
    """``find_table(read_grid(source))``, with fast paths for large CSV files and large workbooks.

    A large CSV is decoded and its delimiter chosen by the reader's own functions
    (``tables.dialect.decode_bytes``, ``sniff_delimiter``), its first lines go through
    :func:`~alma_tools.tables.find_table` (the header found and a missing column reported the same way), and
    its body is read by ``pd.read_csv``; anything unusual (bytes that do not decode, a ragged or multi-line
    row, a repeated header) takes the full path. A large workbook is read a column at a time
    (:func:`_read_large_workbook`), or, when a column mixes types, by ``read_grid`` as any other, its rows
    then taken as :func:`_read_large_grid` says.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        table = _read_large_csv(path, columns)
        if table is not None:
            return table
        source = open_large_sheet(path) or path
    if isinstance(source, LargeSheet):  # opened (and its parse started) by the caller, or just above
        table = _read_large_workbook(source, columns)
        if table is not None:
            return table
        source.close()  # read cell by cell: fastexcel's parse is not needed while that reader's runs
        source = source.path
    grid = read_grid(source)
    return _read_large_grid(grid, columns) or find_table(grid, columns)


def _read_large_csv(path: Path, columns: Sequence[Column]) -> Table | None:
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls") or not path.is_file():
        return None
    if path.stat().st_size < FAST_CSV_BYTES:
        return None
    raw = path.read_bytes()
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return None
    # the reader's own decisions (tables): encoding and BOM, then the delimiter
    decoded = decode_bytes(raw, path.name)
    del raw  # a million loans are 100 MB of bytes: the text is all that is needed from here
    if not decoded.lossless:  # bytes that decode to U+FFFD: the full reader says so
        return None
    text = decoded.text
    delimiter = sniff_delimiter(text)
    lines = text[:_HEAD_CHARACTERS].splitlines()[: HEADER_SEARCH_ROWS + 1]
    rows = list(csv.reader(lines, delimiter=delimiter))
    if len(rows) != len(lines):  # a quoted cell spans lines: line numbers would need the full reader
        return None
    head_table = find_table(read_grid(rows, name=path.name), columns, allow_empty=True)
    header_cells = rows[head_table.header_row - 1]
    names = list(head_table.frame.columns)
    if len(names) != len(header_cells) or len(set(names)) != len(names):
        return None
    try:
        body = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            header=None,
            names=names,
            skiprows=head_table.header_row,
            dtype=object,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            index_col=False,
        )
    except (pd.errors.ParserError, ValueError):
        return None
    line_count = text.count("\n") + (0 if text.endswith("\n") else 1)
    if head_table.header_row + len(body) != line_count:  # multi-line cells somewhere: numbering unsure
        return None
    numbers = np.arange(len(body)) + head_table.header_row + 1
    return _body_table(head_table, body, numbers, typed=False, kind="csv")


def _read_large_workbook(sheet: LargeSheet, columns: Sequence[Column]) -> Table | None:
    """A large workbook's table read a column at a time (:mod:`alma_tools.tables.xlsx_columns`).

    The header is found by :func:`~alma_tools.tables.find_table` in the sheet's first rows, as for a large
    CSV; fastexcel's load of the rows below it, each column typed once, is then taken. None, and the sheet
    is read cell by cell as any other, when that module cannot vouch for the cells (a column mixing types,
    say) or the first rows hold no table (the full reader then says what is wrong).
    """
    head_grid = read_grid(sheet.head, sheet=sheet.title, name=sheet.path.name)
    try:
        head_table = find_table(head_grid, columns, allow_empty=True)
    except InputError:
        return None
    body = read_columns(sheet, head_table.header_row)
    if body is None:
        return None
    names = list(head_table.frame.columns)  # the columns find_table kept, at their sheet positions
    body = body[[head_table.positions[name] for name in names]].set_axis(names, axis=1)
    numbers = np.arange(len(body)) + head_table.header_row + 1
    return _body_table(head_table, body, numbers, typed=True, kind="xlsx")


def _read_large_grid(grid: Grid, columns: Sequence[Column]) -> Table | None:
    """A large workbook's table from the cells ``read_grid`` read (python-calamine), without a per-cell pass.

    The header is found by :func:`~alma_tools.tables.find_table` on the top rows, as for a large CSV; the
    rows below it are taken as they are (blank rows and footers dropped alike). None when the grid needs
    the full treatment: hidden rows or formulas (the full reader says what it did with them).
    """
    if len(grid.values) < FAST_GRID_ROWS or grid.hidden_rows or grid.formula_cells:
        return None
    head_grid = dataclasses.replace(
        grid,
        values=grid.values.iloc[: HEADER_SEARCH_ROWS + 1],
        row_numbers=grid.row_numbers[: HEADER_SEARCH_ROWS + 1],
    )
    head_table = find_table(head_grid, columns, allow_empty=True)
    header_at = grid.row_numbers.index(head_table.header_row)
    names = list(head_table.frame.columns)
    if len(names) != grid.values.shape[1] or len(set(names)) != len(names):
        return None
    body = grid.values.iloc[header_at + 1 :].set_axis(names, axis=1).reset_index(drop=True)
    numbers = np.asarray(grid.row_numbers[header_at + 1 :], np.int64)
    return _body_table(head_table, body, numbers, typed=grid.typed, kind=grid.kind)


def _blank(frame: pd.DataFrame) -> np.ndarray:
    """Empty cells, a column at a time: "" (CSV) or None/NaN/NaT (a workbook's empty cell)."""
    if frame.empty:
        return np.zeros(frame.shape, bool)
    return np.column_stack([(values.isna() | (values == "")).to_numpy(bool) for _, values in frame.items()])


def _body_table(
    head_table: Table, body: pd.DataFrame, numbers: np.ndarray, *, typed: bool, kind: str
) -> Table:
    """The data rows below a header found by ``find_table``: blank rows and footers dropped as it does.

    Cells of spaces count as filled here (the columns are cleaned later). A row with an MMS Id and a barcode
    is data; only the others need every cell counted.
    """
    filled = np.full(len(body), 2, np.int64)
    unsure = np.flatnonzero(_blank(body[["mms_id", "barcode"]]).any(axis=1))
    if len(unsure):
        filled[unsure] = (~_blank(body.iloc[unsure])).sum(axis=1)
    substantial = np.flatnonzero(filled >= 2)
    last = substantial[-1] if len(substantial) else -1
    # blank rows anywhere and lone cells after the data (footers: "Applied filters: ..."), as tables drops
    keep = (filled >= 2) | ((filled == 1) & (np.arange(len(body)) < last))
    if not keep.any():
        raise InputError(
            f"{head_table.source} has a header in row {head_table.header_row} but no data rows below it: "
            "export the report again with data, or choose another file."
        )
    rows = pd.Series(numbers, index=body.index)
    whole = keep.all()  # the usual case: no copy of a million rows
    return Table(
        frame=body if whole else body[keep],
        rows=rows if whole else rows[keep],
        header_row=head_table.header_row,
        source=head_table.source,
        labels=head_table.labels,
        notes=head_table.notes,
        typed=typed,  # False for CSV text, as read_grid says of every CSV
        header_record=head_table.header_record,
        kind=kind,
        sheet=head_table.sheet,
    )


def _require_description(table: Table, by_description: bool) -> None:
    if by_description and "description" not in table.frame:
        raise InputError(
            f"{table.source}: counting by Description needs a Description column, and there is none. "
            "Add the Description column to the export, or leave out --by-description."
        )


def loans_from_table(
    table: Table,
    by_description: bool = False,
    date_order: str | None = None,
    reference: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, DateOrder]:
    """Typed loans, the problems of the rows left out, and the date order the text dates were read in.

    ``reference``: the items export's volumes and barcodes, against which barcodes that lost their
    leading zeros are recognised as the copy they are (see :func:`restore_lost_zeros`).
    """
    frame, rows, source = table.frame, table.rows.to_numpy(np.int64), table.source
    label = _labels(table, LOAN_COLUMNS)
    problems: list[pd.DataFrame] = []
    bad = np.zeros(len(frame), bool)

    def report(mask: np.ndarray, key: str, problem: str | np.ndarray, fix: str) -> None:
        nonlocal bad
        mask = np.asarray(mask, bool) & ~bad
        if mask.any():
            text = problem[mask] if isinstance(problem, np.ndarray) else problem
            problems.append(problem_frame(rows[mask], label(key), text, fix, source))
            bad |= mask

    ragged = table.row_problems.reindex(frame.index, fill_value="").fillna("").astype(str)
    if (ragged != "").any():  # cells shifted by an unquoted comma: the discharge refuses such rows too
        bad = (ragged != "").to_numpy()
        text = ragged[bad].str.replace("the row is not sent until then", "the row is left out until then")
        problems.append(problem_frame(rows[bad], "(the whole row)", text, "Correct the row", source))
    out = pd.DataFrame(index=frame.index)
    keys = volume_keys(by_description)
    cells = {key: _TextColumn.of(frame[key], table.typed) for key in (*keys, "barcode")}
    for key, column in cells.items():
        out[key] = column.text(out.index)
    # titles are cleaned by compute() for the one row per volume it shows
    out["title"] = frame.get("title", "")
    damages = _damaged_ids(cells, rows, label)
    restored = restore_lost_zeros(out, damages, reference, keys, rows, label, source, "the items export")
    if restored is not None:  # counted as the copy they are, and said
        problems.append(restored)
    # two exports appended, one saved through Excel: the same volume has 0031112 and 31112, one copy
    own = _both_barcode_forms(out, cells["barcode"], keys)
    restored = restore_lost_zeros(out, damages, own, keys, rows, label, source, "other rows of this export")
    if restored is not None:
        problems.append(restored)
    for key, damage in damages.items():
        report(damage != "", key, damage, _ID_FIX)
    for key in ("mms_id", "barcode"):
        report((out[key] == "").to_numpy(), key, f"{label(key)} is blank", f"Fill in the {label(key)}")

    order = decide_date_order(frame, rows, label, source, date_order)
    start, start_problems, start_midnight = _moments(frame, "loan_date", "loan_time", label, order.order)
    for mask, key, problem, fix in start_problems:
        report(mask, key, problem, fix)
    report(start.isna().to_numpy(), "loan_date", f"{label('loan_date')} is blank", "Fill in the loan date")
    end, end_problems, end_midnight = _moments(frame, "return_date", "return_time", label, order.order)
    for mask, key, problem, fix in end_problems:
        report(mask, key, problem, fix)
    _report_backwards(report, start, end, end_midnight & ~bad, label)
    for midnight, key in ((start_midnight, "loan_time"), (end_midnight, "return_time")):
        noted = midnight & ~bad  # the row is counted; the list says what was assumed
        if noted.any():
            problems.append(
                problem_frame(
                    rows[noted],
                    label(key),
                    f"{label(key)} is blank: midnight is used",
                    f"Fill in the {label(key)} for exact figures",
                    source,
                )
            )

    out["start"] = start
    out["end"] = end
    out["row"] = rows
    keep = ~bad
    problem_table = concat_problems(problems, source)
    return out.loc[keep].reset_index(drop=True), problem_table, order


def _report_backwards(
    report: Callable[[np.ndarray, str, str | np.ndarray, str], None],
    start: pd.Series,
    end: pd.Series,
    blank_time: np.ndarray,
    label: Callable[[str], str],
) -> None:
    """Returns before their loan; when the return time is blank (midnight was used) the message says so."""
    backwards = (end < start).to_numpy()
    if not backwards.any():
        return
    message = np.full(len(start), "", dtype=object)
    message[backwards] = (
        "the return ("
        + end[backwards].dt.strftime("%Y-%m-%d %H:%M:%S")
        + ") is before the loan ("
        + start[backwards].dt.strftime("%Y-%m-%d %H:%M:%S")
        + ")"
    ).to_numpy(object)
    blank = backwards & blank_time
    if blank.any():
        message[blank] = (
            f"{label('return_time')} is blank, so the return counts from midnight ("
            + end[blank].dt.strftime("%Y-%m-%d %H:%M")
            + "), before the loan ("
            + start[blank].dt.strftime("%Y-%m-%d %H:%M:%S")
            + ")"
        ).to_numpy(object)
        report(blank, "return_time", message, f"Fill in the {label('return_time')}")
    report(
        backwards & ~blank,
        "return_date",
        message,
        "Correct the return date and time (a return after midnight needs the next day's date)",
    )


def items_from_table(
    table: Table, by_description: bool = False, reference: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every copy of each volume (the items export), with problems for rows that name no copy.

    ``reference``: the loans export's volumes and barcodes (:func:`volume_barcodes`), against which an
    item barcode that lost its leading zeros is recognised as the copy that was lent.
    """
    frame, rows, source = table.frame, table.rows.to_numpy(np.int64), table.source
    label = _labels(table, ITEM_COLUMNS)
    out = pd.DataFrame(index=frame.index)
    keys = volume_keys(by_description)
    cells = {key: _TextColumn.of(frame[key], table.typed) for key in (*keys, "barcode")}
    for key, column in cells.items():
        out[key] = column.text(out.index)
    problems = []
    bad = np.zeros(len(out), bool)
    damages = _damaged_ids(cells, rows, label)
    restored = restore_lost_zeros(out, damages, reference, keys, rows, label, source, "the loans export")
    if restored is not None:
        problems.append(restored)
    for key, damage in damages.items():
        mask = (damage != "") & ~bad
        if key == "barcode":  # a barcode that only lost its zeros still names one more copy: counted
            counted = mask & _only_zeros_lost(cells["barcode"])
            if counted.any():
                problems.append(problem_frame(rows[counted], label(key), damage[counted], _COPY_FIX, source))
            mask &= ~counted
        if mask.any():
            problems.append(problem_frame(rows[mask], label(key), damage[mask], _ID_FIX, source))
            bad |= mask
    for key in ("mms_id", "barcode"):
        mask = (out[key] == "").to_numpy() & ~bad
        if mask.any():
            problems.append(
                problem_frame(
                    rows[mask], label(key), f"{label(key)} is blank", f"Fill in the {label(key)}", source
                )
            )
            bad |= mask
    out["row"] = rows
    problem_table = concat_problems(problems, source)
    return out.loc[~bad].reset_index(drop=True), problem_table


def _only_zeros_lost(barcodes: _TextColumn) -> np.ndarray:
    """Rows whose barcode looks as if Excel dropped its leading zeros, and has no other damage.

    In the items export such a row is still one copy of its volume (leaving it out made a volume of four
    copies three, and its hours all out too many); only its barcode is not as on the item.
    """
    codes = damage_codes(barcodes.distinct_text, barcodes.distinct_number, kind="barcode", suffix=None)
    return (codes.to_numpy(object) == "zeros_lost")[barcodes.codes]


def requests_from_table(table: Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Requests per MMS Id: the ``Requests`` column summed, or one request per row when there is none."""
    frame, rows, source = table.frame, table.rows.to_numpy(np.int64), table.source
    label = _labels(table, REQUEST_COLUMNS)
    ids = _TextColumn.of(frame["mms_id"], table.typed)
    mms = ids.text(frame.index)
    bad = np.zeros(len(frame), bool)
    counts = pd.Series(1.0, index=frame.index)
    problems = []
    # a damaged MMS Id (9.91234567890124E+17) matches no volume: its requests were lost without a word
    damage = _damaged_ids({"mms_id": ids}, rows, label)["mms_id"]
    if (damage != "").any():
        bad = damage != ""
        problems.append(problem_frame(rows[bad], label("mms_id"), damage[bad], _ID_FIX, source))
    if "requests" in frame:
        text = _TextColumn.of(frame["requests"]).text(frame.index)
        counts = pd.to_numeric(text, errors="coerce")
        not_count = (counts.isna() | (counts < 0)).to_numpy() & ~bad
        bad = bad | not_count
        if not_count.any():
            problems.append(
                problem_frame(
                    rows[not_count],
                    label("requests"),
                    "'" + text[not_count] + "' is not a number of requests",
                    "Write a whole number (0 if none)",
                    source,
                )
            )
    blank = (mms == "").to_numpy() & ~bad
    if blank.any():
        problems.append(
            problem_frame(rows[blank], label("mms_id"), "MMS Id is blank", "Fill in the MMS Id", source)
        )
    keep = ~(bad | blank)
    out = pd.DataFrame({"mms_id": mms[keep], "requests": counts[keep].astype(float)}).reset_index(drop=True)
    problem_table = concat_problems(problems, source)
    return out, problem_table


def volume_barcodes(table: Table, by_description: bool) -> pd.DataFrame:
    """The distinct (volume keys, barcode) of an export as clean text: what the other export is matched to."""
    keys = (*volume_keys(by_description), "barcode")
    text = {key: _TextColumn.of(table.frame[key], table.typed).text() for key in keys}
    return pd.DataFrame(text).drop_duplicates(ignore_index=True)


#: a barcode of digits that starts with zeros, and the digits after them
_ZERO_LED = r"0+([1-9][0-9]*)"


def restore_lost_zeros(
    out: pd.DataFrame,
    damages: dict[str, np.ndarray],
    reference: pd.DataFrame | None,
    keys: Sequence[str],
    rows: np.ndarray,
    label: Callable[[str], str],
    source: str,
    other: str,
) -> pd.DataFrame | None:
    """Barcodes that equal a barcode of the other export once their lost leading zeros are put back.

    Such a barcode is the same copy: Excel stored 0447203478 as 447203478. Counting it as another copy
    would over-count the copies (and refusing the loans would under-count the time out), so the row is
    counted as that copy, its barcode written as the other export has it, and a problem row says so.
    Only a match within the same volume counts, and only a single one (two zero-led forms of the same
    digits, 0123 and 00123, stay as they are). ``out`` and the barcode's entry of ``damages`` are updated.
    """
    if reference is None or not len(reference) or not len(out):
        return None
    columns = [*keys, "barcode"]
    zero_led = reference[columns].astype(object)
    digits = zero_led["barcode"].str.extract(_ZERO_LED, expand=False)
    zero_led = zero_led.assign(digits=digits)[digits.notna().to_numpy()]
    zero_led = zero_led.drop_duplicates().drop_duplicates([*keys, "digits"], keep=False)
    if zero_led.empty:
        return None
    plain = out["barcode"].str.fullmatch(r"[1-9][0-9]*").fillna(False).to_numpy(bool)
    if not plain.any():
        return None
    candidates = out.loc[plain, columns].rename(columns={"barcode": "digits"})
    candidates["position"] = np.flatnonzero(plain)
    matched = candidates.merge(zero_led, on=[*keys, "digits"], how="inner")
    if matched.empty:
        return None
    position = matched["position"].to_numpy(np.int64)
    shown, restored = matched["digits"].astype(str), matched["barcode"].astype(str)
    problem = problem_frame(
        rows[position],
        label("barcode"),
        label("barcode")
        + " "
        + shown
        + " lost its leading zeros (Excel): it is "
        + restored
        + f" in {other}, the same copy, and is counted as that copy",
        "Export the file again and open it with Alma Tools directly (or import the barcode column as Text)",
        source,
    )
    barcode = out["barcode"].to_numpy(object).copy()
    barcode[position] = restored.to_numpy(object)
    out["barcode"] = barcode
    damages["barcode"][position] = ""
    return problem


def _both_barcode_forms(out: pd.DataFrame, barcodes: _TextColumn, keys: Sequence[str]) -> pd.DataFrame | None:
    """The (volume, barcode) pairs of an export whose barcode digits appear both with and without leading
    zeros (0031112 and 31112): the reference against which its own lost zeros are restored. None (the
    usual case, decided on the distinct barcodes alone) when no digits appear both ways."""
    text = barcodes.distinct_text
    led = text.str.startswith("0").fillna(False).to_numpy(bool)
    stripped = text.where(~led, text.str.lstrip("0"))  # plain digits stay as they are
    plain = ~led & text.str.isdigit().fillna(False).to_numpy(bool)
    shared = set(stripped[led]) & set(text[plain])  # digits written both ways
    if not shared:
        return None
    both = stripped.isin(shared).to_numpy(bool)[barcodes.codes]
    return out.loc[both, [*keys, "barcode"]].drop_duplicates(ignore_index=True)


def _damaged_ids(
    cells: dict[str, _TextColumn], rows: np.ndarray, label: Callable[[str], str]
) -> dict[str, np.ndarray]:
    """Messages ("" if sound) for MMS Ids and barcodes that Excel damaged; such a row would count wrongly.

    A cut MMS Id merges different titles into one volume, and a barcode without its leading zeros becomes
    a second copy, so these rows are left out and listed rather than counted. Each distinct cell is
    checked once (a loans export repeats every id many times); only damaged rows get their own message.
    """
    suffix = institution_suffix(cells["mms_id"].distinct_text)
    result = {}
    checks: tuple[tuple[str, Kind], ...] = (("mms_id", "mms"), ("barcode", "barcode"))
    for key, kind in checks:
        if key not in cells:  # the requests export has MMS Ids only
            continue
        column = cells[key]
        checked = check_id_column(
            column.distinct_text,
            column.distinct_number,
            label=label(key),
            rows=pd.Series(_ROW_MARK, index=column.distinct_text.index),
            kind=kind,
            suffix=suffix,
        ).to_numpy(object)
        messages = np.full(len(column.codes), "", dtype=object)
        damaged = np.flatnonzero(checked[column.codes] != "")
        messages[damaged] = [
            message.replace(_ROW_MARK, str(row))
            for message, row in zip(checked[column.codes[damaged]], rows[damaged], strict=True)
        ]
        result[key] = messages
    return result


def _labels(table: Table, columns: Sequence[Column]) -> Callable[[str], str]:
    """Header as the user wrote it (for messages), falling back to the column's standard name."""
    standard = {c.key: c.label for c in columns}

    def label(key: str) -> str:
        return table.labels.get(key) or standard[key]

    return label


def _uniques(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Codes into the distinct cells of a column (blank cells share the last one).

    Every per-cell step below runs on the distinct cells only and is spread back with ``take``: a year of
    loans has a few hundred distinct dates and a few thousand distinct times, whatever the row count.
    """
    # a typed column (a workbook read a column at a time) is factorized as it is, with no object per cell
    cells = values.to_numpy(dtype=object) if values.dtype == object else values
    codes, uniques = pd.factorize(cells, use_na_sentinel=True)
    distinct = np.empty(len(uniques) + 1, dtype=object)  # the last one stands for the blank cells
    distinct[:-1] = np.asarray(uniques, dtype=object)
    return np.where(codes < 0, len(distinct) - 1, codes), pd.Series(distinct, dtype=object)


@dataclass
class _TextColumn:
    """A column as clean text, kept as codes into its distinct cells (see :func:`_uniques`)."""

    codes: np.ndarray
    distinct_text: pd.Series
    distinct_number: pd.Series

    @classmethod
    def of(cls, values: pd.Series, typed: bool = True) -> _TextColumn:
        """``typed`` False (CSV): nobody knows which cells were numbers, so ``was_number`` is <NA>, as
        :meth:`alma_tools.tables.Table.was_number` has it for the discharge's id checks."""
        codes, distinct = _uniques(values)
        text, was_number = cell_text(distinct)
        if not typed:
            return cls(codes, text, pd.Series(pd.NA, index=distinct.index, dtype="boolean"))
        return cls(codes, text, was_number.astype("boolean"))

    def text(self, index: pd.Index | None = None) -> pd.Series:
        """Clean text of every row (:func:`~alma_tools.tables.cell_text` rules), as an object column.

        Object, not pandas' ``str``: with pyarrow installed ``str`` is Arrow storage, and turning a million
        Python strings into it costs a tenth of a second a column, for no faster statistics."""
        return pd.Series(self.distinct_text.to_numpy(object)[self.codes], index=index, dtype=object)


def decide_date_order(
    frame: pd.DataFrame,
    rows: np.ndarray,
    label: Callable[[str], str],
    source: str,
    given: str | None = None,
) -> DateOrder:
    """The order of the text dates in the loan and return date columns: ``given``, or told by the file.

    A date like 05/09/2025 reads two ways. A first field over 12 can only be a day (day first), a second
    field over 12 only a day (month first); cells with neither are ambiguous. Evidence one way decides the
    whole file; evidence both ways is refused (naming a row of each), since half the dates would be wrong
    whichever order were chosen; no evidence at all means month first, Alma's US default, said as such
    with the way to change it. Date cells (and yyyy-mm-dd text) need no order and are not counted.
    """
    day_first = np.zeros(len(frame), bool)
    month_first = np.zeros(len(frame), bool)
    year_last = np.zeros(len(frame), bool)
    count = 0  # dates (cells, not rows) that tell the order
    columns = [key for key in ("loan_date", "return_date") if key in frame]
    told: dict[str, np.ndarray] = {}  # per column: the text dates that tell the order
    for key in columns:
        day, month, ambiguous = _order_evidence(frame[key])
        told[key] = day | month
        day_first |= day
        month_first |= month
        year_last |= ambiguous
        count += int(day.sum() + month.sum())
    _refuse_misconverted_dates(frame, rows, label, source, told)
    if given is not None:
        note = f"Dates read {ORDER_WORDS[given]}, as the date order given says" if year_last.any() else ""
        return DateOrder(given, note)
    if day_first.any() and month_first.any():
        raise InputError(_both_orders_message(frame, rows, label, source, columns))
    if day_first.any() or month_first.any():
        order = "dmy" if day_first.any() else "mdy"
        dates = counted(count, "date", "dates")
        return DateOrder(order, f"Dates read {ORDER_WORDS[order]}: {dates} had a day over 12")
    if year_last.any():
        return DateOrder(
            "mdy",
            f"Dates read {ORDER_WORDS['mdy']}, Alma's US default: no date has a day over 12, so the file "
            "cannot tell; if they are day first, run again with --date-order dmy (Excel: DateOrder on the "
            "Settings sheet)",
        )
    return DateOrder("mdy")


def _refuse_misconverted_dates(
    frame: pd.DataFrame,
    rows: np.ndarray,
    label: Callable[[str], str],
    source: str,
    told: dict[str, np.ndarray],
) -> None:
    """InputError for a CSV opened in Excel set to the other date order, then saved as a workbook.

    Excel turns the dates it can read its way into date cells (05/09/2025, 5 September, became 9 May)
    and leaves the others as text (13/09/2025). The signature: text dates that tell an order (``told``,
    per column), beside date cells whose day is 12 or less in every one. Those cells are probably
    wrong, and no date order can put them right (a 23-hour overlap was reported as 31 days): refused.
    """
    text_key = min((k for k in told if told[k].any()), key=lambda k: rows[told[k]][0], default=None)
    if text_key is None:
        return
    text_at = int(np.flatnonzero(told[text_key])[0])
    first_cell: tuple[int, str] | None = None  # (position, column) of the first date cell
    for key in told:
        if pd.api.types.infer_dtype(frame[key], skipna=True) in ("string", "empty"):  # CSV: text only
            continue
        codes, distinct = _uniques(frame[key])
        is_cell = distinct.map(lambda v: isinstance(v, dt.date)).to_numpy(bool)
        if (distinct[is_cell].map(lambda v: v.day) > 12).any():
            return  # a date cell Excel cannot have swapped: the cells are as exported
        at = np.flatnonzero(is_cell[codes])
        if len(at) and (first_cell is None or rows[at[0]] < rows[first_cell[0]]):
            first_cell = (int(at[0]), key)
    if first_cell is not None:
        cell_at, key = first_cell
        raise InputError(
            f"{source} mixes date cells and dates written as text: row {rows[cell_at]} has {label(key)} "
            f"{pd.Timestamp(frame[key].iloc[cell_at]):%Y-%m-%d} as a date cell, and row {rows[text_at]} has "
            f"{label(text_key)} '{str(frame[text_key].iloc[text_at]).strip()}' as text. This is what Excel "
            "does to a CSV whose dates are written the other way round from its own setting: it turns the "
            "dates it can read its way into date cells (05/09/2025, 5 September, becomes 9 May) and leaves "
            "the rest as text, so the date cells are probably wrong. Open the original export with Alma "
            "Tools directly (or import its date columns as Text in Excel), or make every date a date cell."
        )


def _order_evidence(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: a year-last text date whose first field is over 12, whose second is, and any such date."""
    codes, distinct = _uniques(values)
    text = distinct.map(lambda v: v.strip() if isinstance(v, str) else "")
    fields = text.str.extract(_YEAR_LAST_RE)
    first = pd.to_numeric(fields[0], errors="coerce").to_numpy()
    second = pd.to_numeric(fields[1], errors="coerce").to_numpy()
    with np.errstate(invalid="ignore"):
        day = (first > 12) & (first <= 31) & (second >= 1) & (second <= 12)
        month = (second > 12) & (second <= 31) & (first >= 1) & (first <= 12)
    return day[codes], month[codes], fields[0].notna().to_numpy()[codes]


def _both_orders_message(
    frame: pd.DataFrame, rows: np.ndarray, label: Callable[[str], str], source: str, columns: list[str]
) -> str:
    """The refusal of a file with dates written both ways round, naming the first row of each."""
    found: dict[str, tuple[int, str, str]] = {}
    for key in columns:
        day, month, _ = _order_evidence(frame[key])
        for name, mask in (("dmy", day), ("mdy", month)):
            hits = np.flatnonzero(mask)
            if len(hits) and (name not in found or rows[hits[0]] < found[name][0]):
                found[name] = (int(rows[hits[0]]), label(key), str(frame[key].iloc[hits[0]]).strip())
    day_row, day_label, day_cell = found["dmy"]
    month_row, month_label, month_cell = found["mdy"]
    return (
        f"{source} has dates written both ways round: row {day_row} has {day_label} '{day_cell}' "
        f"(day first: the first number is over 12) and row {month_row} has {month_label} '{month_cell}' "
        "(month first: the second number is over 12). Correct the dates written the other way, or say "
        "which order the file uses with --date-order dmy or --date-order mdy (Excel: DateOrder on the "
        "Settings sheet); dates that do not fit it are then listed as problems."
    )


def datetime_formats(order: str) -> tuple[str, ...]:
    """Text formats of dates and date-times in ``order`` (year-first dates are read in every order)."""
    dates = _YEAR_LAST_FORMATS[order] + _YEAR_FIRST_FORMATS
    return dates + tuple(f"{d}{sep}{t}" for d in dates for sep in (" ", "T") for t in _TIME_FORMATS)


def date_fix(order: str) -> str:
    """How to write a date that could not be read, in the file's order."""
    written = "yyyy-mm-dd" if order == "ymd" else f"{_ORDER_EXAMPLES[order]} or yyyy-mm-dd"
    return f"Write the date as {written}, or make the cell an Excel date"


def _moments(
    frame: pd.DataFrame, date_key: str, time_key: str, label: Callable[[str], str], order: str = "mdy"
) -> tuple[pd.Series, list[tuple[np.ndarray, str, str | np.ndarray, str]], np.ndarray]:
    """Date (+ time when a time column exists) as one datetime column; NaT where blank or unusable.

    A time in the time column replaces the date cell's time of day; a date cell that already holds a time
    (a combined date-time column) is used as it is when the time cell is blank. Returns the moments, the
    problems of unusable rows, and where a blank time made the moment midnight (kept, but worth saying).
    """
    date_cells = frame[date_key]
    formats = datetime_formats(order)
    date, date_blank, date_bad = _spread(lambda cells: _cells_to_datetime(cells, formats), date_cells)
    problems: list[tuple[np.ndarray, str, str | np.ndarray, str]] = [
        (date_bad, date_key, _quoted(date_cells, date_bad, label(date_key), "is not a date"), date_fix(order))
    ]
    if time_key not in frame:
        return date, problems, np.zeros(len(frame), bool)
    time_cells = frame[time_key]
    seconds, time_blank, time_bad = _clock_times(time_cells)
    problems.append(
        (time_bad, time_key, _quoted(time_cells, time_bad, label(time_key), "is not a time"), _TIME_FIX)
    )
    problems.append(
        (
            date_blank & ~time_blank & ~time_bad,
            date_key,
            f"{label(time_key)} is filled in but {label(date_key)} is blank",
            f"Fill in the {label(date_key)}, or clear the {label(time_key)}",
        )
    )
    has_time = ~time_blank & ~time_bad
    combined = date.dt.normalize() + pd.to_timedelta(seconds, unit="s")
    moment = date.where(~has_time, combined)
    moment = moment.where(~(date_bad | time_bad | (date_blank & ~time_blank)))
    midnight = time_blank & ~date_blank & ~date_bad & (date == date.dt.normalize()).to_numpy()
    return moment, problems, midnight


def _spread(
    parse: Callable[[pd.Series], tuple[Any, np.ndarray, np.ndarray]], values: pd.Series
) -> tuple[Any, np.ndarray, np.ndarray]:
    """Run a cell parser on the distinct cells of ``values`` and spread the results back to every row."""
    codes, distinct = _uniques(values)
    parsed, blank, bad = parse(distinct)
    if isinstance(parsed, pd.Series):
        parsed = pd.Series(parsed.to_numpy()[codes], index=values.index)
    else:
        parsed = parsed[codes]
    return parsed, blank[codes], bad[codes]


def _clock_times(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times of day: ``HH:MM:SS`` text read from its bytes, anything else by :func:`_cells_to_seconds`.

    Why: a time column has tens of thousands of distinct values, so even parsing each distinct one costs
    seconds on a million rows, while the digits of fixed-width ``HH:MM:SS`` text are a few numpy operations.
    """
    raw = values.to_numpy(dtype=object)
    try:
        chars = np.asarray(raw, dtype="S9").view(np.uint8).reshape(len(raw), 9)
    except (UnicodeEncodeError, TypeError, ValueError):  # not all ASCII text: take the general path
        return _spread(_cells_to_seconds, values)
    fits = (chars[:, 2] == ord(":")) & (chars[:, 5] == ord(":")) & (chars[:, 8] == 0)
    pairs = []
    for tens, ones in ((0, 1), (3, 4), (6, 7)):
        high, low = chars[:, tens] - np.uint8(ord("0")), chars[:, ones] - np.uint8(ord("0"))
        fits &= (high <= 9) & (low <= 9)  # uint8: characters below "0" wrap round to large numbers
        pairs.append(high.astype(np.int32) * 10 + low)
    hours, minutes, secs = pairs
    fits &= (hours < 24) & (minutes < 60) & (secs < 60)
    seconds = np.where(fits, hours * 3600 + minutes * 60 + secs, np.nan)
    blank = np.zeros(len(raw), bool)
    bad = np.zeros(len(raw), bool)
    rest = ~fits
    if rest.any():
        seconds[rest], blank[rest], bad[rest] = _spread(_cells_to_seconds, values[rest])
    return seconds, blank, bad


def _quoted(cells: pd.Series, mask: np.ndarray, label: str, what: str) -> np.ndarray:
    """``<label> '<cell>' <what>`` for the masked rows (only those are built)."""
    message = np.full(len(cells), "", dtype=object)
    if mask.any():
        shown = cell_text(cells[mask])[0]
        message[mask] = (label + " '" + shown + "' " + what).to_numpy(object)
    return message


def _kinds(values: pd.Series) -> pd.Series:
    """The kind of each cell of a mixed column (only XLSX and sheet columns get here)."""

    def kind(value: Any) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
            return "blank"
        if isinstance(value, str):
            return "blank" if not value.strip() else "text"
        if isinstance(value, bool):
            return "other"
        if isinstance(value, (int, float, np.integer, np.floating)):
            return "number"
        if isinstance(value, dt.datetime):
            return "datetime"
        if isinstance(value, dt.date):
            return "date"
        if isinstance(value, dt.time):
            return "time"
        if isinstance(value, dt.timedelta):
            return "timedelta"
        return "other"

    return values.map(kind)


def _cells_to_datetime(values: pd.Series, formats: Sequence[str]) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Dates or date-times from text, Excel serial numbers and date cells; returns (moments, blank, bad)."""
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
        blank = (text == "").to_numpy()
        parsed = _parse_text(text[~blank], formats)
        result[parsed.index] = parsed
        return result, blank, ~blank & result.isna().to_numpy()
    kinds = _kinds(values)
    blank = (kinds == "blank").to_numpy()
    for kind in ("datetime", "date"):
        mask = kinds == kind
        if mask.any():
            result[mask] = pd.to_datetime(pd.Series(list(values[mask]), index=values.index[mask]))
    mask = kinds == "number"
    if mask.any():
        serial = values[mask].astype(float)
        ok = (serial >= EXCEL_SERIALS[0]) & (serial < EXCEL_SERIALS[1])
        result[serial.index[ok]] = from_excel_serial(serial[ok])
    mask = kinds == "text"
    if mask.any():
        text = values[mask].astype(str).str.strip()
        result[text.index] = _parse_text(text, formats)
    return result, blank, ~blank & result.isna().to_numpy()


def from_excel_serial(days: pd.Series) -> pd.Series:
    """Excel serial day numbers (days since :data:`EXCEL_EPOCH`, the fraction the time of day) as
    datetimes to the second: the one conversion, for loans cells, the writer and the Excel face's as-of."""
    return EXCEL_EPOCH + pd.to_timedelta(days.astype(float).round(5) * 86400, unit="s").dt.round("s")


def excel_serial_datetime(day: float) -> dt.datetime:
    """One Excel serial day number as a datetime (a cell holding a date with no date format)."""
    return from_excel_serial(pd.Series([day])).iloc[0].to_pydatetime()


def to_excel_serial(moments: pd.Series) -> pd.Series:
    """Datetimes as Excel serial day numbers (NaN for NaT): what a date cell stores."""
    return (moments - EXCEL_EPOCH) / pd.Timedelta(days=1)


def _cells_to_seconds(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time of day in seconds from text, Excel time fractions and time cells: (seconds, blank, bad)."""
    seconds = pd.Series(np.nan, index=values.index)
    midnight = pd.Timestamp("1900-01-01")
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
        blank = (text == "").to_numpy()
        parsed = _parse_text(text[~blank], _TIME_FORMATS)
        seconds[parsed.index] = (parsed - midnight).dt.total_seconds()
        return seconds.to_numpy(), blank, ~blank & seconds.isna().to_numpy()
    kinds = _kinds(values)
    blank = (kinds == "blank").to_numpy()
    mask = kinds == "number"
    if mask.any():
        fraction = values[mask].astype(float)
        ok = (fraction >= 0) & (fraction < 1)
        seconds[fraction.index[ok]] = (fraction[ok] * 86400).round()
    for kind in ("time", "datetime"):  # Excel time cells arrive as time, or as a datetime on 1899-12-30/31
        mask = kinds == kind
        if mask.any():
            seconds[mask] = values[mask].map(
                lambda v: v.hour * 3600 + v.minute * 60 + v.second + round(v.microsecond / 1e6)
            )
    mask = kinds == "timedelta"
    if mask.any():
        span = pd.to_timedelta(pd.Series(list(values[mask]), index=values.index[mask])).dt.total_seconds()
        seconds[span.index[(span >= 0) & (span < 86400)]] = span
    mask = kinds == "text"
    if mask.any():
        text = values[mask].astype(str).str.strip()
        parsed = _parse_text(text, _TIME_FORMATS)
        seconds[parsed.index] = (parsed - midnight).dt.total_seconds()
    return seconds.to_numpy(), blank, ~blank & seconds.isna().to_numpy()


def _parse_text(text: pd.Series, formats: Sequence[str]) -> pd.Series:
    """Parse text cells with the given formats, each vectorised, the most common format in a sample first.

    Returns the parsed cells only (NaT where no format fits). Trying formats in turn on what is still
    unparsed keeps a column that mixes two formats working, without per-cell guessing.
    """
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    if text.empty:
        return result
    sample = text.iloc[:: max(len(text) // 200, 1)]
    score: dict[str, int] = {}
    for fmt in formats:  # usually the first format that fits the whole sample fits the column
        score[fmt] = int(pd.to_datetime(sample, format=fmt, errors="coerce").notna().sum())
        if score[fmt] == len(sample):
            break
    remaining = text
    for fmt in sorted(formats, key=lambda f: -score.get(f, 0)):
        if remaining.empty:
            break
        parsed = pd.to_datetime(remaining, format=fmt, errors="coerce")
        ok = parsed.notna()
        if ok.any():
            result[ok.index[ok]] = parsed[ok].astype("datetime64[ns]")
            remaining = remaining[~ok]
    return result
