"""Item and loan documents as Alma writes them, in JSON and in XML.

One nested dict per answer, turned into JSON directly or into XML by one generic rule, so both formats always
carry the same content: code-valued fields ``{"value", "desc"}`` become ``<field desc="…">value</field>``, a
``link`` key becomes the ``link`` attribute of its element, ``None`` an empty element, booleans
``true``/``false``, and lists repeat their element.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

from alma_tools.simulator import catalogue
from alma_tools.simulator.state import Item, Loan

BASE_STATUS = {"1": "Item in place", "0": "Item not in place"}
PROCESS_TYPES = {"": None, "LOAN": "Loan", "TRANSIT": "Transit", "HOLDSHELF": "Hold Shelf"}
ALMA_PATH = "/almaws/v1"


def _code(value: str | None, desc: str | None) -> dict[str, str | None]:
    return {"value": value, "desc": desc}


def item_link(base: str, item: Item) -> str:
    """Absolute URL of the item: what ``link`` says and where the barcode redirect points."""
    return f"{base}{ALMA_PATH}/bibs/{item.mms_id}/holdings/{item.holding_id}/items/{item.item_id}"


def item_document(item: Item, base: str, additional_info: str | None = None) -> dict[str, Any]:
    """The Item object; ``additional_info`` only for a scan-in answer."""
    bib_link = f"{base}{ALMA_PATH}/bibs/{item.mms_id}"
    holding_link = f"{bib_link}/holdings/{item.holding_id}"
    temp = item.in_temp_location
    document: dict[str, Any] = {
        "bib_data": {"link": bib_link, "mms_id": item.mms_id, "title": item.title, "author": None},
        "holding_data": {
            "link": holding_link,
            "holding_id": item.holding_id,
            "call_number": None,
            "in_temp_location": temp,
            "temp_library": _code(
                item.temp_library or None, catalogue.library_description(item.temp_library) if temp else None
            ),
            "temp_location": _code(
                item.temp_location or None,
                catalogue.location_description(item.temp_library, item.temp_location) if temp else None,
            ),
        },
        "item_data": {
            "pid": item.item_id,
            "barcode": item.barcode,
            "base_status": _code(item.base_status, BASE_STATUS[item.base_status]),
            "process_type": _code(item.process_type, PROCESS_TYPES.get(item.process_type)),
            "requested": item.requested,
            "awaiting_reshelving": False,
            "physical_material_type": _code("BOOK", "Book"),
            "policy": _code("01", "Regular loan"),
            "library": _code(item.library, catalogue.library_description(item.library)),
            "location": _code(item.location, catalogue.location_description(item.library, item.location)),
        },
    }
    if additional_info is not None:
        document["additional_info"] = additional_info
    document["link"] = item_link(base, item)
    return document


def loan_document(item: Item, loan: Loan, base: str) -> dict[str, Any]:
    """One ``item_loan`` entry, with the fields Alma lists for a loan."""
    return {
        "link": f"{item_link(base, item)}/loans/{loan.loan_id}",
        "loan_id": loan.loan_id,
        "circ_desk": _code(loan.circ_desk, catalogue.desk_description(loan.circ_desk)),
        "return_circ_desk": _code(
            loan.return_circ_desk,
            catalogue.desk_description(loan.return_circ_desk) if loan.return_circ_desk else None,
        ),
        "library": _code(loan.library, catalogue.library_description(loan.library)),
        "user_id": loan.user_id,
        "item_barcode": item.barcode,
        "due_date": loan.due_date,
        "loan_status": loan.loan_status,
        "loan_date": loan.loan_date,
        "return_date": loan.return_date,
        "process_status": "NORMAL",
        "mms_id": item.mms_id,
        "holding_id": item.holding_id,
        "item_id": item.item_id,
        "title": item.title,
        "location_code": {
            "value": item.location,
            "name": catalogue.location_description(item.library, item.location),
        },
    }


def loans_document(item: Item, base: str) -> dict[str, Any]:
    """``GET …/loans``: the active loan, or only ``total_record_count: 0`` (no ``item_loan`` key)."""
    active = [loan_document(item, loan, base) for loan in item.loans if loan.loan_status == "ACTIVE"]
    if not active:
        return {"total_record_count": 0}
    return {"item_loan": active, "total_record_count": len(active)}


def user_loans_document(
    loans: list[tuple[Item, Loan]], base: str, status: str, limit: int, offset: int
) -> dict[str, Any]:
    """``GET /users/{id}/loans``: one page of the user's Active (default) or Complete loans, by loan id."""
    wanted = sorted(
        ((item, loan) for item, loan in loans if loan.loan_status == status.upper()),
        key=lambda pair: pair[1].loan_id,
    )
    page = [loan_document(item, loan, base) for item, loan in wanted[offset : offset + limit]]
    if not wanted:
        return {"total_record_count": 0}
    return {"item_loan": page, "total_record_count": len(wanted)}


def to_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ElementTree.Element, name: str, value: Any) -> None:
    """Append ``value`` under ``element`` as ``<name>`` following the module's XML rule."""
    if isinstance(value, list):
        for entry in value:
            _fill(element, name, entry)
        return
    child = ElementTree.SubElement(element, name)
    if isinstance(value, dict) and set(value) in ({"value", "desc"}, {"value", "name"}):
        label = "desc" if "desc" in value else "name"
        if value[label] is not None:
            child.set(label, _text(value[label]))
        if value["value"] is not None:
            child.text = _text(value["value"])
    elif isinstance(value, dict):
        for key, inner in value.items():
            if key == "link":
                child.set("link", inner)
            else:
                _fill(child, key, inner)
    elif value is not None:
        child.text = _text(value)


def to_xml(root: str, document: dict[str, Any], attributes: dict[str, str] | None = None) -> bytes:
    """The document as ``<root …>`` XML with Alma's declaration; ``attributes`` go on the root element."""
    element = ElementTree.Element(root)
    for key, value in document.items():
        if key == "link":
            element.set("link", value)
        elif key not in (attributes or {}):
            _fill(element, key, value)
    for key, value in (attributes or {}).items():
        element.set(key, value)
    body = ElementTree.tostring(element, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + body).encode("utf-8")


def loans_xml(document: dict[str, Any]) -> bytes:
    """``<item_loans total_record_count="n"><item_loan>…</item_loan></item_loans>``."""
    return to_xml("item_loans", document, {"total_record_count": str(document["total_record_count"])})
