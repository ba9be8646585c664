"""Reading Alma's answers: the Item and Loan records, and the four shapes an error can come in.

Alma answers JSON when asked (``Accept: application/json``) but errors from the gateway can still come as
XML or plain text, and JSON errors have two layouts. Everything here is tolerant of missing fields (Alma
omits empty ones) and strict about safety: XML is parsed with ``defusedxml`` so an entity bomb or an
external entity is refused instead of expanded.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

import defusedxml
import defusedxml.ElementTree as SafeET

from alma_tools.alma.exceptions import (
    AlmaError,
    AuthError,
    DailyLimitError,
    ServerError,
    ThresholdError,
    redact,
)

#: How much of an answer body is kept in a :class:`ResponseRecord` (the run journal saves it).
RECORD_BODY_LIMIT = 64 * 1024
_MESSAGE_LIMIT = 500
_DESTINATION = re.compile(r"Item's destination is:\s*(.*?)\.\s*Request/Process Type:", re.DOTALL)


@dataclass(frozen=True)
class Item:
    """The parts of Alma's Item object that discharge and its status texts need (ids are text, always)."""

    mms_id: str
    holding_id: str
    item_id: str
    barcode: str
    title: str
    library: str
    library_desc: str
    location: str
    location_desc: str
    base_status: str  # "1" item in place, "0" not in place
    process_type: str  # "" (none), LOAN, TRANSIT, HOLDSHELF, WORK_ORDER_DEPARTMENT, ...
    requested: bool | None
    additional_info: str  # scan-in only: "Item's destination is: ... Place in Queue: n"
    destination: str  # the "<D>" of additional_info, e.g. "Reshelve to Main Stacks" or "On Hold Shelf"
    process_type_desc: str = ""


@dataclass(frozen=True)
class Loan:
    """One loan of an item, as listed by ``GET …/items/{pid}/loans``."""

    loan_id: str
    loan_status: str  # "ACTIVE" while on loan
    item_id: str
    barcode: str
    return_date: str
    due_date: str = ""
    loan_date: str = ""


@dataclass(frozen=True)
class ResponseRecord:
    """One answer from Alma, for the run journal. ``path`` never contains the key; ``body_text`` is capped."""

    method: str
    path: str
    status: int
    body_text: str
    elapsed: float


def _text(value: Any) -> str:
    """A field as text: Alma's ``{"value": …}`` code objects, numbers and None all become plain strings."""
    if isinstance(value, dict):
        value = value.get("value")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _desc(value: Any) -> str:
    """The ``desc`` of a ``{"value", "desc"}`` code object ("" when absent)."""
    if isinstance(value, dict):
        return _text(value.get("desc"))
    return ""


def _bool_or_none(value: Any) -> bool | None:
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    return None


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    """The JSON object under *key* ({} when absent or not an object)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def destination_of(additional_info: str) -> str:
    """The destination named in scan-in's ``additional_info`` ("" when it does not follow the template)."""
    match = _DESTINATION.search(additional_info or "")
    return match.group(1).strip() if match else ""


def item_from_dict(data: dict[str, Any]) -> Item:
    """Build an :class:`Item` from the JSON object (or the same structure read from XML)."""
    if not isinstance(data, dict) or not isinstance(data.get("item_data"), dict):
        raise AlmaError("Alma's answer is not an item record (it has no item_data)")
    bib, holding, item = (_object(data, key) for key in ("bib_data", "holding_data", "item_data"))
    info = _text(data.get("additional_info"))
    return Item(
        mms_id=_text(bib.get("mms_id")),
        holding_id=_text(holding.get("holding_id")),
        item_id=_text(item.get("pid")),
        barcode=_text(item.get("barcode")),
        title=_text(bib.get("title")),
        library=_text(item.get("library")),
        library_desc=_desc(item.get("library")),
        location=_text(item.get("location")),
        location_desc=_desc(item.get("location")),
        base_status=_text(item.get("base_status")),
        process_type=_text(item.get("process_type")),
        requested=_bool_or_none(item.get("requested")),
        additional_info=info,
        destination=destination_of(info),
        process_type_desc=_desc(item.get("process_type")),
    )


