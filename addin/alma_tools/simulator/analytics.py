"""The simulator's Analytics reports API: files served as reports at catalogue paths.

``GET /almaws/v1/analytics/reports?path=…&limit=…&col_names=true`` answers the first page of the report with
a ``ResumptionToken``; the client sends that token again (without ``path``) until ``IsFinished`` is true, and
one call more is HTTP 500 code 420033. The quirks clients meet are reproduced: ``limit`` is 25 to 1000 and
rounded up to blocks of 25, the token comes only on the first answer and the ``xsd:schema`` (with the
headings) only on the first page of rows, ``Column0`` is a dummy ``0``, empty cells are left out of a row (a
few written self-closed instead), a report can be "still running" for a while (empty ``ResultXml``,
``IsFinished`` false), and JSON is the XML as a string in ``{"anies": [...]}``.

Each report is a CSV or XLSX file read here with plain ``csv``/``openpyxl``: the simulator shares no code
with the product's readers it is there to test. The header is the first row with as many filled cells as
the fullest of the top rows (title lines above it are skipped); trailing lines with one cell (an export's
"Applied filters: …") are not report rows. Files are read on first use, then kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.resources
import io
import json
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeET
import openpyxl

ROWSET_NS = "urn:schemas-microsoft-com:xml-analysis:rowset"
BLOCK = 25
MIN_LIMIT = 25
MAX_LIMIT = 1000
DEFAULT_LIMIT = 25
HEADER_SEARCH_ROWS = 30
REPORTS_PATH = "/almaws/v1/analytics/reports"
#: the packaged samples, served by every simulator at these catalogue paths (file names in alma_tools/data)
SAMPLE_REPORTS = {
    "/shared/Sample University/Reports/Items to discharge": "items_to_discharge.csv",
    "/shared/Sample University/Reports/Loans": "loans_export.xlsx",
}
#: every this many rows, empty cells are written self-closed (``<Column4/>``) instead of left out
SELF_CLOSED_EVERY = 7
#: Analytics' cell types (``saw-sql:type``) and the XML Schema type that goes with each
XSD_TYPES = {
    "varchar": "xsd:string",
    "integer": "xsd:int",
    "double": "xsd:double",
    "date": "xsd:date",
    "timestamp": "xsd:dateTime",
}
_CELL_CHARS = {"\r": "&#13;", "\t": "&#9;"}
_SQL_NAME = re.compile(r'"([^"]*)"')
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class Report:
    """One report: its headings, each column's Analytics type, and its rows as text ("" for empty)."""

    path: str
    headings: tuple[str, ...]
    types: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass
class Answer:
    """What the server sends: 200 with a page, or an error named as in the simulator's catalogue."""

    status: int = 200
    xml: str = ""
    error: str = ""
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class _Job:
    """One running report: its rows (filtered), how far the pages have gone, when it is ready."""

    report: Report
    rows: Sequence[tuple[str, ...]]
    ready_at: float
    col_names: bool
    position: int = 0
    schema_sent: bool = False
    finished: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


# ----------------------------------------------------------------------------------------- reading files


def _cell_text(value: Any) -> str:
    """An XLSX cell as Analytics writes it: dates ``2016-07-19``, timestamps ``2017-09-29T13:32:37``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def _cell_type(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "varchar"
    if isinstance(value, dt.datetime):
        return "date" if value.time() == dt.time(0) else "timestamp"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    return "varchar"


def _read_csv(path: Path) -> list[list[Any]]:
    text = path.read_bytes().decode("utf-8-sig")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:20000], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [list(row) for row in csv.reader(io.StringIO(text, newline=""), dialect)]


def _read_xlsx(path: Path) -> list[list[Any]]:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book.active
        if sheet is None or getattr(sheet, "sheet_state", "visible") != "visible":
            sheet = next(ws for ws in book.worksheets if ws.sheet_state == "visible")
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _filled(row: Sequence[Any]) -> int:
    return sum(1 for cell in row if _cell_text(cell).strip())


def load_report(path: str, source: str | os.PathLike[str]) -> Report:
    """Read a CSV or XLSX file as the report served at ``path``."""
    file = Path(source)
    raw = _read_xlsx(file) if file.suffix.lower() in (".xlsx", ".xlsm") else _read_csv(file)
    top = raw[:HEADER_SEARCH_ROWS]
    widest = max((_filled(row) for row in top), default=0)
    if widest == 0:
        raise ValueError(f"{file.name} has no rows to serve as a report")
    start = next(i for i, row in enumerate(top) if _filled(row) == widest)
    header = raw[start]
    width = max(i + 1 for i, cell in enumerate(header) if _cell_text(cell).strip())
    body = [list(row[:width]) + [None] * (width - len(row)) for row in raw[start + 1 :] if _filled(row)]
    while width > 1 and body and _filled(body[-1]) == 1:
        body.pop()  # an export's footer ("Applied filters: …"), not a row of the report
    types = []
    for column in range(width):
        kinds = {_cell_type(row[column]) for row in body if _cell_text(row[column]) != ""}
        types.append(kinds.pop() if len(kinds) == 1 else "varchar")
    return Report(
        path=path,
        headings=tuple(_cell_text(cell).strip() for cell in header[:width]),
        types=tuple(types),
        rows=tuple(tuple(_cell_text(cell) for cell in row) for row in body),
    )


# ----------------------------------------------------------------------------------------- filters


class FilterError(ValueError):
    """A ``filter`` the simulator cannot apply (not one of the documented simple forms)."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _compare_key(text: str) -> tuple[int, float, str]:
    """Numbers compare as numbers, everything else (ISO dates included) as text."""
    if _NUMBER.match(text.strip()):
        return (0, float(text), "")
    return (1, 0.0, text)


