"""The Alma simulator, tested over real loopback sockets against the behaviour Ex Libris documents."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from xml.etree import ElementTree

import pandas as pd
import pytest
import requests

from alma_tools.errors import ConfigError
from alma_tools.simulator import Item, Simulator, SimulatorConfig
from fixtures_simulator import DATA, TEST_KEY, find_free_port
from harness import wait_until

JSON = {"Accept": "application/json"}
AUTH = {"Authorization": f"apikey {TEST_KEY}"}
NS = "{http://com/exlibris/urm/general/xmlbeans}"
SCAN = {"op": "scan", "circ_desk": "DEFAULT_CIRC_DESK"}


def item_url(sim: Simulator, item: Item) -> str:
    return f"{sim.base_url}/almaws/v1/bibs/{item.mms_id}/holdings/{item.holding_id}/items/{item.item_id}"


def plain_items(sim: Simulator) -> list[Item]:
    """Items on loan without a hold request, in a stable order."""
    return [item for item in sim.items.values() if item.request is None and not item.in_temp_location]


def scan(
    sim: Simulator,
    item: Item,
    library: str | None = None,
    json_answer: bool = True,
    key: str = TEST_KEY,
    **params: str,
) -> requests.Response:
    query = {**SCAN, "library": library or item.library, **params}
    headers = {"Authorization": f"apikey {key}", **(JSON if json_answer else {})}
    return requests.post(item_url(sim, item), params=query, headers=headers, timeout=10)


def flat_error(response: requests.Response) -> dict:
    """The single error of Alma's flat JSON error shape."""
    body = response.json()
    assert body["errorsExist"] is True and body["result"] is None
    (error,) = body["errorList"]["error"]
    assert error["trackingId"]
    return error


def wrapped_error(response: requests.Response) -> dict:
    """The error of the gateway's ``web_service_result`` JSON shape."""
    body = response.json()
    error = body["web_service_result"]["errorList"]["error"]
    assert body["web_service_result"]["errorsExist"] is True and isinstance(error, dict)
    assert error["trackingId"]
    return error


def xml_error(response: requests.Response) -> tuple[str, str]:
    assert response.headers["Content-Type"] == "application/xml;charset=UTF-8"
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{NS}web_service_result"
    error = root.find(f"{NS}errorList/{NS}error")
    assert error.findtext(f"{NS}trackingId")
    return error.findtext(f"{NS}errorCode"), error.findtext(f"{NS}errorMessage")


# -- the starting world ----------


def test_every_row_is_an_item_on_loan_and_a_share_has_requests(simulator):
    sim = simulator(request_share=0.2)
    items = sim.items
    assert len(items) == 300
    assert all(
        item.on_loan and item.process_type == "LOAN" and item.base_status == "0" for item in items.values()
    )
    requested = [item for item in items.values() if item.request]
    assert 30 < len(requested) < 90
    assert {r.request.pickup_library == r.current_library for r in requested} == {True, False}
    stats = sim.stats()
    assert stats["open_loans"] == 300 and stats["items"] == 300
    again = simulator(request_share=0.2).items
    assert {i: it.request for i, it in again.items()} == {i: it.request for i, it in items.items()}


def test_ids_stay_text_and_damaged_rows_are_skipped(simulator):
    sim = simulator(items=DATA / "items_excel_damaged.csv")
    assert sim.stats()["skipped_rows"] > 0
    assert all(re.fullmatch(r"[0-9]+", i) for i in sim.items)
    assert "23698929004003681" in sim.items  # a row Excel did not damage keeps its exact id