def loans_from_dict(data: dict[str, Any]) -> list[Loan]:
    """The :class:`Loan` list from ``{"item_loan": [...], "total_record_count": n}`` (key absent: none)."""
    if not isinstance(data, dict):
        raise AlmaError("Alma's answer is not a list of loans")
    raw = data.get("item_loan") or []
    if isinstance(raw, dict):  # a single loan serialised as an object, as XML-to-JSON converters do
        raw = [raw]
    return [
        Loan(
            loan_id=_text(loan.get("loan_id")),
            loan_status=_text(loan.get("loan_status")),
            item_id=_text(loan.get("item_id")),
            barcode=_text(loan.get("item_barcode")),
            return_date=_text(loan.get("return_date")),
            due_date=_text(loan.get("due_date")),
            loan_date=_text(loan.get("loan_date")),
        )
        for loan in raw
        if isinstance(loan, dict)
    ]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _element_to_value(element: ET.Element) -> Any:
    """XML element → the value Alma's JSON has for it (fields with ``desc`` become value/desc objects)."""
    children = list(element)
    if not children:
        text = (element.text or "").strip()
        return {"value": text, "desc": element.get("desc", "")} if "desc" in element.attrib else text
    result: dict[str, Any] = {key: value for key, value in element.attrib.items() if key != "link"}
    for child in children:
        name, value = _local(child.tag), _element_to_value(child)
        if name in result:
            existing = result[name]
            result[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            result[name] = value
    return result


def parse_xml(text: str) -> dict[str, Any]:
    """Parse an XML answer safely into the JSON-like structure; AlmaError when unreadable or hostile."""
    try:
        root = SafeET.fromstring(text.encode("utf-8"))
    except defusedxml.DefusedXmlException:
        raise AlmaError("Alma's answer contained XML entities, which are refused for safety") from None
    except ET.ParseError:
        raise AlmaError("Alma's answer could not be read (broken XML)") from None
    # The root always becomes an object (its attributes such as total_record_count included), like the JSON.
    result: dict[str, Any] = {key: value for key, value in root.attrib.items() if key != "link"}
    if len(root):
        result.update(_element_to_value(root))
    return result


def parse_body(content_type: str, text: str) -> dict[str, Any]:
    """Parse a successful answer, JSON or XML, into a dict; AlmaError when it is neither."""
    kind = (content_type or "").lower()
    stripped = text.lstrip()
    if "xml" in kind or stripped.startswith("<"):
        return parse_xml(text)
    try:
        data = json.loads(text)
    except ValueError:
        raise AlmaError("Alma's answer could not be read (it is not JSON)") from None
    if not isinstance(data, dict):
        raise AlmaError("Alma's answer could not be read (unexpected JSON)")
    return data


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def _first_error(errors: Any) -> dict[str, Any] | None:
    if isinstance(errors, list):
        errors = next((e for e in errors if isinstance(e, dict)), None)
    return errors if isinstance(errors, dict) else None


def error_fields(content_type: str, text: str) -> tuple[str, str, str]:
    """(code, message, tracking id) from any of Alma's four error shapes; best effort for anything else.

    Shapes: JSON ``{"errorsExist", "errorList": {"error": [ … ]}, "result": null}``; JSON wrapped in
    ``web_service_result`` with ``error`` as an object or a list; XML ``<web_service_result>``; plain text.
    """
    kind = (content_type or "").lower()
    stripped = text.strip()
    if not stripped:
        return "", "", ""
    error: dict[str, Any] | None = None
    if "json" in kind or stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            body = data.get("web_service_result", data)
            error_list = body.get("errorList") if isinstance(body, dict) else None
            if isinstance(error_list, dict):
                error = _first_error(error_list.get("error"))
    elif "xml" in kind or stripped.startswith("<"):
        try:
            root = SafeET.fromstring(stripped.encode("utf-8"))
        except (defusedxml.DefusedXmlException, ET.ParseError):
            root = None
        if root is not None and _local(root.tag) != "html":
            found = next((e for e in root.iter() if _local(e.tag) == "error"), None)
            if found is not None:
                error = {_local(child.tag): (child.text or "").strip() for child in found}
    if error is not None:
        return (
            _text(error.get("errorCode")).strip(),
            _one_line(_text(error.get("errorMessage"))),
            _text(error.get("trackingId")).strip(),
        )
    if "html" in kind or stripped.lower().startswith(("<!doctype html", "<html")):
        return "", "the server answered with a web page instead of an Alma answer (a proxy in between?)", ""
    return "", _one_line(stripped), ""


def parse_error(status: int, content_type: str, text: str) -> AlmaError:
    """The :class:`AlmaError` (right subclass, plain-words hint) for an error answer; the caller raises it."""
    code, message, tracking = error_fields(content_type, redact(text))
    if not message:
        message = f"HTTP {status} without an explanation"
    upper_code = code.upper()
    lower_message = message.lower()
    kwargs: dict[str, Any] = {"status": status, "code": code, "tracking_id": tracking}
    if upper_code == "DAILY_THRESHOLD":
        return DailyLimitError(
            message,
            hint="The institution's daily API allowance is used up; it resets at midnight in your "
            "institution's time zone. Run again tomorrow: rows already done are kept.",
            **kwargs,
        )
    if status == 429 or upper_code == "PER_SECOND_THRESHOLD":
        return ThresholdError(
            message,
            hint="Alma is refusing calls because the institution's 25 calls per second are in use; "
            "try again later or lower the rate.",
            **kwargs,
        )
    if "invalid api key" in lower_message:
        return AuthError(
            message,
            hint="Alma does not know this API key: check that it was copied whole and that the region "
            "(server) is your institution's.",
            **kwargs,
        )
    if upper_code == "UNAUTHORIZED" or (status in (401, 403) and upper_code in ("", "FORBIDDEN")):
        return AuthError(
            message,
            hint="The API key is not allowed to do this: scanning items in needs a production key with "
            "Bibs read/write in the Ex Libris Developer Network.",
            **kwargs,
        )
    if upper_code == "GENERAL_ERROR" and "apikey" in lower_message:
        return AuthError(message, hint="No API key reached Alma.", **kwargs)
    if is_retry_later(status, code, message):
        return ServerError(message, hint="Alma had a fault; try again later.", **kwargs)
    return AlmaError(message, **kwargs)


#: 5xx answers Analytics gives for a request that can never succeed: the end of the rows (420033)
#: and a report path that does not exist. They are not faults, so they are not retried.
FINAL_SERVER_CODES = ("420033",)
FINAL_SERVER_MESSAGES = ("path not found",)


def is_retry_later(status: int, code: str, message: str) -> bool:
    """True for the transient faults Alma tells clients to retry: any 5xx, and GENERAL_ERROR "retry later"."""
    if code in FINAL_SERVER_CODES or message.lower().startswith(FINAL_SERVER_MESSAGES):
        return False
    return status >= 500 or (code.upper() == "GENERAL_ERROR" and "retry later" in message.lower())


def record_body(text: str) -> str:
    """The body as kept in a :class:`ResponseRecord`: key removed, capped at :data:`RECORD_BODY_LIMIT`."""
    text = redact(text)
    if len(text) > RECORD_BODY_LIMIT:
        return text[:RECORD_BODY_LIMIT] + "\n[… answer cut here: longer than 64 KB]"
    return text
