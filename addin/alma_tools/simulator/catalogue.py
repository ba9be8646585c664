"""Alma's error catalogue and its four error shapes, as data.

The client must cope with every shape Alma really emits, so the simulator emits all of
them: application errors (HTTP 400 business codes) in the *flat* JSON shape with ``result: null``; gateway and
framework errors (missing key, permissions, thresholds, faults) in the *wrapped* ``web_service_result`` JSON
shape with a single ``error`` object; the XML ``web_service_result`` for either when XML was asked for; and
plain text for an unknown key. Codes and messages Ex Libris documents are copied exactly; the few it does not
document (wrong desk, unknown library, bad ``op``) are marked as the simulator's own choice, so they can be
changed here in one place when the real ones are known.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from xml.sax.saxutils import escape

#: JSON shapes: application errors are flat, gateway/framework errors wrapped
FLAT = "flat"
WRAPPED = "wrapped"
#: plain-text body, whatever format was asked for (unknown key)
TEXT = "text"

XML_NAMESPACE = "http://com/exlibris/urm/general/xmlbeans"


@dataclass(frozen=True)
class ErrorKind:
    """One entry of the catalogue: HTTP status, Alma's ``errorCode``, message template and JSON shape."""

    status: int
    code: str
    template: str
    shape: str = FLAT


#: every error the simulator can answer, keyed by a name the server uses; ``{…}`` fields are filled per call
ERRORS: dict[str, ErrorKind] = {
    # gateway (wrapped shape)
    "no_key": ErrorKind(
        400,
        "GENERAL_ERROR",
        "A Gateway error has occurred - Make sure you add an appropriate apikey as a parameter or a header.",
        WRAPPED,
    ),
    "bad_key": ErrorKind(400, "", "Invalid API Key", TEXT),
    "unauthorized": ErrorKind(
        400, "UNAUTHORIZED", "API-key not defined or not configured to allow this API.", WRAPPED
    ),
    "per_second": ErrorKind(
        429, "PER_SECOND_THRESHOLD", "HTTP requests are more than allowed per second", WRAPPED
    ),
    # wording not documented by Ex Libris; the code and status are
    "daily": ErrorKind(
        429, "DAILY_THRESHOLD", "Daily API request threshold has been reached for the institution.", WRAPPED
    ),
    "fault_500": ErrorKind(
        500,
        "GENERAL_ERROR",
        "Internal Server Error - General error with the API Gateway – please retry later.",
        WRAPPED,
    ),
    "fault_503": ErrorKind(
        503,
        "GENERAL_ERROR",
        "Service Unavailable - General error with the API Gateway – please retry later.",
        WRAPPED,
    ),
    "not_found": ErrorKind(404, "NOT_FOUND", "No such resource: {path}", WRAPPED),
    "method": ErrorKind(405, "METHOD_NOT_ALLOWED", "Method {method} is not allowed on {path}", WRAPPED),
    "too_large": ErrorKind(403, "REQUEST_TOO_LARGE", "Request body is larger than {limit} bytes.", WRAPPED),
    # application errors (flat shape), documented codes
    "missing_library": ErrorKind(400, "401664", "Mandatory field is missing: library"),
    "missing_desk": ErrorKind(
        400, "40166415", "Must send at least one of the following parameters: [circ_desk,department]"
    ),
    "mms_not_numeric": ErrorKind(400, "402204", "Input parameters mmsId {mms_id} is not numeric."),
    "mms_unknown": ErrorKind(400, "402203", "Input parameters mmsId {mms_id} is not valid."),
    "item_pid": ErrorKind(400, "40166411", "The parameter item_pid is invalid. Received: {item_pid}."),
    "barcode": ErrorKind(400, "401689", "No items found for barcode {barcode}."),
    "user": ErrorKind(400, "401861", "User with identifier {user_id} was not found."),
    "department": ErrorKind(400, "401875", "Failed to find the department."),
    "general": ErrorKind(
        400, "401652", "General Error - An error has occurred while processing the request."
    ),
    # Analytics: documented codes and texts
    "analytics_path": ErrorKind(500, "INTERNAL_SERVER_ERROR", "Path not found ({path})"),
    "analytics_no_more_rows": ErrorKind(500, "420033", "No more rows to fetch"),
    # application errors whose real code Alma does not document: the simulator's choice
    "analytics_token": ErrorKind(400, "INVALID_PARAMETER", "Resumption token is not valid: {token}"),
    "analytics_filter": ErrorKind(400, "INVALID_PARAMETER", "The filter cannot be applied: {problem}."),
    "missing_op": ErrorKind(400, "401664", "Mandatory field is missing: op"),
    "bad_op": ErrorKind(400, "40166410", "The parameter op is invalid. Received: {op}."),
    "unknown_library": ErrorKind(400, "40166412", "The parameter library is invalid. Received: {library}."),
    "desk_not_in_library": ErrorKind(
        400, "40166413", "The parameter circ_desk is invalid. Received: {circ_desk}."
    ),
}

