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
import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alma_tools.errors import InputError
from alma_tools.ids import check_id_column, institution_suffix
from alma_tools.tables import HEADER_SEARCH_ROWS, Column, Table, cell_text, find_table, read_grid

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

#: date orders accepted in text cells: US month/day/year (what Alma exports), ISO, and dotted day.month.year
_DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%d.%m.%Y")
_TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p", "%H:%M:%S.%f")
_DATETIME_FORMATS = tuple(d for d in _DATE_FORMATS) + tuple(
    f"{d}{sep}{t}" for d in _DATE_FORMATS for sep in (" ", "T") for t in _TIME_FORMATS
)
#: CSV files at least this large are read by the fast path of :func:`read_table`
FAST_CSV_BYTES = 2_000_000
_HEAD_BYTES = 256 * 1024
_DELIMITERS = (",", ";", "\t")
#: stands for the row number in a message made once per distinct id, replaced by each row's number
_ROW_MARK = "\x00row\x00"
#: Excel's day zero for serial dates (1900 date system)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_ID_FIX = "Correct the cell as the message says (the row is left out until then)"
_DATE_FIX = "Write the date as m/d/yyyy or yyyy-mm-dd, or make the cell an Excel date"
_TIME_FIX = "Write the time as HH:MM:SS, or make the cell an Excel time"

Source = str | os.PathLike | pd.DataFrame | list


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


def read_loans(
    source: Source,
    items: Source | None = None,
    by_description: bool = False,
    requests: Source | None = None,
) -> LoansInput:
    """Read a loans export (file path, DataFrame or sheet values) and, optionally, items and requests."""
    table = read_table(source, LOAN_COLUMNS)
    _require_description(table, by_description)
    loans, problems = loans_from_table(table, by_description)
    result = LoansInput(loans=loans, problems=problems, source=table.source, by_description=by_description)
    extra = [problems]
    if items is not None:
        item_table = read_table(items, ITEM_COLUMNS)
        _require_description(item_table, by_description)
        result.items, item_problems = items_from_table(item_table, by_description)
        result.items_source = item_table.source
        extra.append(item_problems)
    if requests is not None:
        result.requests, request_problems = requests_from_table(read_table(requests, REQUEST_COLUMNS))
        extra.append(request_problems)
    result.problems = pd.concat(extra, ignore_index=True)
    return result


def read_table(source: Source, columns: Sequence[Column]) -> Table:
    """``find_table(read_grid(source))``, with a fast path for large CSV files.

    Why a fast path: :func:`~alma_tools.tables.read_grid` parses CSV with the ``csv`` module and checks
    every cell in Python, which is right for the odd encodings and quirks of small files but takes about a
    minute for a million loans. A large UTF-8 CSV has its first lines read the same way, so the header is
    found (and a missing column reported) by :func:`~alma_tools.tables.find_table` itself, and its body is
    read by ``pd.read_csv``. Anything unusual (another encoding, a ragged or multi-line row, a repeated
    header) falls back to the full path.
    """
    if isinstance(source, str | os.PathLike):
        table = _read_large_csv(Path(source), columns)
        if table is not None:
            return table
    return find_table(read_grid(source), columns)


def _read_large_csv(path: Path, columns: Sequence[Column]) -> Table | None:
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls") or not path.is_file():
        return None
    if path.stat().st_size < FAST_CSV_BYTES:
        return None
    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"\xff\xfe", b"\xfe\xff")):
        return None
    try:
        text = head[: head.rfind(b"\n") + 1].decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    lines = text.splitlines()[: HEADER_SEARCH_ROWS + 1]
    delimiter = max(_DELIMITERS, key=lambda d: sum(line.count(d) for line in lines))
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
            path,
            sep=delimiter,
            header=None,
            names=names,
            skiprows=head_table.header_row,
            dtype=object,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            index_col=False,
        )
    except (UnicodeDecodeError, pd.errors.ParserError, ValueError):
        return None
    with open(path, "rb") as handle:
        content = handle.read()
    line_count = content.count(b"\n") + (0 if content.endswith(b"\n") else 1)
    if head_table.header_row + len(body) != line_count:  # multi-line cells somewhere: numbering unsure
        return None
    numbers = pd.Series(np.arange(len(body)) + head_table.header_row + 1, index=body.index)
    # Cells of spaces count as filled here (the columns are cleaned later). A row with an MMS Id and a
    # barcode is data; only the others need every cell counted.
    filled = np.full(len(body), 2, np.int64)
    unsure = np.flatnonzero(
        (body["mms_id"].to_numpy(object) == "") | (body["barcode"].to_numpy(object) == "")
    )
    if len(unsure):
        filled[unsure] = (body.iloc[unsure].to_numpy(object) != "").sum(axis=1)
    substantial = np.flatnonzero(filled >= 2)
    last = substantial[-1] if len(substantial) else -1
    # blank rows anywhere and lone cells after the data (footers: "Applied filters: ..."), as tables drops
    keep = (filled >= 2) | ((filled == 1) & (np.arange(len(body)) < last))
    if not keep.any():
        raise InputError(
            f"{path.name} has a header in row {head_table.header_row} but no data rows below it: export the "
            "report again with data, or choose another file."
        )
    whole = keep.all()  # the usual case: no copy of a million rows
    return Table(
        frame=body if whole else body[keep],
        rows=numbers if whole else numbers[keep],
        header_row=head_table.header_row,
        source=path.name,
        labels=head_table.labels,
        notes=head_table.notes,
    )