def test_xlsx_export_and_dataframe_give_the_same_items(simulator):
    from_xlsx = simulator(items=DATA / "items_to_discharge.xlsx").items
    frame = pd.read_csv(
        DATA / "items_to_discharge.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    )
    from_frame = simulator(items=frame).items
    assert set(from_xlsx) == set(from_frame) and len(from_frame) == 300
    one = next(iter(from_frame))
    assert from_xlsx[one].barcode == from_frame[one].barcode


def test_desks_come_from_locations_or_default(simulator):
    sim = simulator()
    assert ("MAIN", "RESERVES_DESK") in sim.world.desks and (
        "1030300",
        "DEFAULT_CIRC_DESK",
    ) in sim.world.desks
    bare = simulator(locations=None)
    assert bare.world.desks == {(lib, "DEFAULT_CIRC_DESK") for lib in ("MAIN", "SCI", "LAW", "1030300")}
    old_form = simulator(locations=DATA / "locations_to_circ.csv")
    assert ("MAIN", "DEFAULT_CIRC_DESK") in old_form.world.desks


# -- item, barcode, loans ----------


def test_get_item_in_json_and_xml(sim):
    item = plain_items(sim)[0]
    answer = requests.get(item_url(sim, item), headers={**AUTH, **JSON}, timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json;charset=UTF-8"
    body = answer.json()
    assert set(body) == {"bib_data", "holding_data", "item_data", "link"}  # no additional_info on GET
    assert body["link"] == item_url(sim, item)
    assert body["item_data"]["pid"] == item.item_id and body["bib_data"]["mms_id"] == item.mms_id
    assert body["item_data"]["process_type"] == {"value": "LOAN", "desc": "Loan"}
    assert body["item_data"]["base_status"] == {"value": "0", "desc": "Item not in place"}
    assert body["item_data"]["library"]["value"] == item.library
    xml = requests.get(item_url(sim, item), headers=AUTH, timeout=5)
    assert xml.headers["Content-Type"] == "application/xml;charset=UTF-8"
    root = ElementTree.fromstring(xml.content)
    assert root.tag == "item" and root.get("link") == item_url(sim, item)
    assert root.find("item_data/process_type").get("desc") == "Loan"
    assert root.findtext("item_data/pid") == item.item_id
    as_format = requests.get(item_url(sim, item), params={"format": "json"}, headers=AUTH, timeout=5)
    assert as_format.json()["item_data"]["barcode"] == item.barcode


def test_barcode_redirects_to_the_item_keeping_the_query(sim):
    item = plain_items(sim)[1]
    answer = requests.get(
        f"{sim.base_url}/almaws/v1/items",
        allow_redirects=False,
        timeout=5,
        params={"item_barcode": item.barcode, "apikey": TEST_KEY, "format": "json"},
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{item_url(sim, item)}?apikey={TEST_KEY}&format=json"
    followed = requests.get(
        f"{sim.base_url}/almaws/v1/items",
        params={"item_barcode": item.barcode},
        headers={**AUTH, **JSON},
        timeout=5,
    )
    assert followed.status_code == 200 and followed.json()["item_data"]["pid"] == item.item_id
    assert sim.stats()["by_endpoint"]["barcode"] == 2  # the redirect hop is a request of its own


def test_unknown_barcode_is_401689(sim):
    answer = requests.get(
        f"{sim.base_url}/almaws/v1/items",
        params={"item_barcode": "NOPE1"},
        headers={**AUTH, **JSON},
        timeout=5,
    )
    assert answer.status_code == 400
    assert flat_error(answer)["errorCode"] == "401689"
    assert flat_error(answer)["errorMessage"] == "No items found for barcode NOPE1."
    xml = requests.get(
        f"{sim.base_url}/almaws/v1/items", params={"item_barcode": "NOPE1"}, headers=AUTH, timeout=5
    )
    assert xml_error(xml) == ("401689", "No items found for barcode NOPE1.")


def test_loans_before_and_after_scan(sim):
    item = plain_items(sim)[2]
    loans = requests.get(item_url(sim, item) + "/loans", headers={**AUTH, **JSON}, timeout=5).json()
    assert loans["total_record_count"] == 1
    (loan,) = loans["item_loan"]
    assert loan["loan_status"] == "ACTIVE" and loan["item_id"] == item.item_id
    assert loan["item_barcode"] == item.barcode and loan["return_date"] is None
    xml = ElementTree.fromstring(
        requests.get(item_url(sim, item) + "/loans", headers=AUTH, timeout=5).content
    )
    assert xml.tag == "item_loans" and xml.get("total_record_count") == "1"
    assert xml.findtext("item_loan/loan_status") == "ACTIVE"
    assert scan(sim, item).status_code == 200
    after = requests.get(item_url(sim, item) + "/loans", headers={**AUTH, **JSON}, timeout=5)
    assert after.json() == {"total_record_count": 0}
    xml_after = ElementTree.fromstring(
        requests.get(item_url(sim, item) + "/loans", headers=AUTH, timeout=5).content
    )
    assert xml_after.get("total_record_count") == "0" and xml_after.find("item_loan") is None
    closed = sim.item(item.item_id).loans[0]
    assert closed.loan_status == "COMPLETE" and closed.return_date


def test_user_loans_follow_the_scan(sim):
    item = plain_items(sim)[3]
    user = item.loans[0].user_id
    url = f"{sim.base_url}/almaws/v1/users/{user}/loans"
    active = requests.get(url, headers={**AUTH, **JSON}, timeout=5).json()
    assert active["total_record_count"] >= 1
    assert item.item_id in {loan["item_id"] for loan in active["item_loan"]}
    scan(sim, item)
    after = requests.get(url, headers={**AUTH, **JSON}, timeout=5).json()
    assert item.item_id not in {loan["item_id"] for loan in after.get("item_loan", [])}
    history = requests.get(url, params={"loan_status": "Complete"}, headers=AUTH, timeout=5)
    root = ElementTree.fromstring(history.content)
    assert root.get("total_record_count") == "1" and root.findtext("item_loan/loan_status") == "COMPLETE"
    unknown = requests.get(
        f"{sim.base_url}/almaws/v1/users/nobody/loans", headers={**AUTH, **JSON}, timeout=5
    )
    assert flat_error(unknown)["errorMessage"] == "User with identifier nobody was not found."


def test_bibs_test_checks_read_and_write(simulator):
    sim = simulator(read_only_keys=("ro-key",))
    url = f"{sim.base_url}/almaws/v1/bibs/test"
    assert requests.get(url, headers={"Authorization": "apikey ro-key"}, timeout=5).status_code == 200
    assert requests.post(url, headers=AUTH, timeout=5).status_code == 200
    refused = requests.post(url, headers={"Authorization": "apikey ro-key", **JSON}, timeout=5)
    assert refused.status_code == 400 and wrapped_error(refused)["errorCode"] == "UNAUTHORIZED"


def test_unknown_path_is_not_found(sim):
    answer = requests.get(f"{sim.base_url}/almaws/v1/nothing/here", headers={**AUTH, **JSON}, timeout=5)
    assert answer.status_code == 404 and wrapped_error(answer)["errorCode"] == "NOT_FOUND"


# -- scan-in: the state machine ----------


def test_scan_at_own_library_returns_to_shelf(sim):
    item = plain_items(sim)[0]
    answer = scan(sim, item)
    assert answer.status_code == 200
    body = answer.json()
    assert body["item_data"]["base_status"]["value"] == "1"
    assert body["item_data"]["process_type"]["value"] == ""
    location = body["item_data"]["location"]["desc"]
    assert body["additional_info"] == (
        f"Item's destination is: Reshelve to {location}. Request/Process Type: . Requester: . "
        "Requester ID: . Place in Queue: 0"
    )
    state = sim.item(item.item_id)
    assert not state.on_loan and state.in_house_uses == 0 and state.scans == 1


def test_scan_at_another_library_sends_to_transit(sim):
    item = next(i for i in plain_items(sim) if i.library == "SCI")
    answer = scan(sim, item, library="LAW", json_answer=False)
    root = ElementTree.fromstring(answer.content)
    assert root.find("item_data/process_type").text == "TRANSIT"
    assert root.find("item_data/base_status").get("desc") == "Item not in place"
    assert root.findtext("additional_info") == (
        "Item's destination is: Science Library. Request/Process Type: Transit for reshelving. Requester: . "
        "Requester ID: . Place in Queue: 1"
    )
    assert not sim.item(item.item_id).on_loan
    home = scan(sim, item, register_in_house_use="false")  # the transit ends at home
    assert home.json()["item_data"]["process_type"]["value"] == ""


def test_temporary_location_belongs_to_its_own_library(simulator):
    frame = pd.DataFrame(
        {
            "MMS Id": ["991234567890123681"],
            "Holding Id": ["221234567890123681"],
            "Item Id": ["231234567890123681"],
            "Barcode": ["T0001"],
            "Library Code": ["MAIN"],
            "Location Code": ["stacks"],
            "Temporary Location Code": ["sciresv"],
            "Title": ["A reserve copy"],
        }
    )
    sim = simulator(items=frame)
    item = sim.item("231234567890123681")
    assert item.temp_library == "SCI"
    away = scan(sim, item, library="MAIN").json()
    assert away["item_data"]["process_type"]["value"] == "TRANSIT"
    assert away["additional_info"].startswith("Item's destination is: Science Library. ")
    assert away["holding_data"]["in_temp_location"] is True
    assert away["holding_data"]["temp_library"] == {"value": "SCI", "desc": "Science Library"}
    home = scan(sim, item, library="SCI", register_in_house_use="false").json()
    assert home["additional_info"].startswith("Item's destination is: Reshelve to Science reserves. ")


def test_hold_request_goes_to_hold_shelf_or_pickup_library(simulator):
    sim = simulator(request_share=1.0)
    items = list(sim.items.values())
    at_home = next(i for i in items if i.request.pickup_library == i.current_library)
    answer = scan(sim, at_home, library=at_home.current_library).json()
    assert answer["item_data"]["process_type"]["value"] == "HOLDSHELF"
    assert answer["item_data"]["requested"] is True
    assert answer["additional_info"] == (
        "Item's destination is: On Hold Shelf. Request/Process Type: Patron physical item request. "
        f"Requester: {at_home.request.requester_name}. Requester ID: {at_home.request.requester_id}. "
        "Place in Queue: 1"
    )
    assert not sim.item(at_home.item_id).request.waiting
    elsewhere = next(i for i in items if i.request.pickup_library != i.current_library)
    moved = scan(sim, elsewhere, library=elsewhere.current_library).json()
    assert moved["item_data"]["process_type"]["value"] == "TRANSIT"
    assert moved["additional_info"].startswith(
        f"Item's destination is: {sim_library_name(elsewhere.request.pickup_library)}. "
        "Request/Process Type: Patron physical item request. Requester: "
    )


def sim_library_name(code: str) -> str:
    from alma_tools.simulator.catalogue import library_description

    return library_description(code)


def test_rescan_registers_in_house_use_unless_told_not_to(sim):
    first, second = plain_items(sim)[:2]
    scan(sim, first)
    scan(sim, first)  # Alma's default register_in_house_use=true: a spurious in-house use
    assert sim.item(first.item_id).in_house_uses == 1
    scan(sim, second)
    scan(sim, second, register_in_house_use="false")
    assert sim.item(second.item_id).in_house_uses == 0
    stats = sim.stats()
    assert stats["in_house_uses"] == 1 and stats["scans"][first.item_id] == 2
    assert stats["open_loans"] == 298


def test_any_body_is_accepted(sim):
    first, second = plain_items(sim)[:2]
    query = {**SCAN, "library": first.library}
    with_json = requests.post(
        item_url(sim, first),
        params=query,
        data="{}",
        timeout=5,
        headers={**AUTH, **JSON, "Content-Type": "application/json"},
    )
    assert with_json.status_code == 200
    query["library"] = second.library
    with_xml = requests.post(
        item_url(sim, second),
        params=query,
        data="<item><pid>1</pid></item>" * 50,
        headers={**AUTH, "Content-Type": "application/xml"},
        timeout=5,
    )
    assert with_xml.status_code == 200
    streamed = requests.post(
        item_url(sim, second),
        params=query,
        data=(part for part in [b"<item>", b"</item>"]),  # sent chunked
        headers={**AUTH, **JSON},
        timeout=5,
    )
    assert streamed.status_code == 200 and streamed.json()["item_data"]["pid"] == second.item_id
    too_large = requests.post(
        item_url(sim, first), data=b"x" * 1_000_001, headers={**AUTH, **JSON}, timeout=5
    )
    assert too_large.status_code == 403 and wrapped_error(too_large)["errorCode"] == "REQUEST_TOO_LARGE"


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"op": None}, "401664", "Mandatory field is missing: op"),
        ({"op": "loan"}, "40166410", "The parameter op is invalid. Received: loan."),
        ({"library": None}, "401664", "Mandatory field is missing: library"),
        (
            {"circ_desk": None},
            "40166415",
            "Must send at least one of the following parameters: [circ_desk,department]",
        ),
        ({"mms_id": "99ABC"}, "402204", "Input parameters mmsId 99ABC is not numeric."),
        ({"mms_id": "9.93547E%2B17"}, "402204", "Input parameters mmsId 9.93547E+17 is not numeric."),
        (
            {"mms_id": "991111111111113681"},
            "402203",
            "Input parameters mmsId 991111111111113681 is not valid.",
        ),
        (
            {"item_pid": "23258799999906421"},
            "40166411",
            "The parameter item_pid is invalid. Received: 23258799999906421.",
        ),
        (
            {"holding_id": "22000000000003681"},
            "40166411",
            "The parameter item_pid is invalid. Received: {pid}.",
        ),
        ({"library": "NOWHERE"}, "40166412", "The parameter library is invalid. Received: NOWHERE."),
        ({"circ_desk": None, "department": "DIGI"}, "401875", "Failed to find the department."),
        (
            {"circ_desk": "NO_SUCH_DESK"},
            "40166413",
            "The parameter circ_desk is invalid. Received: NO_SUCH_DESK.",
        ),
    ],
)
def test_scan_validation_errors_change_nothing(sim, change, code, message):
    item = plain_items(sim)[0]
    ids = {"mms_id": item.mms_id, "holding_id": item.holding_id, "item_pid": item.item_id}
    params = {**SCAN, "library": item.library}
    for name, value in change.items():
        if name in ids:
            ids[name] = value
        elif value is None:
            params.pop(name)
        else:
            params[name] = value
    url = (
        f"{sim.base_url}/almaws/v1/bibs/{ids['mms_id']}/holdings/{ids['holding_id']}/items/{ids['item_pid']}"
    )
    answer = requests.post(url, params=params, headers={**AUTH, **JSON}, timeout=5)
    assert answer.status_code == 400
    error = flat_error(answer)
    assert (error["errorCode"], error["errorMessage"]) == (code, message.format(pid=item.item_id))
    as_xml = requests.post(url, params=params, headers=AUTH, timeout=5)
    assert xml_error(as_xml) == (code, message.format(pid=item.item_id))
    assert sim.item(item.item_id).on_loan
    assert sim.stats()["scans"][ids["item_pid"]] == 2  # processed (and answered) although refused


