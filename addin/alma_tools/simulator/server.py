"""The loopback Alma: HTTP front of :mod:`~alma_tools.simulator.state`, with Alma's gateway behaviour.

What a client meets before Alma itself acts is simulated here, in the order the real gateway applies it: the
API key (missing, unknown, read-only), the daily quota (``X-Exl-Api-Remaining`` on every answer), the
per-institution threshold over a *sliding* second, injected faults, then the resource itself, then the
latency. Requests turned away by the key or a threshold change nothing and are not counted as scans.

Each connection gets its own daemon thread (HTTP/1.1 keep-alive, so a client's pool reuses connections);
latency and late answers are sleeps on an event that :meth:`Simulator.stop` sets, so stopping never waits for
them and one slow answer never holds up another.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.resources
import json
import os
import random
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import pandas as pd

from alma_tools.errors import ConfigError
from alma_tools.simulator import analytics, catalogue, render
from alma_tools.simulator.exports import ITEM_FIELDS, LOCATION_FIELDS, read_export
from alma_tools.simulator.state import Item, World
from alma_tools.simulator.window import SlidingSecond

FAULT_KINDS = ("500", "503", "drop", "late")
HOSTILE_MODES = ("huge", "xmlbomb", "drip")
#: ``X-Exl-Api-Remaining`` when no daily quota is configured: a nominal plan that is never enforced
UNLIMITED_QUOTA = 1_000_000_000
#: request bodies above this are refused without being read (Alma's gateway has REQUEST_TOO_LARGE)
MAX_BODY = 1_000_000
HUGE_BODY_BYTES = 210 * 1024 * 1024
_USER_LOANS_PATH = re.compile(r"^/almaws/v1/users/([^/]+)/loans/?$")
_ITEM_PATH = re.compile(r"^/almaws/v1/bibs/([^/]+)/holdings/([^/]+)/items/([^/]+)(/loans)?/?$")
_XML_BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">\n' for n in range(1, 10)
    )
    + "]>\n<item><item_data><pid>&lol9;</pid></item_data></item>\n"
)


@dataclass
class SimulatorConfig:
    """Everything that shapes the simulated Alma; the defaults are the real institution's figures.

    ``items``/``locations``: a DataFrame or a CSV/XLSX path of an Analytics export (``None``: the packaged
    sample, and its locations when ``items`` is ``None`` too). ``latency`` is a (min, max) of seconds slept
    after each change, before answering. ``fault_rate`` is the share of counted requests that meet a fault
    drawn from ``faults``; ``late_delay`` (default 35 s) is how late a ``late`` answer comes. ``hostile``
    makes every answer one of :data:`HOSTILE_MODES`. ``state_file`` keeps applied scans across restarts.
    """

    items: str | os.PathLike | pd.DataFrame | None = None
    locations: str | os.PathLike | pd.DataFrame | None = None
    api_keys: tuple[str, ...] = ("key",)
    read_only_keys: tuple[str, ...] = ()
    rate_limit: int | None = 25
    daily_quota: int | None = None
    latency: tuple[float, float] = (0.3, 0.8)
    fault_rate: float = 0.0
    faults: tuple[str, ...] = FAULT_KINDS
    late_delay: float | None = None
    seed: int = 0
    state_file: str | os.PathLike | None = None
    request_share: float = 0.05
    hostile: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    #: Analytics reports: catalogue path → CSV/XLSX file, served besides the packaged samples
    reports: Mapping[str, str | os.PathLike] = field(default_factory=dict)
    #: seconds a report stays "still running" (empty pages) before its first rows
    analytics_delay: float = 0.0
    #: keys with Analytics read permission (None: every read/write key; read-only keys never)
    analytics_keys: tuple[str, ...] | None = None

    def check(self) -> None:
        """Refuse settings that cannot work, in words a person can act on."""
        unknown = [kind for kind in self.faults if kind not in FAULT_KINDS]
        if unknown:
            raise ConfigError(f"Unknown fault kind {unknown[0]!r}: use some of {', '.join(FAULT_KINDS)}.")
        if self.hostile is not None and self.hostile not in HOSTILE_MODES:
            raise ConfigError(
                f"Unknown hostile mode {self.hostile!r}: use one of {', '.join(HOSTILE_MODES)}."
            )
        low, high = self.latency
        if not 0 <= low <= high:
            raise ConfigError(f"Latency {low}-{high} is not a range of seconds: use MIN-MAX with MIN <= MAX.")
        if not 0 <= self.fault_rate <= 1:
            raise ConfigError(f"Fault rate {self.fault_rate} must be between 0 and 1.")
        if not self.api_keys and not self.read_only_keys:
            raise ConfigError("The simulator needs at least one API key.")
        if self.analytics_delay < 0:
            raise ConfigError(f"Analytics delay {self.analytics_delay} must be 0 or more seconds.")


@dataclass
class _Answer:
    """One HTTP answer before it is sent."""

    status: int
    content_type: str = "application/json;charset=UTF-8"
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _packaged(name: str) -> Any:
    return importlib.resources.files("alma_tools") / "data" / name


class _Server(ThreadingHTTPServer):
    """Threading server that remembers its open connections so :meth:`Simulator.stop` can cut them."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self.connections_lock:
            self.connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up is normal (timeouts, hostile-answer tests); anything else is reported."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the simulator; quiet, because tests and the demo share the console."""

    protocol_version = "HTTP/1.1"
    server_version = "CA-API-Gateway/9.0"
    arrived = 0.0
    timeout = 120  # an idle keep-alive connection is closed after this, freeing its thread
    server: _Server

    def version_string(self) -> str:
        """The ``Server`` header Alma's gateway sends."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """No per-request log lines on stderr."""

    def parse_request(self) -> bool:
        """Stamp the arrival as the request line has just been read: the gateway counts arrivals, and every
        later step (headers, body, the simulator's lock) could only make the stamp late."""
        self.arrived = time.monotonic()
        return super().parse_request()

    def do_GET(self) -> None:
        self.server.simulator._serve(self, "GET")

    def do_POST(self) -> None:
        self.server.simulator._serve(self, "POST")

    def do_PUT(self) -> None:
        self.server.simulator._serve(self, "PUT")

    def do_DELETE(self) -> None:
        self.server.simulator._serve(self, "DELETE")


class Simulator:
    """A started-on-demand loopback Alma; usable as a context manager or with :meth:`start`/:meth:`stop`."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.config.check()
        items = self.config.items if self.config.items is not None else _packaged("items_to_discharge.csv")
        locations = self.config.locations
        if locations is None and self.config.items is None:
            locations = _packaged("locations.csv")
        self.world = World(
            read_export(items, ITEM_FIELDS),
            read_export(locations, LOCATION_FIELDS) if locations is not None else None,
            seed=self.config.seed,
            request_share=self.config.request_share,
            state_file=self.config.state_file,
        )
        try:
            sources = analytics.report_sources(self.config.reports)
        except ValueError as problem:
            raise ConfigError(f"The simulator cannot serve Analytics: {problem}.") from None
        self.analytics = analytics.AnalyticsReports(sources, self.config.analytics_delay)
        self._tracking = catalogue.TrackingIds(self.config.seed)
        self._fault_rng = random.Random(self.config.seed)
        self._latency_rng = random.Random(self.config.seed + 1)
        self._lock = threading.Lock()
        self._accepted = SlidingSecond()
        self._arrivals = SlidingSecond()
        self._max_in_second = 0
        self._requests = 0
        self._throttled = 0
        self._statuses: collections.Counter[str] = collections.Counter()
        self._endpoints: collections.Counter[str] = collections.Counter()
        self._faults: collections.Counter[str] = collections.Counter()
        self._quota_day = self._today()
        self._quota = self.config.daily_quota if self.config.daily_quota is not None else UNLIMITED_QUOTA
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ----------

    def start(self) -> Simulator:
        """Bind (port 0 = a free port) and serve on a daemon thread; returns self for chaining."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self.world.open_log()
        try:
            self._server = _Server((self.config.host, self.config.port), self)
        except OSError as error:
            raise ConfigError(
                f"The simulator cannot listen on {self.config.host}:{self.config.port} ({error.strerror}): "
                "choose another port, or 0 for any free one."
            ) from None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="alma-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake every sleeping answer, cut open connections and close the state file."""
        server, self._server = self._server, None
        self._stopping.set()
        if server is not None:
            server.shutdown()
            with server.connections_lock:
                open_connections = list(server.connections)
            for connection in open_connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.world.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``; the Alma API base is this plus ``/almaws/v1``."""
        host = self.config.host if self.config.host not in ("", "0.0.0.0") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    # -- read access for tests ----------

    def item(self, item_id: str) -> Item | None:
        """A copy of one item's state (``on_loan``, ``process_type``, ``in_house_uses``, ``scans`` …)."""
        return self.world.snapshot(item_id)

    @property
    def items(self) -> dict[str, Item]:
        """Copies of every item, by item id."""
        return self.world.snapshot_all()

    def stats(self) -> dict[str, Any]:
        """The figures ``GET /_simulator/stats`` answers."""
        with self._lock:
            now = time.monotonic()
            figures: dict[str, Any] = {
                "requests": self._requests,
                "throttled": self._throttled,
                "max_requests_in_any_second": self._max_in_second,
                "requests_in_last_second": self._arrivals.count_since(now - 1.0),
                "faults": dict(self._faults),
                "http_status_counts": dict(self._statuses),
                "by_endpoint": dict(self._endpoints),
                "quota_remaining": self._quota,
                "rate_limit": self.config.rate_limit,
            }
        with self.world.lock:
            figures["scans"] = dict(self.world.scans)
            figures["in_house_uses"] = self.world.in_house_uses
            figures["skipped_rows"] = self.world.skipped_rows
            figures["items"] = len(self.world.items)
        figures["open_loans"] = self.world.open_loans()
        figures["status_counts"] = self.world.status_counts()
        return figures

    # -- the request path ----------

    @staticmethod
    def _today() -> str:
        return datetime.now(timezone.utc).date().isoformat()

    def _serve(self, handler: _Handler, method: str) -> None:
        """Answer one request (runs on the connection's own thread)."""
        url = urlsplit(handler.path)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if not self._drain_body(handler):
            return
        if url.path.rstrip("/") == "/_simulator/stats":
            self._send(handler, _Answer(200, body=json.dumps(self.stats()).encode()), count=False)
            return
        want_json = "application/json" in handler.headers.get("Accept", "") or query.get("format") == "json"
        endpoint = self._endpoint(method, url.path)
        now = handler.arrived
        with self._lock:
            self._requests += 1
            self._endpoints[endpoint] += 1
            self._max_in_second = max(self._max_in_second, self._arrivals.fullest_with(now))
            self._arrivals.add(now)
        key = self._key(handler, query)
        if key is None:
            self._send(handler, self._error("no_key", want_json))
            return
        if key not in self.config.api_keys and key not in self.config.read_only_keys:
            self._send(handler, self._error("bad_key", want_json))
            return
        refusal = self._admit(now)
        if refusal:
            self._send(handler, self._error(refusal, want_json))
            return
        fault = self._draw_fault()
        if fault in ("500", "503"):
            self._pause(self._latency())
            self._send(handler, self._error(f"fault_{fault}", want_json))
            return
        if fault == "drop":
            if method == "POST" and self._drop_applies():
                self._route(handler, method, url.path, query, key, want_json)
            self._drop(handler)
            return
        answer = self._route(handler, method, url.path, query, key, want_json)
        if fault == "late":
            self._pause(self.config.late_delay if self.config.late_delay is not None else 35.0)
        else:
            self._pause(self._latency())
        if self._stopping.is_set():
            self._drop(handler)
        elif self.config.hostile:
            self._send_hostile(handler, answer, self.config.hostile)
        else:
            self._send(handler, answer)

    @staticmethod
    def _endpoint(method: str, path: str) -> str:
        match = _ITEM_PATH.match(path)
        if match:
            return "loans" if match.group(4) else ("scan" if method == "POST" else "item")
        if path.rstrip("/") == "/almaws/v1/items":
            return "barcode"
        if path.rstrip("/") == "/almaws/v1/bibs/test":
            return "test"
        if _USER_LOANS_PATH.match(path):
            return "user_loans"
        if path.rstrip("/") == analytics.REPORTS_PATH:
            return "analytics"
        return "other"

    @staticmethod
    def _key(handler: _Handler, query: dict[str, str]) -> str | None:
        """The API key from ``Authorization: apikey K`` or ``?apikey=K`` (None when neither is sent)."""
        header = handler.headers.get("Authorization", "").strip()
        if header.lower().startswith("apikey "):
            return header[7:].strip()
        return query.get("apikey") or None

    def _admit(self, now: float) -> str | None:
        """Count the request against the daily quota and the sliding second; the refusal's name, if any."""
        with self._lock:
            today = self._today()
            if today != self._quota_day and self.config.daily_quota is not None:
                self._quota_day, self._quota = today, self.config.daily_quota
            if self.config.daily_quota is not None and self._quota <= 0:
                return "daily"
            limit = self.config.rate_limit
            if limit is not None and self._accepted.fullest_with(now) > limit:
                self._throttled += 1
                return "per_second"
            self._accepted.add(now)
            self._quota = max(0, self._quota - 1)
            return None

    def _draw_fault(self) -> str | None:
        if not self.config.fault_rate or not self.config.faults:
            return None
        with self._lock:
            if self._fault_rng.random() >= self.config.fault_rate:
                return None
            fault = self._fault_rng.choice(self.config.faults)
            self._faults[fault] += 1
            return fault

    def _drop_applies(self) -> bool:
        """Alternate dropped POSTs between applied and not applied, so clients meet both for sure."""
        with self._lock:
            self._faults["drop_post"] += 1
            applied = self._faults["drop_post"] % 2 == 0
            self._faults["drop_post_applied" if applied else "drop_post_not_applied"] += 1
            return applied

    def _latency(self) -> float:
        low, high = self.config.latency
        with self._lock:
            return self._latency_rng.uniform(low, high)

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the simulator stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _error(self, name: str, want_json: bool, **fields: str) -> _Answer:
        rendered = catalogue.render_error(name, want_json, self._tracking.next(), **fields)
        return _Answer(rendered.status, rendered.content_type, rendered.body)

    def _document(self, want_json: bool, root: str, document: dict[str, Any]) -> _Answer:
        if want_json:
            return _Answer(200, "application/json;charset=UTF-8", render.to_json(document))
        return _Answer(200, "application/xml;charset=UTF-8", render.to_xml(root, document))

    def _base(self, handler: _Handler) -> str:
        """Scheme and host the client used, for absolute links and the barcode redirect."""
        host = handler.headers.get("Host")
        return f"http://{host}" if host else self.base_url

    def _route(
        self, handler: _Handler, method: str, path: str, query: dict[str, str], key: str, want_json: bool
    ) -> _Answer:
        """The resource itself: Alma's answer once the gateway has let the request through."""
        writes = key in self.config.api_keys
        base = self._base(handler)
        match = _ITEM_PATH.match(path)
        if path.rstrip("/") == "/almaws/v1/bibs/test" and method in ("GET", "POST"):
            if method == "POST" and not writes:
                return self._error("unauthorized", want_json)
            text = f"{method} request succeeded"
            if want_json:
                return _Answer(200, body=json.dumps({"result": text}).encode())
            return _Answer(
                200,
                "application/xml;charset=UTF-8",
                f'<?xml version="1.0" encoding="UTF-8"?><test>{text}</test>'.encode(),
            )
        if path.rstrip("/") == analytics.REPORTS_PATH and method == "GET":
            return self._analytics(query, key, want_json)
        if path.rstrip("/") == "/almaws/v1/items" and method == "GET":
            return self._by_barcode(query, base, want_json)
        user = _USER_LOANS_PATH.match(path)
        if user and method == "GET":
            return self._user_loans(unquote(user.group(1)), query, base, want_json)
        if match and method == "POST" and not match.group(4):
            if not writes:
                return self._error("unauthorized", want_json)
            mms_id, holding_id, item_pid = (unquote(part) for part in match.group(1, 2, 3))
            result = self.world.scan_in(mms_id, holding_id, item_pid, query)
            if result.error:
                return self._error(result.error, want_json, **result.fields)
            assert result.item is not None
            document = render.item_document(result.item, base, result.additional_info)
            return self._document(want_json, "item", document)
        if match and method == "GET":
            mms_id, holding_id, item_pid = (unquote(part) for part in match.group(1, 2, 3))
            if not re.fullmatch(r"[0-9]+", mms_id):
                return self._error("mms_not_numeric", want_json, mms_id=mms_id)
            if mms_id not in self.world.mms_ids:
                return self._error("mms_unknown", want_json, mms_id=mms_id)
            item = self.world.lookup(mms_id, holding_id, item_pid)
            if item is None:
                return self._error("item_pid", want_json, item_pid=item_pid)
            if match.group(4):
                document = render.loans_document(item, base)
                if want_json:
                    return _Answer(200, body=render.to_json(document))
                return _Answer(200, "application/xml;charset=UTF-8", render.loans_xml(document))
            return self._document(want_json, "item", render.item_document(item, base))
        if match or user or path.rstrip("/") in ("/almaws/v1/items", "/almaws/v1/bibs/test"):
            return self._error("method", want_json, method=method, path=path)
        return self._error("not_found", want_json, path=path)

    def _analytics(self, query: dict[str, str], key: str, want_json: bool) -> _Answer:
        """An Analytics report page (:mod:`~alma_tools.simulator.analytics`), for keys allowed Analytics."""
        allowed = self.config.analytics_keys
        if key not in (allowed if allowed is not None else self.config.api_keys):
            return self._error("unauthorized", want_json)
        answer = self.analytics.answer(query)
        if answer.error:
            return self._error(answer.error, want_json, **answer.fields)
        return _Answer(200, *analytics.encode(answer.xml, want_json))

    def _user_loans(self, user_id: str, query: dict[str, str], base: str, want_json: bool) -> _Answer:
        """A user's loans: ``loan_status`` Active (default) or Complete, ``limit``, ``offset``."""
        loans = self.world.user_loans(user_id)
        if loans is None:
            return self._error("user", want_json, user_id=user_id)
        try:
            limit = min(max(int(query.get("limit", 10)), 0), 100)
            offset = max(int(query.get("offset", 0)), 0)
        except ValueError:
            return self._error("general", want_json)
        document = render.user_loans_document(loans, base, query.get("loan_status", "Active"), limit, offset)
        if want_json:
            return _Answer(200, body=render.to_json(document))
        return _Answer(200, "application/xml;charset=UTF-8", render.loans_xml(document))

    def _by_barcode(self, query: dict[str, str], base: str, want_json: bool) -> _Answer:
        """302 to the item's absolute URL, keeping the rest of the query string; unknown → 401689."""
        barcode = query.get("item_barcode", "")
        with self.world.lock:
            item_id = self.world.by_barcode.get(barcode)
            item = self.world.items.get(item_id) if item_id else None
            location = render.item_link(base, item) if item else None
        if location is None:
            return self._error("barcode", want_json, barcode=barcode)
        rest = urlencode([(k, v) for k, v in query.items() if k != "item_barcode"])
        return _Answer(
            302, "text/plain;charset=UTF-8", b"", {"Location": location + (f"?{rest}" if rest else "")}
        )

    # -- sending ----------

    def _drain_body(self, handler: _Handler) -> bool:
        """Read and discard the request body, as Alma accepts any; refuse one too large to read.

        The body must be read to its end even though it is ignored: on a keep-alive connection whatever is
        left unread would be parsed as the next request.
        """
        try:
            if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
                return self._drain_chunked(handler)
            length = int(handler.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return self._refuse_body(handler)
        try:
            while length > 0:
                chunk = handler.rfile.read(min(length, 65536))
                if not chunk:
                    return False
                length -= len(chunk)
        except OSError:
            return False
        return True

    def _drain_chunked(self, handler: _Handler) -> bool:
        """Discard a chunked body (size line, data, CRLF … a zero size, trailers, blank line)."""
        total = 0
        try:
            while True:
                size = int(handler.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                total += size
                if total > MAX_BODY:
                    return self._refuse_body(handler)
                if size == 0:
                    while handler.rfile.readline(1024).strip():
                        pass
                    return True
                handler.rfile.read(size + 2)
        except (OSError, ValueError):
            handler.close_connection = True
            return False

    def _refuse_body(self, handler: _Handler) -> bool:
        handler.close_connection = True
        self._send(handler, self._error("too_large", True, limit=str(MAX_BODY)), count=False)
        return False

    def _headers(self, handler: _Handler, answer: _Answer, length: int, count: bool) -> None:
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        handler.send_header("Content-Length", str(length))
        with self._lock:
            handler.send_header("X-Exl-Api-Remaining", str(self._quota))
            if count:
                self._statuses[str(answer.status)] += 1
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        if handler.close_connection:  # closed after this answer: said, as servers do; unsaid, a client
            # reusing the connection for its next request raced the close and saw a request dropped
            handler.send_header("Connection", "close")
        handler.end_headers()

    def _send(self, handler: _Handler, answer: _Answer, count: bool = True) -> None:
        try:
            self._headers(handler, answer, len(answer.body), count)
            handler.wfile.write(answer.body)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True

    @staticmethod
    def _drop(handler: _Handler) -> None:
        """Close the connection without a byte of answer, as a broken network does."""
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)

    def _send_hostile(self, handler: _Handler, answer: _Answer, mode: str) -> None:
        """An answer built to hurt the client: endless, explosive or dripping (the state change stands)."""
        handler.close_connection = True
        if mode == "xmlbomb":
            self._send(handler, _Answer(200, "application/xml;charset=UTF-8", _XML_BOMB.encode()))
            return
        try:
            if mode == "huge":
                self._headers(handler, _Answer(200, answer.content_type), HUGE_BODY_BYTES, True)
                for chunk in _huge_chunks(HUGE_BODY_BYTES):
                    if self._stopping.is_set():
                        break
                    handler.wfile.write(chunk)
            else:  # drip: the real answer, one byte a second
                self._headers(handler, answer, len(answer.body), True)
                for position in range(len(answer.body)):
                    handler.wfile.write(answer.body[position : position + 1])
                    handler.wfile.flush()
                    if self._stopping.wait(1.0):
                        break
        except OSError:
            pass  # the client hung up, which is what a careful client does


def _huge_chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    """A JSON-looking body of ``total`` bytes, one MiB at a time."""
    head = b'{"item_data":{"pid":"'
    yield head
    sent = len(head)
    filler = b"9" * size
    while sent < total:
        chunk = filler[: min(size, total - sent)]
        sent += len(chunk)
        yield chunk