def _require_description(table: Table, by_description: bool) -> None:
    if by_description and "description" not in table.frame:
        raise InputError(
            f"{table.source}: counting by Description needs a Description column, and there is none. "
            "Add the Description column to the export, or leave out --by-description."
        )


def loans_from_table(table: Table, by_description: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed loans and the problems of the rows left out."""
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

    out = pd.DataFrame(index=frame.index)
    keys = volume_keys(by_description)
    cells = {key: _TextColumn.of(frame[key]) for key in (*keys, "barcode")}
    for key, column in cells.items():
        out[key] = column.text()
    # titles are cleaned by compute() for the one row per volume it shows
    out["title"] = frame["title"].to_numpy(object) if "title" in frame else ""
    out["volume_code"] = combine_codes([cells[key].text_codes() for key in keys])
    out["barcode_code"] = cells["barcode"].text_codes()
    for key, damage in _damaged_ids(cells, rows, label).items():
        report(damage != "", key, damage, _ID_FIX)
    for key in ("mms_id", "barcode"):
        report((out[key] == "").to_numpy(), key, f"{label(key)} is blank", f"Fill in the {label(key)}")

    start, start_problems, start_midnight = _moments(frame, "loan_date", "loan_time", label)
    for mask, key, problem, fix in start_problems:
        report(mask, key, problem, fix)
    report(start.isna().to_numpy(), "loan_date", f"{label('loan_date')} is blank", "Fill in the loan date")
    end, end_problems, end_midnight = _moments(frame, "return_date", "return_time", label)
    for mask, key, problem, fix in end_problems:
        report(mask, key, problem, fix)
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

    backwards = (end < start).to_numpy() & ~bad
    if backwards.any():
        message = np.full(len(frame), "", dtype=object)
        message[backwards] = (
            "the return ("
            + end[backwards].dt.strftime("%Y-%m-%d %H:%M:%S")
            + ") is before the loan ("
            + start[backwards].dt.strftime("%Y-%m-%d %H:%M:%S")
            + ")"
        ).to_numpy(object)
        report(
            backwards,
            "return_date",
            message,
            "Correct the return date and time (a return after midnight needs the next day's date)",
        )

    out["start"] = start
    out["end"] = end
    out["row"] = rows
    keep = ~bad
    problem_table = (
        pd.concat(problems, ignore_index=True) if problems else problem_frame([], "", "", "", source)
    )
    return out.loc[keep].reset_index(drop=True), problem_table


def items_from_table(table: Table, by_description: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every copy of each volume (the items export), with problems for rows that name no copy."""
    frame, rows, source = table.frame, table.rows.to_numpy(np.int64), table.source
    label = _labels(table, ITEM_COLUMNS)
    out = pd.DataFrame(index=frame.index)
    cells = {key: _TextColumn.of(frame[key]) for key in (*volume_keys(by_description), "barcode")}
    for key, column in cells.items():
        out[key] = column.text()
    problems = []
    bad = np.zeros(len(out), bool)
    for key, damage in _damaged_ids(cells, rows, label).items():
        mask = (damage != "") & ~bad
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
    problem_table = (
        pd.concat(problems, ignore_index=True) if problems else problem_frame([], "", "", "", source)
    )
    return out.loc[~bad].reset_index(drop=True), problem_table


def requests_from_table(table: Table) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Requests per MMS Id: the ``Requests`` column summed, or one request per row when there is none."""
    frame, rows, source = table.frame, table.rows.to_numpy(np.int64), table.source
    label = _labels(table, REQUEST_COLUMNS)
    mms = pd.Series(_TextColumn.of(frame["mms_id"]).text(), index=frame.index)
    bad = np.zeros(len(frame), bool)
    counts = pd.Series(1.0, index=frame.index)
    problems = []
    if "requests" in frame:
        text = pd.Series(_TextColumn.of(frame["requests"]).text(), index=frame.index)
        counts = pd.to_numeric(text, errors="coerce")
        bad = (counts.isna() | (counts < 0)).to_numpy()
        if bad.any():
            problems.append(
                problem_frame(
                    rows[bad],
                    label("requests"),
                    "'" + text[bad] + "' is not a number of requests",
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
    problem_table = (
        pd.concat(problems, ignore_index=True) if problems else problem_frame([], "", "", "", source)
    )
    return out, problem_table


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
    for key, kind in (("mms_id", "mms"), ("barcode", "barcode")):
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
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    distinct = pd.Series([*uniques, None], dtype=object)
    return np.where(codes < 0, len(distinct) - 1, codes), distinct


@dataclass
class _TextColumn:
    """A column as clean text, kept as codes into its distinct cells (see :func:`_uniques`)."""

    codes: np.ndarray
    distinct_text: pd.Series
    distinct_number: pd.Series

    @classmethod
    def of(cls, values: pd.Series) -> _TextColumn:
        codes, distinct = _uniques(values)
        text, was_number = cell_text(distinct)
        return cls(codes, text, was_number)

    def text(self) -> np.ndarray:
        """Clean text of every row (:func:`~alma_tools.tables.cell_text` rules)."""
        return self.distinct_text.to_numpy(object)[self.codes]

    def text_codes(self) -> np.ndarray:
        """Codes of the clean text: cells that differ only in spaces (or 7 and "7") get the same code."""
        return pd.factorize(self.distinct_text.to_numpy(object))[0][self.codes]


def combine_codes(codes: Sequence[np.ndarray]) -> np.ndarray:
    """One integer per distinct combination of the given per-column codes (all non-negative)."""
    combined = np.zeros(len(codes[0]), np.int64) if len(codes) else np.zeros(0, np.int64)
    for column in codes:
        width = int(column.max(initial=0)) + 1
        if int(combined.max(initial=0)) + 1 > np.iinfo(np.int64).max // width:
            combined = pd.factorize(combined)[0]  # renumber densely before the product could overflow
        combined = combined * width + column
    return combined


def _moments(
    frame: pd.DataFrame, date_key: str, time_key: str, label: Callable[[str], str]
) -> tuple[pd.Series, list[tuple[np.ndarray, str, str | np.ndarray, str]], np.ndarray]:
    """Date (+ time when a time column exists) as one datetime column; NaT where blank or unusable.

    A time in the time column replaces the date cell's time of day; a date cell that already holds a time
    (a combined date-time column) is used as it is when the time cell is blank. Returns the moments, the
    problems of unusable rows, and where a blank time made the moment midnight (kept, but worth saying).
    """
    date_cells = frame[date_key]
    date, date_blank, date_bad = _spread(_cells_to_datetime, date_cells)
    problems: list[tuple[np.ndarray, str, str | np.ndarray, str]] = [
        (date_bad, date_key, _quoted(date_cells, date_bad, label(date_key), "is not a date"), _DATE_FIX)
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


def _cells_to_datetime(values: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Dates or date-times from text, Excel serial numbers and date cells; returns (moments, blank, bad)."""
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        text = values.astype(object).where(values.notna(), "").astype(str).str.strip()
        blank = (text == "").to_numpy()
        parsed = _parse_text(text[~blank], _DATETIME_FORMATS)
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
        ok = (serial >= 1) & (serial < 2958466)
        result[serial.index[ok]] = _EXCEL_EPOCH + pd.to_timedelta(serial[ok].round(5) * 86400, unit="s")
    mask = kinds == "text"
    if mask.any():
        text = values[mask].astype(str).str.strip()
        result[text.index] = _parse_text(text, _DATETIME_FORMATS)
    return result, blank, ~blank & result.isna().to_numpy()


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