# -- keys ----------


def test_keys_missing_unknown_query_and_read_only(simulator):
    sim = simulator(read_only_keys=("ro-key",))
    item = plain_items(sim)[0]
    missing = requests.get(item_url(sim, item), headers=JSON, timeout=5)
    assert missing.status_code == 400
    assert wrapped_error(missing) == {
        "errorCode": "GENERAL_ERROR",
        "errorMessage": "A Gateway error has occurred - Make sure you add an appropriate apikey as a "
        "parameter or a header.",
        "trackingId": wrapped_error(missing)["trackingId"],
    }
    assert xml_error(requests.get(item_url(sim, item), timeout=5))[0] == "GENERAL_ERROR"
    unknown = requests.get(item_url(sim, item), headers={"Authorization": "apikey wrong", **JSON}, timeout=5)
    assert unknown.status_code == 400 and unknown.text == "Invalid API Key"
    assert unknown.headers["Content-Type"] == "text/plain;charset=UTF-8"
    assert requests.get(item_url(sim, item), params={"apikey": TEST_KEY}, timeout=5).status_code == 200
    assert requests.get(item_url(sim, item), headers={"Authorization": "apikey ro-key"}, timeout=5).ok
    refused = scan(sim, item, key="ro-key")
    assert refused.status_code == 400
    assert wrapped_error(refused)["errorCode"] == "UNAUTHORIZED"
    assert (
        wrapped_error(refused)["errorMessage"] == "API-key not defined or not configured to allow this API."
    )
    for key in ("wrong", "ro-key"):
        scan(sim, item, key=key)
    assert sim.item(item.item_id).on_loan and item.item_id not in sim.stats()["scans"]


