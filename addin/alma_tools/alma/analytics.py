"""Fetching an Analytics report through the API: the report straight from Alma, ids intact, no export step.

``GET /almaws/v1/analytics/reports?path=…&limit=…&col_names=true`` answers the first page and a
``ResumptionToken``; the same token is sent again until ``IsFinished`` is true. Every
call goes through the client's own machinery (:meth:`AlmaClient._exchange`): the same pacer, retries, quota
floor, size cap and key handling as a scan-in. What this module adds is Analytics' own shape:

* the headings come from the ``xsd:schema`` of the first page of rows (``saw-sql:columnHeading``), mapping
  ``Column1…ColumnN``; ``Column0`` is a dummy ``0`` and is dropped;
* empty cells are left out of a row (or self-closed) and become "";
* every value stays the text Alma sent: ids are never numbers, dates stay as written;
* an empty page with ``IsFinished`` false means the report is still running: wait 3 s and ask again, up
  to a minute, saying so through ``on_progress``;
* HTTP 500 code 420033 ("No more rows to fetch") after the last page ends the data (Alma sometimes fails
  to say ``IsFinished``);
* "Path not found" and a key without Analytics permission become messages that say what to do.

XML is parsed with ``defusedxml`` (the JSON form is the same XML as a string in ``{"anies": [...]}``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import defusedxml
import defusedxml.ElementTree as SafeET

from alma_tools import tables
from alma_tools.alma.exceptions import AlmaError, AuthError, ConnectionFailed, ServerError
from alma_tools.alma.retry import Kind, RetryPolicy
from alma_tools.errors import InputError

if TYPE_CHECKING:
    from alma_tools.alma.sessions import AlmaClient

REPORTS_PATH = "/analytics/reports"
END_OF_DATA_CODE = "420033"
#: the client's code for an answer over its size cap (alma/sessions.py)
TOO_LARGE_CODE = "ANSWER_TOO_LARGE"
BLOCK = 25
MAX_LIMIT = 1000
#: seconds between asks while Alma is still running the report, and how long to keep asking
STILL_RUNNING_WAIT = 3.0
STILL_RUNNING_PATIENCE = 60.0
#: how many times a report is fetched again from its start after a page's answer was lost
RESTARTS = 3
PERMISSION = "Analytics — read-only"
_ROWSET = "urn:schemas-microsoft-com:xml-analysis:rowset"
_XSD = "http://www.w3.org/2001/XMLSchema"
_SAW_SQL = "urn:saw-sql"
_HOW_TO_COPY = (
    "In Alma Analytics open the catalogue, find the report, choose More (…) › Properties and copy the "
    "path shown there (it starts with /shared/ and names the folders and the report, upper and lower case "
    "as shown)."
)


class ReportNotFound(AlmaError):
    """Analytics has no report at the path given (Alma's "Path not found")."""


class AnalyticsPermissionError(AuthError):
    """The API key may not read Analytics."""


@dataclass(frozen=True)
class Progress:
    """What a fetch has done so far, for a status line: rows and pages received, and what is happening."""

    rows: int
    pages: int
    message: str
    waiting: float = 0.0  # seconds spent waiting for a still-running report

    def __str__(self) -> str:
        return self.message


@dataclass
class ReportRows:
    """A fetched report: headings and rows exactly as Alma sent them ("" for a missing cell)."""

    path: str
    headings: list[str]
    rows: list[list[str]]
    pages: int
    fetched_at: datetime
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The report's name: the last part of its path ("Items to discharge")."""
        return report_name(self.path)

    def summary(self) -> str:
        """One line: rows, pages and when the report was fetched."""
        rows = f"{len(self.rows):,} row{'s' if len(self.rows) != 1 else ''}"
        pages = f"{self.pages} page{'s' if self.pages != 1 else ''}"
        return (
            f"{rows} in {pages} from Analytics report {self.path}, fetched {self.fetched_at:%Y-%m-%d %H:%M}"
        )


@dataclass
class _Page:
    token: str
    finished: bool
    headings: dict[str, str] | None  # ColumnN → heading, when this page carried the schema
    rows: list[dict[str, str]]


def report_name(path: str) -> str:
    """The last part of a catalogue path, the name Analytics shows for the report."""
    return path.rstrip("/").rsplit("/", 1)[-1].strip() or "Analytics report"


def check_path(path: str) -> str:
    """The path as sent (ends stripped); InputError when it cannot be a catalogue path."""
    text = (path or "").strip()
    if not text.startswith("/") or text.rstrip("/") == "":
        raise InputError(f"{text or 'The report path'!r} is not an Analytics catalogue path. {_HOW_TO_COPY}")
    return text


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or not BLOCK <= limit <= MAX_LIMIT or limit % BLOCK:
        raise InputError(
            f"Rows per page must be 25 to 1000 in steps of 25 (Analytics' blocks), not {limit!r}."
        )
    return limit


# ----------------------------------------------------------------------------------------- reading pages


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_of(content_type: str, text: str) -> str:
    """The page's XML: the body itself, or the string inside JSON's ``anies``."""
    stripped = text.lstrip()
    if "json" in content_type.lower() or stripped.startswith("{"):
        try:
            anies = json.loads(stripped).get("anies")
        except (ValueError, AttributeError):
            anies = None
        if not isinstance(anies, list) or not anies or not isinstance(anies[0], str):
            raise AlmaError("Alma's Analytics answer could not be read (JSON without the report's XML)")
        return anies[0]
    return text


def _schema_headings(rowset: ET.Element) -> dict[str, str] | None:
    """ColumnN → heading from the rowset's ``xsd:schema`` (None when this page has none)."""
    schema = rowset.find(f"{{{_XSD}}}schema")
    if schema is None:
        return None
    headings: dict[str, str] = {}
    for element in schema.iter(f"{{{_XSD}}}element"):
        name = element.get("name", "")
        if name and name != "Column0":
            heading = element.get(f"{{{_SAW_SQL}}}columnHeading")
            headings[name] = heading.strip() if heading and heading.strip() else name
    return headings


def parse_page(content_type: str, text: str) -> _Page:
    """One Analytics answer: its token (first page only), IsFinished, the schema's headings, the rows."""
    try:
        root = SafeET.fromstring(_xml_of(content_type, text).encode("utf-8"))
    except defusedxml.DefusedXmlException:
        raise AlmaError(
            "Alma's Analytics answer contained XML entities, which are refused for safety"
        ) from None
    except ET.ParseError:
        raise AlmaError("Alma's Analytics answer could not be read (broken XML)") from None
    result = root if _local(root.tag) == "QueryResult" else root.find("QueryResult")
    if result is None:
        raise AlmaError("Alma's Analytics answer has no QueryResult")
    finished = (result.findtext("IsFinished") or "").strip().lower() == "true"
    token = (result.findtext("ResumptionToken") or "").strip()
    rowset = result.find(f"ResultXml/{{{_ROWSET}}}rowset")
    if rowset is None:
        return _Page(token, finished, None, [])
    rows = [
        {_local(cell.tag): cell.text or "" for cell in row if _local(cell.tag) != "Column0"}
        for row in rowset.iter(f"{{{_ROWSET}}}Row")
    ]
    return _Page(token, finished, _schema_headings(rowset), rows)


@dataclass(frozen=True)
class Head:
    """What the next call depends on, read from the start of an answer without parsing all of it."""

    token: str
    finished: bool
    has_rows: bool


_FINISHED = re.compile(r"<IsFinished>\s*(true|false)\s*</IsFinished>", re.IGNORECASE)
_TOKEN = re.compile(r"<ResumptionToken>\s*([^<\s]*)\s*</ResumptionToken>")
_HEAD_CHARS = 4096


def peek(text: str) -> Head | None:
    """The token, ``IsFinished`` and whether there are rows, from the answer's text; None when unsure.

    Both elements come before ``ResultXml`` in Alma's answer (in JSON too: the XML is a string there, and
    ``<`` is written as is). A row is ``<Row`` (the schema's ``name="Row"`` and ``<rowset`` are not, and a
    value's ``<`` is escaped). Whatever ``peek`` says is checked against the full parse of the same page.
    """
    head = text[:_HEAD_CHARS]
    finished = _FINISHED.search(head)
    if finished is None:
        return None
    token = _TOKEN.search(head[: finished.start()])
    return Head(token.group(1) if token else "", finished.group(1).lower() == "true", "<Row" in text)


# ----------------------------------------------------------------------------------------- the fetch


def _explain(error: AlmaError, path: str) -> AlmaError:
    """Alma's refusal in words that say what to do; other errors unchanged."""
    if "path not found" in error.message.lower():
        return ReportNotFound(
            f"Analytics has no report at {path!r}",
            status=error.status,
            code=error.code,
            tracking_id=error.tracking_id,
            hint=_HOW_TO_COPY + " Check too that the report is shared (under /shared/, not My Folders).",
        )
    if isinstance(error, AuthError) and "invalid api key" not in error.message.lower():
        return AnalyticsPermissionError(
            error.message,
            status=error.status,
            code=error.code,
            tracking_id=error.tracking_id,
            hint=f"The API key has no Analytics permission: in the Ex Libris Developer Network, edit the key "
            f"and add the API area '{PERMISSION}' (Production: Analytics has no sandbox), then try again.",
        )
    return error


@dataclasses.dataclass(frozen=True)
class CursorRetry(RetryPolicy):
    """Retries for a call with the resumption token: each such call moves Analytics' cursor on a page.

    Only failures where the call cannot have reached Alma are tried again (a 429: the gateway refused it;
    a connection that could not be opened). After an answer that was lost, or a 5xx, the page may have
    been served and would not be served again (the next call gets the next page, silently): the report is
    fetched again from its start instead (:class:`_Restart`).
    """

    def kind_for(self, error: AlmaError) -> Kind | None:
        kind = super().kind_for(error)
        return kind if kind == "throttle" or isinstance(error, ConnectionFailed) else None

    @classmethod
    def like(cls, policy: RetryPolicy) -> CursorRetry:
        """The client's own budgets and waits, with the cursor's rule."""
        return cls(**{f.name: getattr(policy, f.name) for f in dataclasses.fields(policy)})


class _Restart(Exception):
    """A page's answer was lost: the rows so far cannot be trusted to be complete."""


class _Fetch:
    """One report being paged through: the rows so far, the token, the headings."""

    def __init__(
        self, client: AlmaClient, path: str, filter: str | None, limit: int, on_progress: Callable | None
    ) -> None:
        self.client = client
        self.path = path
        self.filter = filter
        self.limit = limit
        self.on_progress = on_progress
        self.token = ""
        self.headings: dict[str, str] | None = None
        self.rows: list[list[str]] = []
        self.pages = 0
        self.waited = 0.0
        self.cursor_retry = CursorRetry.like(client.retry)

    def _start_again(self) -> None:
        self.token, self.headings, self.rows, self.pages, self.waited = "", None, [], 0, 0.0

    def _params(self) -> list[tuple[str, str]]:
        if self.token:
            return [("token", self.token), ("limit", str(self.limit))]
        params = [("path", self.path), ("limit", str(self.limit)), ("col_names", "true")]
        if self.filter:
            params.append(("filter", self.filter))
        return params

    def _ask(self) -> tuple[str, str] | None:
        """One call: (content type, body); None when Alma says there are no more rows (420033).

        Pages must stay under the client's answer size cap: a first page too large is asked for again with
        fewer rows (nothing is lost: it starts the report afresh), and after a page over half the cap the
        next pages are asked for with half as many rows. A later page too large cannot be asked for again
        (the token has moved on), so that ends the fetch with a message.
        """
        while True:
            try:
                content_type, text = self.client._exchange(
                    "GET",
                    self.client.base_url + REPORTS_PATH,
                    self._params(),
                    retry=self.cursor_retry if self.token else None,
                )
            except AlmaError as error:
                if error.code == END_OF_DATA_CODE and self.token:
                    return None
                if self.token and isinstance(error, ServerError):
                    raise _Restart(error.message) from None
                if error.code == TOO_LARGE_CODE and not self.token and self.limit > BLOCK:
                    self._fewer_rows(4)
                    continue
                if error.code == TOO_LARGE_CODE:
                    raise AlmaError(
                        f"A page of the report {self.path!r} was larger than the client accepts; nothing "
                        "was saved",
                        code=error.code,
                        hint="Remove columns the job does not need from the report, then try again.",
                    ) from None
                raise _explain(error, self.path) from None
            if len(text) > self.client.max_answer_bytes // 2 and self.limit > BLOCK:
                self._fewer_rows(2)
            return content_type, text

    def _fewer_rows(self, factor: int) -> None:
        self.limit = max(BLOCK, self.limit // factor // BLOCK * BLOCK)
        self._tell(f"The report's pages are large; asking for {self.limit} rows a page")

    def _tell(self, message: str) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(len(self.rows), self.pages, message, self.waited))

    def _add(self, page: _Page, head: Head) -> None:
        if (page.token, page.finished, bool(page.rows)) != (head.token, head.finished, head.has_rows):
            raise AlmaError(
                f"An Analytics answer for {self.path!r} could not be read consistently; nothing was saved"
            )
        if page.headings is not None and self.headings is None:
            self.headings = page.headings
        if not page.rows:
            return
        if self.headings is None:
            raise AlmaError(
                f"Analytics sent rows of {self.path!r} without the column headings (no schema on the first "
                "page); nothing was saved"
            )
        names = list(self.headings)
        for row in page.rows:
            unknown = set(row) - self.headings.keys()
            if unknown:
                raise AlmaError(
                    f"Analytics sent a cell ({sorted(unknown)[0]}) that the report's schema does not name, "
                    f"in row {len(self.rows) + 1} of {self.path!r}; nothing was saved"
                )
            self.rows.append([row.get(name, "") for name in names])
        self.pages += 1
        self._tell(f"Fetched {len(self.rows):,} rows of {report_name(self.path)} ({self.pages} pages)")

    def _wait_for_rows(self) -> None:
        """Alma is still running the report: wait, or give up after a minute."""
        if self.waited >= STILL_RUNNING_PATIENCE:
            raise AlmaError(
                f"Analytics was still running the report {self.path!r} after {STILL_RUNNING_PATIENCE:.0f} s; "
                "nothing was saved",
                hint="Large reports can take minutes: try again later, or add a filter to the report so "
                "it returns fewer rows.",
            )
        self._tell(
            f"Analytics is still running {report_name(self.path)}; asking again in "
            f"{STILL_RUNNING_WAIT:.0f} s ({self.waited:.0f} s so far)"
        )
        time.sleep(STILL_RUNNING_WAIT)
        self.waited += STILL_RUNNING_WAIT

    def _collect(self, queued: list[tuple[Future[_Page], Head]], *, wait: bool) -> None:
        """Add the parsed pages to the rows in order: those already parsed, or (``wait``) all of them."""
        while queued and (wait or queued[0][0].done()):
            future, head = queued.pop(0)
            self._add(future.result(), head)

    def run(self) -> ReportRows:
        """The whole report; fetched again from its start (up to :data:`RESTARTS` times) when the answer
        to a page was lost, since that page cannot be asked for again."""
        self._tell(f"Asking Analytics for {report_name(self.path)}")
        for attempt in range(1, RESTARTS + 2):
            try:
                return self._fetch_once()
            except _Restart as lost:
                if attempt > RESTARTS:
                    raise ServerError(
                        f"The answers to pages of the report {self.path!r} kept getting lost ({lost}); "
                        "nothing was saved",
                        hint="Alma or the network is having trouble: try again later.",
                    ) from None
                self._start_again()
                self._tell(
                    f"An answer from Analytics was lost ({lost}); fetching {report_name(self.path)} again "
                    f"from the start so that no row is missed (try {attempt + 1} of {RESTARTS + 1})"
                )
        raise AssertionError("unreachable")

    def _fetch_once(self) -> ReportRows:
        """Page through the report. Each page is parsed on a thread of its own while the next call is out:
        the next call needs only the token and ``IsFinished``, read from the head of the answer (when they
        cannot be, the page is parsed before going on), so parsing adds nothing to the time of the fetch."""
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics-page") as parser:
            queued: list[tuple[Future[_Page], Head]] = []
            try:
                self._page_through(parser, queued)
                self._collect(queued, wait=True)
            finally:
                for future, _head in queued:
                    future.cancel()
        if self.headings is None:
            raise AlmaError(f"Analytics sent no columns for the report {self.path!r}; nothing was saved")
        return ReportRows(self.path, list(self.headings.values()), self.rows, self.pages, datetime.now())

    def _page_through(self, parser: ThreadPoolExecutor, queued: list[tuple[Future[_Page], Head]]) -> None:
        while True:
            answer = self._ask()
            if answer is None:
                break
            head = peek(answer[1])
            if head is None:
                self._collect(queued, wait=True)
                page = parse_page(*answer)
                head = Head(page.token, page.finished, bool(page.rows))
                self._add(page, head)
            else:
                queued.append((parser.submit(parse_page, *answer), head))
                self._collect(queued, wait=False)
            self.token = self.token or head.token
            if head.finished:
                break
            if not self.token:
                raise AlmaError(
                    f"Analytics said the report {self.path!r} goes on but sent no resumption token; "
                    "nothing was saved"
                )
            if not head.has_rows:
                self._wait_for_rows()


def fetch_rows(
    client: AlmaClient,
    path: str,
    *,
    filter: str | None = None,
    limit: int = MAX_LIMIT,
    on_progress: Callable[[Progress], Any] | None = None,
) -> ReportRows:
    """Every row of the report at ``path`` (an optional ``sawx`` filter XML), as text; see the module."""
    fetch = _Fetch(client, check_path(path), (filter or "").strip() or None, check_limit(limit), on_progress)
    return fetch.run()


def to_table(report: ReportRows, columns: tables.ColumnSet | None = None) -> tables.Table:
    """The report as a :class:`tables.Table` built through ``tables``' own reader (header = the headings).

    With ``columns`` (e.g. :data:`tables.ITEM_COLUMNS`) the job's columns are recognised by alias as for a
    file; without, every column keeps its heading as its key (a heading repeated, ignoring case and
    spaces, gets its position added: ``Title (column 4)``).
    """
    headings = unique_headings(report.headings)
    grid = tables.read_grid([headings, *report.rows], name=f"Analytics report {report.name}")
    if columns is None:
        columns = tables.ColumnSet(tables.Column(key=h, label=h, aliases=()) for h in headings)
    return tables.find_table(grid, columns, allow_empty=True)


def unique_headings(headings: list[str]) -> list[str]:
    """The headings with a repeated one (as ``tables`` compares headers) told apart by its column number."""
    seen: set[str] = set()
    unique = []
    for number, heading in enumerate(headings, start=1):
        folded = tables.normalise_header(heading)
        if folded in seen:
            heading = f"{heading} (column {number})"
        seen.add(folded)
        unique.append(heading)
    return unique


def analytics_report(
    client: AlmaClient,
    path: str,
    *,
    filter: str | None = None,
    limit: int = MAX_LIMIT,
    on_progress: Callable[[Progress], Any] | None = None,
) -> tables.Table:
    """What :meth:`AlmaClient.analytics_report` returns: the fetched report as a table."""
    return to_table(fetch_rows(client, path, filter=filter, limit=limit, on_progress=on_progress))
