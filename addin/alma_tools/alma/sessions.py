"""The one Alma client: every call the product makes to Alma goes through :class:`AlmaClient`.

Modelled on ``requests`` itself: a small object holding a ``requests.Session`` (one connection pool sized to
the worker threads), and one method per Alma operation the product needs. What it adds:

* **Pacing.** Every HTTP request, retries and redirect hops included, takes a start slot from one shared
  :class:`~alma_tools.alma.pacing.Pacer`, so the whole client stays under the institution's rate. The slot
  is taken inside the connection, just before the request is written (:mod:`~alma_tools.alma.adapters`
  says why).
* **Retries** by :class:`~alma_tools.alma.retry.RetryPolicy` (see there for which failures are retried and
  why). A scan-in that was sent but got no answer is never sent again: :class:`OutcomeUnknown`.
* **Quota.** ``X-Exl-Api-Remaining`` is read from every answer. When it falls under ``quota_floor`` the
  *next* request is refused with :class:`DailyLimitError` before it is sent: the answer in hand (perhaps a
  scan that was done) is still returned, and the run stops cleanly with the rest of the allowance left to
  other programs of the institution.
* **The key** goes only in the ``Authorization`` header, only to the configured Alma host (a redirect to
  another host is followed without it), and is removed from every text the client logs or raises.
* **Hostile answers** cannot take it down: every request has a timeout per read, an overall deadline, a
  size cap on the answer read, and XML is parsed without entity expansion.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3.exceptions

from alma_tools import __version__, tables
from alma_tools.alma import analytics
from alma_tools.alma.adapters import PacedAdapter
from alma_tools.alma.exceptions import (
    AlmaError,
    AnswerLost,
    CertificateError,
    ConnectionFailed,
    DailyLimitError,
    OutcomeUnknown,
    redact,
    register_secret,
)
from alma_tools.alma.keys import clean_key, resolve_api_key
from alma_tools.alma.pacing import DEFAULT_RATE, RAMP_SLOTS, Pacer, check_rate
from alma_tools.alma.protocols import ClientFactory, OnResponse
from alma_tools.alma.regions import resolve_base_url
from alma_tools.alma.responses import (
    Item,
    Loan,
    ResponseRecord,
    item_from_dict,
    loans_from_dict,
    parse_body,
    parse_error,
    record_body,
)
from alma_tools.alma.retry import Kind, RetryPolicy
from alma_tools.errors import ConfigError, InputError

log = logging.getLogger("alma_tools.alma")
T = TypeVar("T")

REMAINING_HEADER = "X-Exl-Api-Remaining"
#: Alma's answers are a few KB (an item) to a few hundred KB (100 loans); anything far larger is not Alma.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
#: Longest one request may take from sending to the last byte of its answer, however slowly it trickles in.
#: Alma's answers are small: once the first bytes came (within the 30 s read timeout) the rest follows,
#: so an answer still arriving after 40 s is a broken or hostile server, and is not waited for again.
DEADLINE_SECONDS = 40.0
#: worker threads (and pooled connections) when the caller does not say
DEFAULT_WORKERS = 8
_MAX_REDIRECTS = 3
_READ_CHUNK = 64 * 1024
_NOT_SENT = (
    requests.exceptions.ConnectTimeout,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    ConnectionRefusedError,
)


@dataclass(frozen=True)
class _Answer:
    """One HTTP answer the client goes on with: a 2xx, or a redirect to follow (``redirect`` is the URL)."""

    status: int
    content_type: str
    text: str
    redirect: str | None = None


class _NoAnswer(Exception):
    """The request went out but its answer did not come back whole (timeout, drop, too large, too slow)."""

    def __init__(self, reason: str, status: int | None = None, final_code: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        #: set when the same request would meet the same fate (too large, too slow): it is not retried
        self.final_code = final_code


def _nothing_sent(exc: BaseException) -> bool:
    """True when the failure happened before the request left this machine (connect refused or timed out).

    requests wraps urllib3's errors, which wrap the socket's; the whole chain is searched.
    """
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        error = stack.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, _NOT_SENT):
            return True
        stack.extend(arg for arg in error.args if isinstance(arg, BaseException))
        for linked in (getattr(error, "reason", None), error.__cause__, error.__context__):
            if isinstance(linked, BaseException):
                stack.append(linked)
    return False


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _barcode_text(barcode: object) -> str:
    """A barcode as sent: text, stripped; an empty one is refused before sending."""
    text = "" if barcode is None else str(barcode).strip()
    if not text:
        raise InputError("The barcode is empty.")
    return text


#: the path of one item, as Alma's barcode lookup redirects to it (ids percent-quoted)
_ITEM_LINK = re.compile(r"/bibs/([^/]+)/holdings/([^/]+)/items/([^/]+)/?$")
#: what :meth:`AlmaClient._exchange` returns as content type for a redirect it was told not to follow
_REDIRECTED = "redirect"


def _ids_from_item_link(url: str) -> tuple[str, str, str] | None:
    """The (MMS, holding, item) ids in an item's URL, or None when the URL is not an item's path."""
    match = _ITEM_LINK.search(urlsplit(url).path)
    if match is None:
        return None
    ids = tuple(unquote(part).strip() for part in match.groups())
    return (ids[0], ids[1], ids[2]) if all(ids) else None


def _segment(name: str, value: object) -> str:
    """One id as a URL path segment: text, stripped, percent-quoted; an empty id is refused before sending."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise InputError(f"The {name} is empty; every row needs its {name} from the Alma export.")
    return quote(text, safe="")