# -- thresholds ----------


def test_burst_over_the_sliding_second_gets_429_and_changes_nothing(simulator):
    sim = simulator(rate_limit=5, latency=(0.0, 0.0))
    items = plain_items(sim)[:20]
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda item: scan(sim, item), items))
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == 5 and statuses.count(429) == 15
    for item, answer in zip(items, answers, strict=True):
        state = sim.item(item.item_id)
        if answer.status_code == 429:
            error = wrapped_error(answer)
            assert (error["errorCode"], error["errorMessage"]) == (
                "PER_SECOND_THRESHOLD",
                "HTTP requests are more than allowed per second",
            )
            assert state.on_loan and state.scans == 0
        else:
            assert not state.on_loan
    stats = sim.stats()
    assert stats["throttled"] == 15 and stats["max_requests_in_any_second"] >= 20
    assert len(stats["scans"]) == 5
    xml = requests.get(item_url(sim, items[0]), headers=AUTH, timeout=5)
    assert xml.status_code == 429 and xml_error(xml)[0] == "PER_SECOND_THRESHOLD"


@pytest.mark.timing
def test_window_slides_instead_of_resetting_each_second(simulator):
    sim = simulator(rate_limit=4, latency=(0.0, 0.0))
    session = requests.Session()
    session.headers.update(AUTH)
    url = f"{sim.base_url}/almaws/v1/bibs/test"
    assert [session.get(url, timeout=5).status_code for _ in range(4)] == [200] * 4
    time.sleep(0.55)  # a calendar-second counter would (often) have reset by now; a sliding one has not
    assert session.get(url, timeout=5).status_code == 429
    time.sleep(0.5)
    assert session.get(url, timeout=5).status_code == 200