#: library code → short name; other codes become "<Code> Library" (numeric ones "Library <code>")
LIBRARY_NAMES = {
    "MAIN": "Main",
    "SCI": "Science",
    "LAW": "Law",
    "MED": "Medical",
    "MUS": "Music",
    "ART": "Art",
    "ENG": "Engineering",
    "HUM": "Humanities",
    "SOC": "Social Sciences",
    "RES": "Research",
}
#: location code (after a leading library prefix such as ``sci`` or ``law`` is removed) → words
LOCATION_WORDS = {
    "stacks": "stacks",
    "stk": "stacks",
    "ref": "reference",
    "per": "periodicals",
    "folio": "folios",
    "media": "media",
    "resv": "reserves",
    "res": "research collection",
    "spec": "special collections",
}


def library_short(code: str) -> str:
    """Short, deterministic name of a library code ("Main", "Science", "Library 1030300")."""
    if code in LIBRARY_NAMES:
        return LIBRARY_NAMES[code]
    if not code.isalpha():
        return f"Library {code}"
    return code.title()


def library_description(code: str) -> str:
    """The ``desc`` Alma shows for a library: "Main Library", "Science Library", "Library 1030300"."""
    short = library_short(code)
    return short if short.startswith("Library ") else f"{short} Library"


def location_description(library: str, location: str) -> str:
    """The ``desc`` of a location: the library's short name and what the code abbreviates ("Main stacks")."""
    rest = location.lower()
    short = library_short(library).lower()
    for prefix in sorted({library.lower(), short, short[:3]}, key=len, reverse=True):
        if rest.startswith(prefix) and rest != prefix:
            rest = rest[len(prefix) :]
            break
    words = LOCATION_WORDS.get(rest, location)
    return f"{library_short(library)} {words}"


def desk_description(desk: str) -> str:
    """Readable name of a circulation desk code ("DEFAULT_CIRC_DESK" → "Default circ desk")."""
    return desk.replace("_", " ").capitalize()


class TrackingIds:
    """Alma-style tracking ids (``E02-2211222125-XXXXX-AAAA0000000001``), unique per simulator run."""

    def __init__(self, seed: int) -> None:
        self._prefix = f"E0{seed % 9 + 1}-SIM{seed % 100000:05d}"
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            number = next(self._counter)
        return f"{self._prefix}-{number:010d}"


@dataclass(frozen=True)
class ErrorAnswer:
    """A rendered error: HTTP status, content type and body bytes."""

    status: int
    content_type: str
    body: bytes


def render_error(name: str, want_json: bool, tracking_id: str, **fields: str) -> ErrorAnswer:
    """Render catalogue entry ``name`` in the shape Alma uses for it and the format the client asked for."""
    kind = ERRORS[name]
    message = kind.template.format(**fields) if fields else kind.template
    if kind.shape == TEXT:
        return ErrorAnswer(kind.status, "text/plain;charset=UTF-8", message.encode())
    error = {"errorCode": kind.code, "errorMessage": message, "trackingId": tracking_id}
    if not want_json:
        body = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            f'<web_service_result xmlns="{XML_NAMESPACE}"><errorsExist>true</errorsExist><errorList><error>'
            f"<errorCode>{escape(kind.code)}</errorCode><errorMessage>{escape(message)}</errorMessage>"
            f"<trackingId>{tracking_id}</trackingId></error></errorList></web_service_result>"
        )
        return ErrorAnswer(kind.status, "application/xml;charset=UTF-8", body.encode())
    if kind.shape == WRAPPED:
        document: dict = {"web_service_result": {"errorsExist": True, "errorList": {"error": error}}}
    else:
        document = {"errorsExist": True, "errorList": {"error": [error]}, "result": None}
    return ErrorAnswer(kind.status, "application/json;charset=UTF-8", json.dumps(document).encode())