def parse_filter(text: str, headings: Sequence[str]) -> Callable[[tuple[str, ...]], bool]:
    """A row test from ``<sawx:expr xsi:type="sawx:comparison" op="equal|between">`` on one column.

    The column is the ``sawx:sqlExpression`` child (``"Subject Area"."Folder"."Column"``), matched by its
    last quoted name against the report's headings, ignoring case; the other children are the values.
    """
    try:
        root: Element = SafeET.fromstring(text.encode("utf-8"))
    except Exception:
        raise FilterError("the filter is not well-formed XML") from None
    operator = (root.get("op") or "").strip()
    if _local(root.tag) != "expr" or operator not in ("equal", "between"):
        raise FilterError("only a sawx:comparison with op equal or between is supported")
    children = [child for child in root if _local(child.tag) == "expr"]
    if not children or not (children[0].get(_XSI_TYPE) or "").endswith("sqlExpression"):
        raise FilterError("the comparison's first expression must be a sawx:sqlExpression naming a column")
    names = _SQL_NAME.findall(children[0].text or "") or [(children[0].text or "").strip()]
    wanted = names[-1].strip().lower()
    lowered = [heading.lower() for heading in headings]
    if wanted not in lowered:
        raise FilterError(f"the report has no column {names[-1]!r}")
    column = lowered.index(wanted)
    values = [(child.text or "").strip() for child in children[1:]]
    if operator == "equal" and len(values) == 1:
        return lambda row: row[column].strip() == values[0]
    if operator == "between" and len(values) == 2:
        low, high = _compare_key(values[0]), _compare_key(values[1])
        return lambda row: row[column].strip() != "" and low <= _compare_key(row[column].strip()) <= high
    raise FilterError(f"op {operator} takes {'one value' if operator == 'equal' else 'two values'}")


# ----------------------------------------------------------------------------------------- pages