def item_path(mms_id: str, holding_id: str, item_id: str) -> str:
    """``/bibs/{mms}/holdings/{holding}/items/{item}``: each id a quoted path segment, none empty."""
    return (
        f"/bibs/{_segment('MMS id', mms_id)}/holdings/{_segment('holding id', holding_id)}"
        f"/items/{_segment('item id', item_id)}"
    )


def client_factory(
    *,
    base_url: str | None = None,
    region: str | None = None,
    api_key: str | None = None,
    rate: float = DEFAULT_RATE,
    workers: int = DEFAULT_WORKERS,
) -> ClientFactory:
    """The one way a run builds its client: the connection and pace now, the journal's hook at the start.

    ``make_client = client_factory(region="eu", rate=options.rate, workers=options.worker_count())`` and,
    once the run's journal exists, ``make_client(journal.save_answer)``. The rate is checked here, so an
    impossible one is refused before any file is read.
    """
    check_rate(rate)

    def make_client(on_response: OnResponse | None) -> AlmaClient:
        return AlmaClient(
            base_url=base_url,
            region=region,
            api_key=api_key,
            rate=rate,
            workers=workers,
            on_response=on_response,
        )

    return make_client


class AlmaClient:
    """Talks to one Alma institution through its regional gateway; safe to share between worker threads.

    Use as a context manager (or call :meth:`close`) so the connection pool is released.
    """

    def __init__(
        self,
        base_url: str | None = None,
        region: str | None = None,
        api_key: str | None = None,
        rate: float = DEFAULT_RATE,
        workers: int = DEFAULT_WORKERS,
        timeout: float | tuple[float, float] = (5, 30),
        retry: RetryPolicy | None = None,
        quota_floor: int = 1000,
        on_response: OnResponse | None = None,
        *,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        deadline: float = DEADLINE_SECONDS,
    ) -> None:
        self.base_url = resolve_base_url(base_url, region)
        key = clean_key(api_key) if api_key is not None else resolve_api_key()
        if not key:
            raise ConfigError("The API key given is empty.")
        register_secret(key)
        self._key = key
        if not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"The number of worker threads must be a whole number from 1, not {workers!r}.")
        self._pacer = Pacer(rate, ramp_slots=min(workers, RAMP_SLOTS))
        self.workers = workers
        self.timeout = timeout
        self.retry = retry if retry is not None else RetryPolicy()
        self.quota_floor = quota_floor
        self.on_response = on_response
        self.max_answer_bytes = max_answer_bytes
        self.deadline = deadline
        origin = urlsplit(self.base_url)
        self._origin = (origin.scheme, origin.hostname, origin.port)
        # One int, written and read whole: no lock. A lock taken between a request's slot and its sending
        # (the quota check) would, when contended, hand the interpreter to a busy thread and send it late.
        self._remaining: int | None = None
        #: per sending thread: when its current request got its slot (the start of its deadline)
        self._sending = threading.local()
        self._session = requests.Session()
        self._session.headers.update(
            {
                "Accept": "application/json",
                # Answers are small; refusing compression keeps the size cap exact and rules out zip bombs.
                "Accept-Encoding": "identity",
                "User-Agent": f"alma-tools/{__version__}",
            }
        )
        adapter = PacedAdapter(self._before_send, pool_maxsize=workers)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    # ----------------------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> AlmaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connections; the client must not be used afterwards."""
        self._session.close()

    def __repr__(self) -> str:
        return f"AlmaClient(base_url={self.base_url!r}, rate={self.rate:g}, workers={self.workers})"

    @property
    def rate(self) -> float:
        """Requests per second the client paces itself to."""
        return self._pacer.rate

    @property
    def pacer(self) -> Pacer:
        """The pacer shared by every thread using this client."""
        return self._pacer

    @property
    def quota_remaining(self) -> int | None:
        """The last ``X-Exl-Api-Remaining`` Alma sent (calls left today), None before any answer."""
        return self._remaining

    # ------------------------------------------------------------------------------------- operations
    def scan_in(
        self,
        mms_id: str,
        holding_id: str,
        item_id: str,
        *,
        library: str,
        circ_desk: str,
        register_in_house_use: bool = False,
        done: bool | None = None,
        auto_print_slip: bool | None = None,
        place_on_hold_shelf: bool | None = None,
    ) -> Item:
        """Scan the item in at *library*/*circ_desk*, which returns it if on loan.

        ``register_in_house_use`` is always sent, false by default: Alma's own default (true) would record a
        spurious in-house use whenever an already-returned item is scanned again (e.g. after a timeout).
        Options left at None are not sent, as the scan-in screen would not send them.
        """
        path = item_path(mms_id, holding_id, item_id)
        library, circ_desk = str(library or "").strip(), str(circ_desk or "").strip()
        if not library:
            raise InputError("The library code for the scan-in is empty.")
        if not circ_desk:
            raise InputError("A scan-in needs a circulation desk; none was given.")
        params = [("op", "scan"), ("library", library), ("circ_desk", circ_desk)]
        for name, flag in (
            ("done", done),
            ("auto_print_slip", auto_print_slip),
            ("place_on_hold_shelf", place_on_hold_shelf),
        ):
            if flag is not None:
                params.append((name, _bool(flag)))
        params.append(("register_in_house_use", _bool(register_in_house_use)))
        return self._call("POST", path, params, item_from_dict)

    def item_by_barcode(self, barcode: str) -> Item:
        """The item with this barcode (Alma answers with a redirect to the item, which is followed)."""
        return self._call("GET", "/items", [("item_barcode", _barcode_text(barcode))], item_from_dict)

    def item_ids_by_barcode(self, barcode: str) -> tuple[str, str, str]:
        """MMS, holding and Item Id of the item with this barcode, in one request.

        Alma answers the lookup with a redirect whose ``Location`` is the item's own path
        (``…/bibs/{mms}/holdings/{holding}/items/{item}``): the ids are read from it and the redirect is not
        followed. A ``Location`` of another shape is followed, and the ids read from the item record.
        """
        params = [("item_barcode", _barcode_text(barcode))]
        content_type, text = self._exchange("GET", self.base_url + "/items", params, follow_redirects=False)
        if content_type == _REDIRECTED:
            ids = _ids_from_item_link(text)
            if ids is not None:
                return ids
            content_type, text = self._exchange("GET", text, [])
        item = item_from_dict(parse_body(content_type, text))
        return item.mms_id, item.holding_id, item.item_id

    def get_item(self, mms_id: str, holding_id: str, item_id: str) -> Item:
        """The item as Alma has it now (no ``additional_info``: that comes only from a scan-in)."""
        return self._call("GET", item_path(mms_id, holding_id, item_id), [], item_from_dict)

    def item_loans(self, mms_id: str, holding_id: str, item_id: str) -> list[Loan]:
        """The item's loans (empty when it is not on loan): the cheap check that a discharge worked."""
        return self._call("GET", item_path(mms_id, holding_id, item_id) + "/loans", [], loans_from_dict)

    def test_key(self, write: bool = False) -> None:
        """Check the key and the server with Alma's own test call; raises the matching AlmaError if not.

        ``write=True`` uses ``POST /bibs/test``, which Alma answers only for a key with Bibs read/write: the
        check to make before a discharge, so that a read-only key is found before the first row, not on it.
        """
        self._call("POST" if write else "GET", "/bibs/test", [], lambda _answer: None)

    def analytics_report(
        self,
        path: str,
        *,
        filter: str | None = None,
        limit: int = analytics.MAX_LIMIT,
        on_progress: Callable[[analytics.Progress], Any] | None = None,
    ) -> tables.Table:
        """The Analytics report at *path* as a table, every value text as Alma sent it (paced like every
        call; ``filter`` is a ``sawx`` expression XML); see :mod:`~alma_tools.alma.analytics`."""
        return analytics.analytics_report(self, path, filter=filter, limit=limit, on_progress=on_progress)

    # ------------------------------------------------------------------------------------- machinery
    def _call(
        self, method: str, path: str, params: list[tuple[str, str]], build: Callable[[dict[str, Any]], T]
    ) -> T:
        """Send one operation (with its retries and redirects) and build the result from the answer.

        A POST that Alma accepted (2xx) but whose answer cannot be read was nonetheless carried out, or may
        have been: that is :class:`OutcomeUnknown`, so the caller re-reads the item instead of guessing.
        """
        content_type, text = self._exchange(method, self.base_url + path, params)
        try:
            return build(parse_body(content_type, text))
        except AlmaError as exc:
            if method != "POST":
                raise
            raise OutcomeUnknown(
                f"Alma accepted the {self._describe(method, path)} but its answer could not be read "
                f"({exc.message}); the item may have been changed",
            ) from None

    @staticmethod
    def _describe(method: str, path: str) -> str:
        return "scan-in" if method == "POST" and "/items/" in path else f"request {method} {path}"

    def _auth_headers(self, url: str) -> dict[str, str]:
        """The key header, only for the configured Alma origin (never for a host a redirect points to)."""
        parts = urlsplit(url)
        if (parts.scheme, parts.hostname, parts.port) == self._origin:
            return {"Authorization": f"apikey {self._key}"}
        return {}

    def _before_send(self) -> None:
        """Called by the connection right before a request is written: wait for its slot, check the quota.

        The quota is checked after the slot, not before: threads queue in the pacer for many slots, and the
        quota seen before queueing is stale by then (the floor would let every queued thread through).
        Raising here (:class:`DailyLimitError`) means the request is never written.
        """
        self._pacer.wait()
        self._check_quota()
        self._sending.slot = time.monotonic()

    def _check_quota(self) -> None:
        remaining = self.quota_remaining
        if remaining is not None and remaining < self.quota_floor:
            raise DailyLimitError(
                f"Alma reports only {remaining} API calls left today for your institution, under the safety "
                f"floor of {self.quota_floor}; nothing more was sent",
                remaining=remaining,
                hint="The allowance resets at midnight in your institution's time zone: run again tomorrow "
                "(rows already done are kept).",
            )

    def _note_remaining(self, response: requests.Response) -> int | None:
        raw = response.headers.get(REMAINING_HEADER, "").strip()
        if not raw.lstrip("-").isdigit():
            return self.quota_remaining
        self._remaining = int(raw)
        return self._remaining

    def _read_body(self, response: requests.Response, started: float) -> str:
        """Read the answer within the size cap and the overall deadline (each read also has its timeout)."""
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() - started > self.deadline:
                    raise _NoAnswer(
                        f"the answer took longer than {self.deadline:g} s",
                        response.status_code,
                        final_code="ANSWER_TOO_SLOW",
                    )
                chunk = response.raw.read1(_READ_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_answer_bytes:
                    raise _NoAnswer(
                        f"the answer was larger than {self.max_answer_bytes // 1024} KB",
                        response.status_code,
                        final_code="ANSWER_TOO_LARGE",
                    )
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _NoAnswer(f"the answer broke off ({type(exc).__name__})", response.status_code) from None
        finally:
            response.close()
        encoding = response.encoding or "utf-8"
        try:
            return b"".join(chunks).decode(encoding, errors="replace")
        except LookupError:
            return b"".join(chunks).decode("utf-8", errors="replace")

    def _record(self, method: str, url: str, status: int, text: str, elapsed: float) -> None:
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode([(name, value) for name, value in pairs if name.lower() != "apikey"])
        path = redact(urlunsplit(("", "", parts.path, query, "")))
        log.debug("%s %s -> %s in %.2f s", method, path, status, elapsed)
        if self.on_response is not None:
            self.on_response(ResponseRecord(method, path, status, record_body(text), elapsed))

    def _wait_before_retry(
        self, kind: Kind, tries: Counter[str], error: AlmaError, what: str, policy: RetryPolicy
    ) -> None:
        """Count a failed try; wait before the next one, or raise *error* when the budget is spent."""
        tries[kind] += 1
        if not policy.should_retry(kind, tries[kind]):
            raise error
        wait = policy.sleep_for(kind, tries[kind])
        attempt = f"try {tries[kind] + 1} of {policy.attempts(kind)}"
        if kind == "throttle":
            wait = self._pacer.pause(wait)
            log.info(
                "%s: Alma said too many calls per second; all requests pause %.2f s (%s)", what, wait, attempt
            )
        else:
            log.info("%s: %s; trying again in %.2f s (%s)", what, error.message, wait, attempt)
            time.sleep(wait)

    def _exchange(
        self,
        method: str,
        url: str,
        params: list[tuple[str, str]],
        *,
        follow_redirects: bool = True,
        retry: RetryPolicy | None = None,
    ) -> tuple[str, str]:
        """Send until a final answer: returns (content type, body text) of a 2xx, raises otherwise.

        A GET's redirect (the barcode lookup) is followed; a failure the retry policy calls retryable is
        retried within its budget; anything else is raised. With ``follow_redirects=False`` a redirect is
        an answer too: (``_REDIRECTED``, the absolute URL it points to). ``retry`` replaces the client's
        policy for this call (an Analytics page, which must not be asked for twice).
        """
        policy = retry if retry is not None else self.retry
        tries: Counter[str] = Counter()
        redirects = 0
        what = self._describe(method, urlsplit(url).path.removeprefix(urlsplit(self.base_url).path))
        while True:
            try:
                answer = self._send(method, url, params, what)
            except AlmaError as error:
                kind = policy.kind_for(error)
                if kind is None:
                    raise
                self._wait_before_retry(kind, tries, error, what, policy)
                continue
            if answer.redirect is None:
                return answer.content_type, answer.text
            if not follow_redirects:
                return _REDIRECTED, answer.redirect
            redirects += 1
            if redirects > _MAX_REDIRECTS:
                raise AlmaError(f"{what}: Alma redirected too many times", status=answer.status)
            url, params = answer.redirect, []

    def _send(self, method: str, url: str, params: list[tuple[str, str]], what: str) -> _Answer:
        """One HTTP request: its answer (a 2xx or a redirect to follow), or the AlmaError it ended in."""
        prepared = self._session.prepare_request(
            requests.Request(method, url, params=params or None, headers=self._auth_headers(url))
        )
        settings = self._session.merge_environment_settings(prepared.url, {}, True, None, None)
        self._sending.slot = None
        try:
            # the connection waits for the pacer's slot (see _before_send) just before writing
            response = self._session.send(prepared, timeout=self.timeout, allow_redirects=False, **settings)
            started = self._sending.slot or time.monotonic()
            text = self._read_body(response, started)
        except requests.exceptions.SSLError:
            raise CertificateError(
                f"A secure connection to {urlsplit(url).hostname} could not be made (certificate not "
                "trusted); nothing was sent",
                hint="Check the server address; if your network inspects HTTPS, ask IT to install its "
                "certificate for Python.",
            ) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, _NoAnswer) as exc:
            raise self._transport_failure(method, url, exc, what) from None
        status = response.status_code
        self._record(method, response.url, status, text, time.monotonic() - started)
        remaining = self._note_remaining(response)
        content_type = response.headers.get("Content-Type", "")
        if 200 <= status < 300:
            return _Answer(status, content_type, text)
        location = response.headers.get("Location")
        if method == "GET" and status in (301, 302, 303, 307, 308) and location:
            return _Answer(status, content_type, text, redirect=urljoin(response.url, location))
        error = parse_error(status, content_type, text)
        if isinstance(error, DailyLimitError):
            error.remaining = remaining
        raise error

    def _transport_failure(
        self,
        method: str,
        url: str,
        exc: requests.exceptions.ConnectionError | requests.exceptions.Timeout | _NoAnswer,
        what: str,
    ) -> AlmaError:
        """The AlmaError for a request whose answer did not come back whole, by what may have happened."""
        sent = not (isinstance(exc, requests.exceptions.RequestException) and _nothing_sent(exc))
        reason = exc.reason if isinstance(exc, _NoAnswer) else self._reason(exc)
        status = exc.status if isinstance(exc, _NoAnswer) else None
        if sent and method != "GET":
            return OutcomeUnknown(
                f"The {what} was sent but {reason}; it may or may not have been done",
                status=status,
                hint="Re-read the item's loans before doing anything else with it.",
            )
        if isinstance(exc, _NoAnswer) and exc.final_code:
            words = "answer too large" if exc.final_code == "ANSWER_TOO_LARGE" else "answer too slow"
            return AlmaError(f"{words}: {reason}", status=status, code=exc.final_code)
        if sent:
            return AnswerLost(f"{what}: {reason}", status=status)
        return ConnectionFailed(
            f"Alma at {urlsplit(url).hostname} could not be reached ({reason}); nothing was sent",
            hint="Check the network connection and the server address, then run again.",
        )

    @staticmethod
    def _reason(exc: requests.exceptions.ConnectionError | requests.exceptions.Timeout) -> str:
        """A short plain-words reason for a transport failure (the exception text holds URLs and noise)."""
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return "the connection timed out"
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return "no answer came in time"
        if _nothing_sent(exc):
            return "the connection was refused"
        return "the connection was dropped before the answer came"
