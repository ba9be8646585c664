"""The Alma client's parts that need no server: pacing, retry policy, error shapes, regions, key lookup."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import keyring
import keyring.errors
import pytest

from alma_tools.alma import (
    AlmaClient,
    AlmaError,
    AnswerLost,
    AuthError,
    CertificateError,
    ConnectionFailed,
    DailyLimitError,
    OutcomeUnknown,
    Pacer,
    RetryPolicy,
    ServerError,
    ThresholdError,
    check_rate,
    client_factory,
    describe_key_source,
    item_path,
    resolve_api_key,
    resolve_base_url,
    store_api_key,
)
from alma_tools.alma.exceptions import redact, register_secret
from alma_tools.alma.keys import config_path
from alma_tools.alma.pacing import HEADROOM
from alma_tools.alma.responses import (
    destination_of,
    error_fields,
    item_from_dict,
    loans_from_dict,
    parse_body,
    parse_error,
)
from alma_tools.errors import AlmaToolsError, ConfigError, InputError
from alma_tools.simulator.window import max_in_any_second
from harness import MemoryKeyring


def run_paced(pacer: Pacer, threads: int, calls: int) -> list[float]:
    """*threads* workers share *calls* permits from *pacer*; returns each permit's start time."""
    starts: list[float] = []
    lock = threading.Lock()
    left = [calls]

    def worker() -> None:
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            pacer.wait()
            with lock:
                starts.append(time.monotonic())

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return starts


# ------------------------------------------------------------------------------------------------ pacing
@pytest.mark.timing
@pytest.mark.parametrize(("rate", "threads"), [(20.0, 8), (25.0, 16)])
def test_pacer_spaces_starts_under_the_rate_in_every_second(rate: float, threads: int) -> None:
    starts = run_paced(Pacer(rate), threads, calls=int(rate * 2))
    starts.sort()
    assert max_in_any_second(starts) <= rate
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert rate * 0.95 <= achieved <= rate