def page_limit(raw: str | None) -> int:
    """``limit`` as OBI applies it: default 25, within 25–1000, rounded up to a block of 25."""
    try:
        asked = int(raw) if raw not in (None, "") else DEFAULT_LIMIT
    except ValueError:
        asked = DEFAULT_LIMIT
    asked = min(max(asked, MIN_LIMIT), MAX_LIMIT)
    return -(-asked // BLOCK) * BLOCK


def _schema(report: Report, col_names: bool) -> str:
    parts = [
        '<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:saw-sql="urn:saw-sql" '
        f'targetNamespace="{ROWSET_NS}"><xsd:complexType name="Row"><xsd:sequence>'
    ]
    columns = [("0", "integer"), *zip(report.headings, report.types, strict=True)]
    for number, (heading, kind) in enumerate(columns):
        named = f" saw-sql:columnHeading={quoteattr(heading)}" if col_names else ""
        parts.append(
            f'<xsd:element maxOccurs="1" minOccurs="0" name="Column{number}"{named} '
            f'saw-sql:displayFormula="saw_{number}" saw-sql:type="{kind}" type="{XSD_TYPES[kind]}"/>'
        )
    parts.append("</xsd:sequence></xsd:complexType></xsd:schema>")
    return "".join(parts)


def _row(row: tuple[str, ...], self_closed: bool) -> str:
    cells = ["<Row><Column0>0</Column0>"]
    for number, value in enumerate(row, start=1):
        if value != "":
            cells.append(f"<Column{number}>{escape(value, _CELL_CHARS)}</Column{number}>")
        elif self_closed:
            cells.append(f"<Column{number}/>")
    cells.append("</Row>")
    return "".join(cells)


def query_result(token: str | None, finished: bool, result_xml: str) -> str:
    """The ``<QueryResult>`` element: what JSON carries in ``anies``, and XML inside ``<report>``."""
    head = f"<ResumptionToken>{token}</ResumptionToken>" if token else ""
    body = f"<ResultXml>{result_xml}</ResultXml>" if result_xml else "<ResultXml></ResultXml>"
    flag = "true" if finished else "false"
    return f"<QueryResult>{head}<IsFinished>{flag}</IsFinished>{body}</QueryResult>"


def report_document(query_xml: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><report>{query_xml}</report>'


def encode(xml: str, want_json: bool) -> tuple[str, bytes]:
    """(content type, body) of a page: the ``<report>`` document, or JSON ``{"anies": [QueryResult]}``."""
    if want_json:
        return "application/json;charset=UTF-8", json.dumps({"anies": [xml]}).encode("utf-8")
    return "application/xml;charset=UTF-8", report_document(xml).encode("utf-8")


# ----------------------------------------------------------------------------------------- the service


def report_sources(extra: Mapping[str, str | os.PathLike[str]]) -> dict[str, str | os.PathLike[str]]:
    """The packaged samples plus ``extra`` (path → file; a path given twice serves the ``extra`` file).

    Raises ValueError naming a path that is not a catalogue path or a file that does not exist.
    """
    data = importlib.resources.files("alma_tools") / "data"
    sources: dict[str, str | os.PathLike[str]] = {
        path: str(data / name) for path, name in SAMPLE_REPORTS.items()
    }
    for path, file in extra.items():
        if not str(path).startswith("/"):
            raise ValueError(f"report path {path!r} must start with / (for example /shared/<Inst>/Reports/…)")
        if not Path(file).is_file():
            raise ValueError(f"report file {file} for {path} does not exist")
        if Path(file).suffix.lower() not in (".csv", ".txt", ".xlsx", ".xlsm"):
            raise ValueError(f"report file {file} for {path} is not CSV or XLSX")
        sources[str(path)] = file
    return sources


class AnalyticsReports:
    """The reports a simulator serves and the jobs its clients are paging through (thread-safe)."""

    def __init__(
        self,
        sources: Mapping[str, str | os.PathLike[str]],
        delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sources = dict(sources)
        self._reports: dict[str, Report] = {}
        self._jobs: dict[str, _Job] = {}
        self._delay = delay
        self._clock = clock
        self._lock = threading.Lock()
        self._loading = threading.Lock()
        #: when True the last page says IsFinished false, as Alma sometimes does (KBDK): only the 420033
        #: of the next call tells the client the rows have ended
        self.missed_end = False

    @property
    def paths(self) -> list[str]:
        return list(self._sources)

    def report(self, path: str) -> Report | None:
        """The report at ``path`` (read on first use), None when no file is registered there."""
        if path not in self._sources:
            return None
        with self._loading:
            if path not in self._reports:
                self._reports[path] = load_report(path, self._sources[path])
            return self._reports[path]

    def answer(self, query: Mapping[str, str]) -> Answer:
        """Answer one ``GET /analytics/reports`` whose key was already allowed."""
        token = query.get("token", "").strip()
        if token:
            with self._lock:
                job = self._jobs.get(token)
            if job is None:
                return Answer(400, error="analytics_token", fields={"token": token[:16] + "…"})
            return self._next_page(job, page_limit(query.get("limit")), None)
        path = query.get("path", "").strip()
        report = self.report(path) if path else None
        if report is None:
            return Answer(500, error="analytics_path", fields={"path": path})
        rows: Sequence[tuple[str, ...]] = report.rows
        if query.get("filter", "").strip():
            try:
                keep = parse_filter(query["filter"], report.headings)
            except FilterError as problem:
                return Answer(400, error="analytics_filter", fields={"problem": str(problem)})
            rows = [row for row in report.rows if keep(row)]
        token = secrets.token_hex(32).upper()
        col_names = query.get("col_names", "true").strip().lower() != "false"
        job = _Job(report, rows, self._clock() + self._delay, col_names)
        with self._lock:
            self._jobs[token] = job
        return self._next_page(job, page_limit(query.get("limit")), token)

    def _next_page(self, job: _Job, limit: int, token: str | None) -> Answer:
        with job.lock:
            if job.finished:
                return Answer(500, error="analytics_no_more_rows")
            if self._clock() < job.ready_at:
                return Answer(xml=query_result(token, False, ""))
            chunk = job.rows[job.position : job.position + limit]
            start = job.position
            job.position += len(chunk)
            job.finished = job.position >= len(job.rows)
            if job.finished:
                job.rows = ()  # a filtered copy is not kept for the 420033 answers still to come
            finished = job.finished and not self.missed_end
            parts = [f'<rowset xmlns="{ROWSET_NS}">']
            if not job.schema_sent:
                parts.append(_schema(job.report, job.col_names))
                job.schema_sent = True
        parts.extend(
            _row(row, (start + offset) % SELF_CLOSED_EVERY == SELF_CLOSED_EVERY - 1)
            for offset, row in enumerate(chunk)
        )
        parts.append("</rowset>")
        return Answer(xml=query_result(token, finished, "".join(parts)))