def test_sliding_second_counts_stamps_that_arrive_out_of_order() -> None:
    """A thread held up between stamping its arrival and counting it must not make a stale stamp count as
    recent (the queue popped from the left did: a false 26 in one second and a false 429)."""
    from alma_tools.simulator.window import SlidingSecond

    window = SlidingSecond()
    window.add(0.50)
    window.add(0.95)
    window.add(0.90)  # counted after 0.95, as a late thread would
    assert window.fullest_with(1.92) == 2  # [0.95, 1.95): 0.95 and 1.92; 0.90 is more than a second back
    assert window.fullest_with(0.91) == 4  # [0.50, 1.50) holds all four
    window.add(1.60)
    assert window.fullest_with(1.55) == 4  # [0.90, 1.90): 0.90, 0.95, 1.55 and 1.60
    assert window.count_since(0.9) == 2
    ordered = SlidingSecond()
    for moment in [i * 0.04 for i in range(60)]:  # 25 per second, exactly
        assert ordered.fullest_with(moment) <= 26
        ordered.add(moment)
    assert ordered.fullest_with(2.4) == 26  # one more in [1.4, 2.4) would be the 26th


def test_daily_quota_header_and_threshold(simulator):
    sim = simulator(daily_quota=3)
    url = f"{sim.base_url}/almaws/v1/bibs/test"
    remaining = [requests.get(url, headers=AUTH, timeout=5).headers["X-Exl-Api-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    over = requests.get(url, headers={**AUTH, **JSON}, timeout=5)
    assert over.status_code == 429 and wrapped_error(over)["errorCode"] == "DAILY_THRESHOLD"
    assert over.headers["X-Exl-Api-Remaining"] == "0"
    no_key = requests.get(url, timeout=5)  # errors carry the header too
    assert no_key.status_code == 400 and no_key.headers["X-Exl-Api-Remaining"] == "0"
    item = plain_items(sim)[0]
    assert scan(sim, item).status_code == 429 and sim.item(item.item_id).on_loan


# -- faults and hostile answers ----------


@pytest.mark.parametrize("status", ["500", "503"])
def test_server_faults_say_retry_later_and_change_nothing(simulator, status):
    sim = simulator(fault_rate=1.0, faults=(status,))
    item = plain_items(sim)[0]
    answer = scan(sim, item)
    assert answer.status_code == int(status)
    error = wrapped_error(answer)
    assert error["errorCode"] == "GENERAL_ERROR" and error["errorMessage"].endswith("please retry later.")
    assert sim.item(item.item_id).on_loan and sim.stats()["faults"] == {status: 1}


def test_faults_follow_the_seed(simulator):
    def statuses(seed: int) -> list[int]:
        sim = simulator(fault_rate=0.4, faults=("500", "503"), seed=seed)
        url = f"{sim.base_url}/almaws/v1/bibs/test"
        return [requests.get(url, headers=AUTH, timeout=5).status_code for _ in range(20)]

    first = statuses(7)
    assert first == statuses(7)
    assert {200, 500, 503} <= set(first)


def test_dropped_posts_are_sometimes_applied(simulator):
    sim = simulator(fault_rate=1.0, faults=("drop",))
    items = plain_items(sim)[:4]
    for item in items:
        with pytest.raises(requests.ConnectionError):
            scan(sim, item)
    applied = [not sim.item(item.item_id).on_loan for item in items]
    assert applied == [False, True, False, True]
    assert sim.stats()["faults"]["drop_post_applied"] == 2
    with pytest.raises(requests.ConnectionError):
        requests.get(item_url(sim, items[0]), headers=AUTH, timeout=5)


@pytest.mark.timing
def test_late_answer_comes_after_the_change_and_blocks_nobody(simulator):
    sim = simulator(fault_rate=1.0, faults=("late",), late_delay=3.0)
    item = plain_items(sim)[0]
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            item_url(sim, item), params={**SCAN, "library": item.library}, headers=AUTH, timeout=0.5
        )
    assert time.monotonic() - started < 2
    assert not sim.item(item.item_id).on_loan  # applied, then late
    quick = requests.get(f"{sim.base_url}/_simulator/stats", timeout=1)
    assert quick.ok and quick.json()["faults"] == {"late": 1}


@pytest.mark.timing
def test_latency_is_slept_after_the_change(simulator):
    sim = simulator(latency=(0.6, 0.6))
    item = plain_items(sim)[0]
    result: dict[str, requests.Response] = {}
    thread = threading.Thread(target=lambda: result.setdefault("answer", scan(sim, item)))
    started = time.monotonic()
    thread.start()
    wait_until(lambda: not sim.item(item.item_id).on_loan, timeout=0.5, what="the scan-in's change")
    assert "answer" not in result
    thread.join()
    assert result["answer"].status_code == 200 and time.monotonic() - started >= 0.6


@pytest.mark.timing
def test_hostile_answers_do_not_kill_the_simulator(simulator):
    bomb = simulator(hostile="xmlbomb")
    answer = requests.get(f"{bomb.base_url}/almaws/v1/bibs/test", headers=AUTH, timeout=5)
    assert answer.status_code == 200 and b"<!ENTITY lol9" in answer.content
    huge = simulator(hostile="huge")
    with requests.get(f"{huge.base_url}/almaws/v1/bibs/test", headers=AUTH, stream=True, timeout=5) as big:
        assert int(big.headers["Content-Length"]) > 200 * 1024 * 1024
        assert len(big.raw.read(2 << 20)) == 2 << 20
    drip = simulator(hostile="drip")
    with requests.get(f"{drip.base_url}/almaws/v1/bibs/test", headers=AUTH, stream=True, timeout=5) as slow:
        started = time.monotonic()
        first = slow.raw.read(2)
        assert len(first) == 2 and time.monotonic() - started >= 0.9
    for sim in (bomb, huge, drip):
        assert requests.get(f"{sim.base_url}/_simulator/stats", timeout=5).json()["requests"] >= 1


@pytest.mark.timing
@pytest.mark.slow
def test_holds_200_requests_per_second_with_real_latency(simulator):
    sim = simulator(latency=(0.3, 0.8), rate_limit=None)
    items = plain_items(sim)
    deadline = time.monotonic() + 4.0
    answered: list[int] = []

    def worker(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        step = number
        while time.monotonic() < deadline:
            item = items[step % len(items)]
            connection.request("GET", item_url(sim, item).removeprefix(sim.base_url) + "/loans", headers=AUTH)
            response = connection.getresponse()
            response.read()
            answered.append(response.status)
            step += 256
        connection.close()

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(n,)) for n in range(256)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    rate = len(answered) / (time.monotonic() - started)
    assert set(answered) == {200} and rate >= 200, rate


def test_connections_are_kept_alive(sim):
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    for _ in range(5):
        connection.request("GET", "/almaws/v1/bibs/test", headers=AUTH)
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Connection") != "close"
        response.read()
    connection.close()


# -- state file, stats, configuration ----------


def test_state_file_replays_after_restart(simulator, tmp_path):
    state = tmp_path / "sim.log"
    sim = simulator(state_file=state)
    first, second, third = plain_items(sim)[:3]
    scan(sim, first)
    scan(sim, first)
    scan(sim, second, library="LAW", apikey=TEST_KEY)  # a key in the query string is never logged
    sim.stop()
    sim.start()  # the same simulator restarted in-process keeps logging
    scan(sim, third)
    sim.stop()
    with state.open("a", encoding="utf-8") as log:
        log.write('{"op": "scan", "mms_id": "99')  # a line torn by a kill mid-write
    assert TEST_KEY not in state.read_text(encoding="utf-8")
    again = simulator(state_file=state)
    assert not again.item(first.item_id).on_loan and again.item(first.item_id).in_house_uses == 1
    assert again.item(second.item_id).process_type == "TRANSIT"
    assert again.stats()["scans"] == {first.item_id: 2, second.item_id: 1, third.item_id: 1}
    assert again.stats()["open_loans"] == 297


def test_stats_fields(sim):
    stats = requests.get(f"{sim.base_url}/_simulator/stats", timeout=5).json()
    for name in (
        "requests",
        "throttled",
        "max_requests_in_any_second",
        "scans",
        "in_house_uses",
        "open_loans",
        "faults",
        "status_counts",
        "quota_remaining",
        "by_endpoint",
        "http_status_counts",
    ):
        assert name in stats
    assert stats["requests"] == 0  # the stats endpoint is not a counted request
    assert stats == sim.stats() | {"requests_in_last_second": stats["requests_in_last_second"]}


def test_bad_settings_are_refused_in_words():
    with pytest.raises(ConfigError, match="fault kind"):
        SimulatorConfig(faults=("boom",)).check()
    with pytest.raises(ConfigError, match="Latency"):
        Simulator(SimulatorConfig(latency=(0.8, 0.3)))


def test_packaged_sample_is_the_default():
    with Simulator(SimulatorConfig(api_keys=("k",), latency=(0, 0))) as sim:
        assert len(sim.items) == 300
        assert ("MAIN", "RESERVES_DESK") in sim.world.desks


def test_busy_port_is_a_config_error(sim):
    with pytest.raises(ConfigError, match="choose another port"):
        Simulator(SimulatorConfig(port=sim.port, latency=(0, 0))).start()


# -- command line ----------


def start_cli(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "alma_tools", "simulator", "--latency", "0-0.01", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})},
    )
    line = process.stdout.readline()
    return process, line


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cli_prints_address_and_keys_and_stops_cleanly(stop_signal):
    process, line = start_cli(
        "--api-key",
        "rw-1",
        "--read-only-key",
        "ro-1",
        env={"ALMA_SIMULATOR_KEYS": "env-key,env-ro:read-only"},
    )
    try:
        match = re.fullmatch(
            r"Alma simulator at (http://127\.0\.0\.1:\d+) — keys: rw-1 \(read/write\), "
            r"env-key \(read/write\), ro-1 \(read-only\), env-ro \(read-only\)\n",
            line,
        )
        assert match, line
        url = match.group(1) + "/almaws/v1/bibs/test"
        assert requests.get(url, headers={"Authorization": "apikey env-key"}, timeout=5).status_code == 200
        assert requests.post(url, headers={"Authorization": "apikey env-ro"}, timeout=5).status_code == 400
    finally:
        process.send_signal(stop_signal)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0 and "Traceback" not in err