@pytest.mark.timing
def test_late_wake_ups_never_put_more_than_the_rate_in_a_second() -> None:
    """Starve the pacer's threads of CPU with busy threads; the granted starts still respect the rate."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(2000))

    hogs = [threading.Thread(target=spin) for _ in range(6)]
    for hog in hogs:
        hog.start()
    try:
        starts = run_paced(Pacer(25), threads=16, calls=60)
    finally:
        stop.set()
        for hog in hogs:
            hog.join()
    assert max_in_any_second(starts) <= 25


@pytest.mark.timing
def test_catching_up_after_a_stall_keeps_the_headroom() -> None:
    """Threads held up together (here: the pacer's lock held 150 ms, as the interpreter lock is held by a
    busy thread) catch up afterwards; any ``floor(rate) + 1`` starts must still span ``1 + HEADROOM`` s, so
    that the few milliseconds between a start and its arrival at Alma cannot crowd them into one second."""
    pacer = Pacer(25)
    timer = threading.Timer(1.5, lambda: (pacer._lock.acquire(), time.sleep(0.15), pacer._lock.release()))
    timer.start()
    starts = sorted(run_paced(pacer, threads=16, calls=75))
    timer.join()
    spans = [b - a for a, b in zip(starts, starts[25:], strict=False)]
    # without the headroom in the check, the catch-up packed 26 starts into 1.000-1.003 s
    assert min(spans) >= 1 + HEADROOM / 2, min(spans)  # half the headroom spare for clock reading


def test_every_pool_of_the_adapter_is_paced_proxies_included() -> None:
    """A proxy from the environment (HTTPS_PROXY) gets its own urllib3 manager: it must be paced too."""
    from alma_tools.alma.adapters import PacedAdapter

    adapter = PacedAdapter(lambda: None, pool_maxsize=2)
    managers = [adapter.poolmanager, adapter.proxy_manager_for("http://proxy.example:3128")]
    for manager in managers:
        for pool_cls in manager.pool_classes_by_scheme.values():
            assert pool_cls.ConnectionCls.__name__.startswith("Paced"), pool_cls
    assert adapter.proxy_manager_for("http://proxy.example:3128") is managers[1]  # paced once, then reused


@pytest.mark.timing
def test_pacer_ramp_spaces_the_first_slots_twice_as_wide() -> None:
    pacer = Pacer(20, ramp_slots=3)
    starts = sorted(run_paced(pacer, threads=4, calls=6))
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap == pytest.approx(2 * pacer.interval, abs=0.01) for gap in gaps[:3])
    assert all(gap == pytest.approx(pacer.interval, abs=0.01) for gap in gaps[3:])


def test_pacer_bursting_alternative_would_break_the_limit() -> None:
    """The measure used above does catch a burst: 25 back to back then 25 more count as 50 in one second."""
    burst = [0.97 + i * 0.001 for i in range(25)] + [1.0 + i * 0.001 for i in range(25)]
    assert max_in_any_second(burst) == 50


@pytest.mark.timing
def test_pause_holds_every_thread() -> None:
    pacer = Pacer(25)
    pacer.wait()
    paused_at = time.monotonic()
    set_for = pacer.pause(0.3, jitter=0.0)
    assert set_for == pytest.approx(0.3, abs=0.01)
    starts = run_paced(pacer, threads=4, calls=4)
    assert min(starts) - paused_at >= 0.29
    assert pacer.paused_for == 0


@pytest.mark.timing
def test_pause_keeps_the_longer_pause() -> None:
    pacer = Pacer(10)
    pacer.pause(0.5, jitter=0.0)
    pacer.pause(0.1, jitter=0.0)
    assert pacer.paused_for > 0.4


@pytest.mark.parametrize("rate", [0, -1, 25.5, 100, "fast"])
def test_pacer_refuses_rates_over_the_institution_limit(rate: object) -> None:
    with pytest.raises(ConfigError, match="calls per second"):
        Pacer(rate)  # type: ignore[arg-type]


@pytest.mark.timing
def test_two_pacers_do_not_share_slots() -> None:
    first, second = Pacer(2), Pacer(2)
    first.wait()
    began = time.monotonic()
    second.wait()
    assert time.monotonic() - began < 0.2


# ------------------------------------------------------------------------------------------------ retry
def test_retry_policy_budgets_count_the_first_try() -> None:
    policy = RetryPolicy(throttle_attempts=3, server_attempts=2, connect_attempts=1)
    assert [policy.should_retry("throttle", n) for n in (1, 2, 3)] == [True, True, False]
    assert [policy.should_retry("server", n) for n in (1, 2)] == [True, False]
    assert not policy.should_retry("connect", 1)


def test_retry_waits_grow_and_are_capped() -> None:
    exact = RetryPolicy(jitter=0.0)
    assert [exact.sleep_for("throttle", n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert [exact.sleep_for("server", n) for n in range(1, 4)] == [1.0, 2.0, 4.0]
    assert exact.sleep_for("server", 20) == exact.server_backoff_max
    assert [exact.sleep_for("connect", n) for n in (1, 2)] == [0.5, 1.0]


def test_retry_jitter_stays_within_bounds_and_varies() -> None:
    policy = RetryPolicy(jitter=0.5)
    waits = {policy.sleep_for("throttle", 2) for _ in range(50)}
    assert all(0.5 <= wait <= 1.0 for wait in waits)
    assert len(waits) > 10


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ThresholdError("slow down", status=429, code="PER_SECOND_THRESHOLD"), "throttle"),
        (ThresholdError("slow down", status=503, code="PER_SECOND_THRESHOLD"), "server"),
        (ServerError("fault", status=503), "server"),
        (AlmaError("please retry later", status=400, code="GENERAL_ERROR"), "server"),
        (ConnectionFailed("refused"), "connect"),
        (AnswerLost("the answer broke off", status=200), "connect"),
        (CertificateError("certificate not trusted"), None),
        (OutcomeUnknown("sent, no answer"), None),
        (AuthError("invalid api key", status=500), None),
        (DailyLimitError("daily limit", status=429, code="DAILY_THRESHOLD"), None),
        (AlmaError("answer too large", status=500, code="ANSWER_TOO_LARGE"), None),
        (AlmaError("no such item", status=400, code="401689"), None),
    ],
)
def test_retry_policy_decides_what_is_retried(error: AlmaError, kind: str | None) -> None:
    assert RetryPolicy().kind_for(error) == kind


def test_retry_policy_is_a_frozen_value() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.server_attempts = 9  # type: ignore[misc]
    assert policy == RetryPolicy()
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(server_attempts=0)
    with pytest.raises(ValueError, match="unknown retry kind"):
        policy.sleep_for("other", 1)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ error shapes
FLAT_JSON = (
    '{"errorsExist":true,"errorList":{"error":[{"errorCode":"40166411","errorMessage":'
    '"The parameter item_pid is invalid. Received: 23258799999906421.","trackingId":'
    '"E02-2302152311-BKB4G-AWAE823520061"}]},"result":null}'
)
WRAPPED_JSON = (
    '{"web_service_result":{"errorsExist":true,"errorList":{"error":{"errorCode":"BAD_REQUEST",'
    '"errorMessage":"Bad request","trackingId":"E01-1"}}}}'
)
WRAPPED_JSON_LIST = (
    '{"web_service_result":{"errorsExist":true,"errorList":{"error":[{"errorCode":401652,'
    '"errorMessage":"General Error - An error has occurred while processing the request."}]}}}'
)
XML_ERROR = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><web_service_result '
    'xmlns="http://com/exlibris/urm/general/xmlbeans"><errorsExist>true</errorsExist><errorList><error>'
    "<errorCode>401664</errorCode><errorMessage>Mandatory field is missing: library</errorMessage>"
    "<trackingId>E02-XYZ</trackingId></error></errorList></web_service_result>"
)


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        (
            "application/json;charset=UTF-8",
            FLAT_JSON,
            (
                "40166411",
                "The parameter item_pid is invalid. Received: 23258799999906421.",
                "E02-2302152311-BKB4G-AWAE823520061",
            ),
        ),
        ("application/json", WRAPPED_JSON, ("BAD_REQUEST", "Bad request", "E01-1")),
        (
            "application/json",
            WRAPPED_JSON_LIST,
            ("401652", "General Error - An error has occurred while processing the request.", ""),
        ),
        (
            "application/xml;charset=UTF-8",
            XML_ERROR,
            ("401664", "Mandatory field is missing: library", "E02-XYZ"),
        ),
        ("text/plain;charset=UTF-8", "Invalid API Key", ("", "Invalid API Key", "")),
        ("", "", ("", "", "")),
        (
            "text/html",
            "<html><body>Bad gateway</body></html>",
            ("", "the server answered with a web page instead of an Alma answer (a proxy in between?)", ""),
        ),
    ],
)
def test_every_error_shape_is_read(content_type: str, body: str, expected: tuple[str, str, str]) -> None:
    assert error_fields(content_type, body) == expected


@pytest.mark.parametrize(
    ("status", "content_type", "body", "kind"),
    [
        (
            429,
            "application/json",
            '{"errorsExist":true,"errorList":{"error":[{"errorCode":"PER_SECOND_THRESHOLD",'
            '"errorMessage":"HTTP requests are more than allowed per second"}]},"result":null}',
            ThresholdError,
        ),
        (
            429,
            "application/json",
            '{"errorsExist":true,"errorList":{"error":[{"errorCode":"DAILY_THRESHOLD",'
            '"errorMessage":"Daily limit reached"}]},"result":null}',
            DailyLimitError,
        ),
        (400, "text/plain", "Invalid API Key", AuthError),
        (
            400,
            "application/json",
            '{"errorsExist":true,"errorList":{"error":[{"errorCode":"UNAUTHORIZED",'
            '"errorMessage":"API-key not defined or not configured to allow this API."}]},"result":null}',
            AuthError,
        ),
        (
            400,
            "application/xml",
            "<web_service_result><errorsExist>true</errorsExist><errorList><error><errorCode>GENERAL_ERROR"
            "</errorCode><errorMessage>A Gateway error has occurred - Make sure you add an appropriate "
            "apikey as a parameter or a header.</errorMessage></error></errorList></web_service_result>",
            AuthError,
        ),
        (
            503,
            "application/json",
            '{"web_service_result":{"errorsExist":true,"errorList":{"error":{"errorCode":"GENERAL_ERROR",'
            '"errorMessage":"General error with the API Gateway - please retry later."}}}}',
            ServerError,
        ),
        (400, "application/json", FLAT_JSON, AlmaError),
    ],
)
def test_errors_become_the_right_exception(status: int, content_type: str, body: str, kind: type) -> None:
    error = parse_error(status, content_type, body)
    assert type(error) is kind
    assert isinstance(error, AlmaToolsError)
    assert error.status == status
    assert error.code in str(error)
    assert error.message in str(error)


def test_error_text_names_code_message_and_tracking_id() -> None:
    error = parse_error(400, "application/json", FLAT_JSON)
    assert str(error).startswith("Alma error 40166411: The parameter item_pid is invalid.")
    assert "E02-2302152311-BKB4G-AWAE823520061" in str(error)
    assert error.tracking_id == "E02-2302152311-BKB4G-AWAE823520061"


def test_xml_entity_bomb_is_refused_not_expanded() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        "<item><item_data><pid>&lol2;</pid></item_data></item>"
    )
    with pytest.raises(AlmaError, match="entities"):
        parse_body("application/xml", bomb)
    _code, message, _ = error_fields("application/xml", bomb)
    assert "lollol" not in message


# ----------------------------------------------------------------------------------------- item and loans
SCAN_JSON = {
    "bib_data": {"mms_id": "990006312214702204", "title": "Bananboken"},
    "holding_data": {"holding_id": "22163771200002204", "in_temp_location": False},
    "item_data": {
        "pid": "23163771190002204",
        "barcode": "303011kj0",
        "base_status": {"desc": "Item not in place", "value": "0"},
        "process_type": {"desc": "Transit", "value": "TRANSIT"},
        "library": {"desc": "UiO HumSam-biblioteket", "value": "1030300"},
        "location": {"desc": "UHS S-Litt", "value": "k00040"},
        "requested": None,
    },
    "additional_info": "Item's destination is: UiO HumSam-biblioteket. Request/Process Type: Transit for "
    "reshelving. Requester: . Requester ID: . Place in Queue: 1",
}


def test_item_from_the_real_scan_in_answer() -> None:
    item = item_from_dict(SCAN_JSON)
    assert (item.mms_id, item.holding_id, item.item_id) == (
        "990006312214702204",
        "22163771200002204",
        "23163771190002204",
    )
    assert (item.library, item.library_desc, item.location) == ("1030300", "UiO HumSam-biblioteket", "k00040")
    assert (item.base_status, item.process_type, item.process_type_desc) == ("0", "TRANSIT", "Transit")
    assert item.requested is None
    assert item.destination == "UiO HumSam-biblioteket"


def test_item_from_xml_matches_json() -> None:
    xml = (
        '<item link="x"><bib_data><mms_id>990006312214702204</mms_id><title>Bananboken</title></bib_data>'
        "<holding_data><holding_id>22163771200002204</holding_id></holding_data><item_data>"
        "<pid>23163771190002204</pid><barcode>303011kj0</barcode>"
        '<base_status desc="Item not in place">0</base_status>'
        '<process_type desc="Transit">TRANSIT</process_type>'
        '<library desc="UiO HumSam-biblioteket">1030300</library>'
        '<location desc="UHS S-Litt">k00040</location>'
        "<requested>false</requested></item_data><additional_info>Item's destination is: Reshelve to Main. "
        "Request/Process Type: . Requester: . Requester ID: . Place in Queue: 0</additional_info></item>"
    )
    item = item_from_dict(parse_body("application/xml;charset=UTF-8", xml))
    assert item.item_id == "23163771190002204" and item.library_desc == "UiO HumSam-biblioteket"
    assert item.requested is False
    assert item.destination == "Reshelve to Main"


@pytest.mark.parametrize(
    ("info", "destination"),
    [
        (
            "Item's destination is: On Hold Shelf. Request/Process Type: Patron physical item request. "
            "Requester: Doe, Jane. Requester ID: 1. Place in Queue: 1",
            "On Hold Shelf",
        ),
        (
            "Item's destination is: Reshelve to rcppa RECAP. Request/Process Type: . Requester: . "
            "Requester ID: . Place in Queue: 0",
            "Reshelve to rcppa RECAP",
        ),
        (
            "Item's destination is: Manage Locally (Dept. A). Request/Process Type: Binding. Requester: . "
            "Requester ID: . Place in Queue: 1",
            "Manage Locally (Dept. A)",
        ),
        ("", ""),
        ("Something else", ""),
    ],
)
def test_destination_of_additional_info(info: str, destination: str) -> None:
    assert destination_of(info) == destination


def test_loans_from_both_shapes() -> None:
    assert loans_from_dict({"total_record_count": 0}) == []
    loans = loans_from_dict(
        {
            "item_loan": [
                {
                    "loan_id": 7,
                    "loan_status": "ACTIVE",
                    "item_id": "23",
                    "item_barcode": "B1",
                    "due_date": "2018-08-20T20:00:00Z",
                }
            ],
            "total_record_count": 1,
        }
    )
    assert (loans[0].loan_id, loans[0].loan_status, loans[0].barcode) == ("7", "ACTIVE", "B1")
    xml = parse_body(
        "application/xml",
        '<item_loans total_record_count="1"><item_loan><loan_id>5</loan_id><loan_status>ACTIVE</loan_status>'
        "<item_barcode>B2</item_barcode></item_loan></item_loans>",
    )
    assert [loan.barcode for loan in loans_from_dict(xml)] == ["B2"]


def test_answer_that_is_not_an_item_is_an_alma_error() -> None:
    with pytest.raises(AlmaError, match="not an item"):
        item_from_dict({"total_record_count": 0})
    with pytest.raises(AlmaError, match="not JSON"):
        parse_body("application/json", "{broken")


# -------------------------------------------------------------------------------------- regions and URLs
@pytest.mark.parametrize(
    ("region", "url"),
    [
        ("na", "https://api-na.hosted.exlibrisgroup.com/almaws/v1"),
        ("EU", "https://api-eu.hosted.exlibrisgroup.com/almaws/v1"),
        ("ap", "https://api-ap.hosted.exlibrisgroup.com/almaws/v1"),
        ("ca", "https://api-ca.hosted.exlibrisgroup.com/almaws/v1"),
        ("cn", "https://api-cn.hosted.exlibrisgroup.com.cn/almaws/v1"),
    ],
)
def test_regions(region: str, url: str) -> None:
    assert resolve_base_url(region=region) == url


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("https://api-eu.hosted.exlibrisgroup.com", "https://api-eu.hosted.exlibrisgroup.com/almaws/v1"),
        (
            "https://api-eu.hosted.exlibrisgroup.com/almaws/v1/",
            "https://api-eu.hosted.exlibrisgroup.com/almaws/v1",
        ),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/almaws/v1"),
        ("http://127.5.0.9:81/almaws/v1", "http://127.5.0.9:81/almaws/v1"),
        ("http://localhost:9", "http://localhost:9/almaws/v1"),
        ("http://[::1]:9", "http://[::1]:9/almaws/v1"),
    ],
)
def test_explicit_base_url_with_or_without_api_path(given: str, url: str) -> None:
    assert resolve_base_url(base_url=given) == url


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("http://api-eu.hosted.exlibrisgroup.com", "unencrypted"),
        ("http://10.0.0.5:8080", "unencrypted"),
        ("http://127.0.0.1.example.com", "unencrypted"),
        ("ftp://example.com", "not a web address"),
        ("api-eu.hosted.exlibrisgroup.com", "not a web address"),
        ("https://api-eu.hosted.exlibrisgroup.com/almaws/v1?apikey=abc", "only the server address"),
        ("https://user:pw@api-eu.hosted.exlibrisgroup.com", "only the server address"),
    ],
)
def test_unsafe_or_wrong_base_urls_are_refused(given: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        resolve_base_url(base_url=given)


def test_no_server_setting_names_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALMA_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="ALMA_BASE_URL") as caught:
        resolve_base_url()
    assert "region" in str(caught.value)
    monkeypatch.setenv("ALMA_BASE_URL", "https://api-ca.hosted.exlibrisgroup.com")
    assert resolve_base_url() == "https://api-ca.hosted.exlibrisgroup.com/almaws/v1"
    with pytest.raises(ConfigError, match="Unknown Alma region 'xx'"):
        resolve_base_url(region="xx")
    with pytest.raises(ConfigError, match="only one"):
        resolve_base_url(base_url="https://x.example", region="eu")


def test_client_refuses_rate_over_25_before_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="at most 25"):
        AlmaClient(region="eu", api_key="k", rate=30)


@pytest.mark.parametrize(
    ("rate", "words"),
    [
        (0, "more than 0 and at most 25 calls per second"),
        (-1, "more than 0 and at most 25 calls per second"),
        (25.5, "more than 0 and at most 25 calls per second"),
        (float("nan"), "more than 0 and at most 25 calls per second"),
        ("fast", "must be a number of calls per second, not 'fast'"),
        (None, "must be a number of calls per second, not None"),
    ],
)
def test_one_rate_check_with_a_message_that_matches_it(rate: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        check_rate(rate)
    with pytest.raises(ConfigError, match=words):
        client_factory(region="eu", api_key="k", rate=rate)  # type: ignore[arg-type]
    assert check_rate("0.5") == 0.5 and check_rate(25) == 25.0


def test_client_factory_builds_the_run_client_with_the_journal_hook() -> None:
    seen: list[object] = []
    make_client = client_factory(base_url="http://127.0.0.1:9", api_key="k", rate=5, workers=3)
    with make_client(seen.append) as client:
        assert (client.rate, client.workers, client.on_response) == (5.0, 3, seen.append)
        assert client.base_url == "http://127.0.0.1:9/almaws/v1"


def test_item_path_quotes_each_id_and_refuses_an_empty_one() -> None:
    assert item_path(" 991 ", "22/1", "23?4") == "/bibs/991/holdings/22%2F1/items/23%3F4"
    with pytest.raises(InputError, match="holding id is empty"):
        item_path("991", " ", "23")


# ------------------------------------------------------------------------------------------ key lookup
class BrokenKeyring(MemoryKeyring):
    """A keyring that exists but fails, as a locked or absent OS keyring does."""

    def get_password(self, service: str, username: str) -> str | None:
        raise keyring.errors.KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("no")


@pytest.fixture
def clean_key_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """No key anywhere: no env, an empty keyring, a config home in a temp folder."""
    monkeypatch.delenv("ALMA_API_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def write_config(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_key_says_how_to_set_it(clean_key_env: MemoryKeyring) -> None:
    with pytest.raises(ConfigError, match="No Alma API key is set") as caught:
        resolve_api_key()
    text = str(caught.value)
    assert "ALMA_API_KEY" in text and "Set API key" in text and "config.yaml" in text
    assert "No Alma API key is set" in describe_key_source()


def test_key_lookup_order_env_then_keyring_then_file(
    clean_key_env: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_config("api_key: from-file-key-0001\n")
    assert path == tmp_path / "config" / "alma-tools" / "config.yaml"
    assert resolve_api_key() == "from-file-key-0001"
    assert "settings file" in describe_key_source()
    assert store_api_key("  from-keyring-key-0002 \n") == "the system keyring"
    assert clean_key_env.store[("alma-tools", "api-key")] == "from-keyring-key-0002"
    assert resolve_api_key() == "from-keyring-key-0002"
    assert describe_key_source() == "The Alma API key is taken from the system keyring."
    monkeypatch.setenv("ALMA_API_KEY", "from-env-key-0003")
    assert resolve_api_key() == "from-env-key-0003"
    assert "ALMA_API_KEY" in describe_key_source()
    assert "from-env-key-0003" not in describe_key_source()


def test_broken_keyring_falls_through_to_the_file(clean_key_env: MemoryKeyring) -> None:
    keyring.set_keyring(BrokenKeyring())
    write_config("api_key: from-file-key-0004\n")
    assert resolve_api_key() == "from-file-key-0004"
    with pytest.raises(ConfigError, match="no system keyring"):
        store_api_key("abc")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("api_key: [unclosed secret-in-yaml", "not valid YAML"),
        ("- just a list\n", "should contain a line like"),
        ("api_key: 'two words'\n", "spaces or line breaks"),
    ],
)
def test_bad_config_file_is_explained_without_quoting_it(
    clean_key_env: MemoryKeyring, text: str, words: str
) -> None:
    write_config(text)
    with pytest.raises(ConfigError, match=words) as caught:
        resolve_api_key()
    assert "secret-in-yaml" not in str(caught.value) and "two words" not in str(caught.value)


def test_empty_config_file_means_no_key(clean_key_env: MemoryKeyring) -> None:
    write_config("")
    with pytest.raises(ConfigError, match="No Alma API key"):
        resolve_api_key()


def test_redact_removes_keys_and_apikey_parameters() -> None:
    register_secret("canary-REDACT-0123456789")
    text = redact(
        "GET /almaws/v1/items?apikey=whatever&x=1 sent canary-REDACT-0123456789 with "
        "Authorization: apikey other-secret"
    )
    assert "canary-REDACT" not in text and "whatever" not in text and "other-secret" not in text
    assert "x=1" in text
    error = AlmaError("bad key canary-REDACT-0123456789", code="X")
    assert "canary" not in str(error) and "canary" not in repr(error)