def test_cli_generates_a_key_when_none_is_given():
    process, line = start_cli()
    try:
        key = re.search(r"keys: (\S+) \(read/write\)", line).group(1)
        url = re.search(r"(http://\S+) ", line).group(1)
        assert requests.get(
            f"{url}/almaws/v1/bibs/test", headers={"Authorization": f"apikey {key}"}, timeout=5
        ).ok
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_cli_state_file_survives_sigkill(tmp_path):
    state = tmp_path / "state.log"
    port = str(find_free_port())
    process, _ = start_cli(
        "--api-key", "k", "--port", port, "--state-file", str(state), "--rate-limit", "100"
    )
    frame = pd.read_csv(
        DATA / "items_to_discharge.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig"
    ).head(3)  # the same rows as the packaged sample it serves
    base = f"http://127.0.0.1:{port}/almaws/v1"
    frame.columns = [c.replace(" ", "_") for c in frame.columns]
    for row in frame.itertuples():
        url = f"{base}/bibs/{row.MMS_Id}/holdings/{row.Holding_Id}/items/{row.Item_Id}"
        answer = requests.post(
            url,
            params={**SCAN, "library": row.Library_Code},
            headers={"Authorization": "apikey k"},
            timeout=5,
        )
        assert answer.status_code == 200
    process.kill()
    process.communicate(timeout=10)
    process, _line = start_cli("--api-key", "k", "--port", port, "--state-file", str(state))
    try:
        stats = requests.get(f"http://127.0.0.1:{port}/_simulator/stats", timeout=5).json()
        assert stats["open_loans"] == 297 and sum(stats["scans"].values()) == 3
        row = next(frame.itertuples())
        loans = requests.get(
            f"{base}/bibs/{row.MMS_Id}/holdings/{row.Holding_Id}/items/{row.Item_Id}/loans",
            headers={"Authorization": "apikey k", **JSON},
            timeout=5,
        )
        assert loans.json() == {"total_record_count": 0}
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=10)


def test_cli_bad_latency_is_a_plain_message():
    result = subprocess.run(
        [sys.executable, "-m", "alma_tools", "simulator", "--latency", "slow"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--latency 'slow' is not a range of seconds" in result.stderr and "Traceback" not in result.stderr


def test_cli_unreadable_items_file_is_a_plain_message(tmp_path):
    bad = tmp_path / "items.csv"
    bad.write_text("Title,Something\nA,B\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "alma_tools", "simulator", "--items", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "items.csv" in result.stderr and "Traceback" not in result.stderr
