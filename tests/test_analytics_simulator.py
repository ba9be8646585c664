"""The simulator's Analytics reports API over real sockets: paging, tokens, schema, empty cells, errors."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest
import requests

from alma_tools.cli.simulator import parse_reports
from alma_tools.errors import ConfigError, InputError
from alma_tools.simulator import Simulator
from fixtures_simulator import TEST_KEY, simulator_config

ROWSET = "{urn:schemas-microsoft-com:xml-analysis:rowset}"
SAW = "{urn:saw-sql}"
XSD = "{http://www.w3.org/2001/XMLSchema}"
ITEMS = "/shared/Sample University/Reports/Items to discharge"
LOANS = "/shared/Sample University/Reports/Loans"
REPORT = "/shared/Test University/Reports/Small"
AUTH = {"Authorization": f"apikey {TEST_KEY}"}
FILTER_NS = (
    'xmlns:saw="com.siebel.analytics.web/report/v1.1" xmlns:sawx="com.siebel.analytics.web/expression/v1.1" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
)


def write_report(folder: Path, rows: list[list[str]]) -> Path:
    path = folder / "small.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def small_rows(count: int) -> list[list[str]]:
    header = ["Title", "MMS Id", "Library Code", "Loan Date"]
    body = [
        [f"Book {n}", f"99{n:014d}3681", "SCI" if n % 3 else "", f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}"]
        for n in range(count)
    ]
    return [header, *body]


def get(sim: Simulator, headers: dict[str, str] | None = None, **params: str) -> requests.Response:
    return requests.get(
        f"{sim.base_url}/almaws/v1/analytics/reports",
        params=params,
        headers={**AUTH, **(headers or {})},
        timeout=10,
    )


def result(response: requests.Response) -> ElementTree.Element:
    """The ``QueryResult`` element of an XML or JSON (``anies``) page."""
    assert response.status_code == 200, response.text
    if response.headers["Content-Type"].startswith("application/json"):
        (xml,) = response.json()["anies"]
        return ElementTree.fromstring(xml)
    root = ElementTree.fromstring(response.content)
    assert root.tag == "report"
    query_result = root.find("QueryResult")
    assert query_result is not None
    return query_result


def rows_of(page: ElementTree.Element) -> list[dict[str, str]]:
    return [
        {cell.tag.removeprefix(ROWSET): cell.text or "" for cell in row} for row in page.iter(f"{ROWSET}Row")
    ]


def error_of(response: requests.Response) -> tuple[str, str]:
    error = response.json()["errorList"]["error"]
    first = error[0] if isinstance(error, list) else error
    return first["errorCode"], first["errorMessage"]


def test_pages_token_and_schema_on_the_first_page_only_then_420033(simulator, tmp_path: Path) -> None:
    rows = small_rows(120)
    sim = simulator(reports={REPORT: write_report(tmp_path, rows)})
    first = result(get(sim, path=REPORT, limit="30", col_names="true"))
    token = first.findtext("ResumptionToken")
    assert token and first.findtext("IsFinished") == "false"
    elements = list(first.iter(f"{XSD}element"))
    assert [e.get("name") for e in elements] == ["Column0", "Column1", "Column2", "Column3", "Column4"]
    assert [e.get(f"{SAW}columnHeading") for e in elements] == ["0", *rows[0]]
    page_rows = rows_of(first)
    assert len(page_rows) == 50  # limit 30 is rounded up to two blocks of 25
    assert all(row["Column0"] == "0" and next(iter(row)) == "Column0" for row in page_rows)
    seen = page_rows
    pages = 1
    while True:
        page = result(get(sim, token=token, limit="30"))
        pages += 1
        assert page.find("ResumptionToken") is None and not list(page.iter(f"{XSD}schema"))
        seen += rows_of(page)
        if page.findtext("IsFinished") == "true":
            break
    assert pages == 3 and len(seen) == 120
    for source, row in zip(rows[1:], seen, strict=True):
        assert [row.get(f"Column{n}", "") for n in range(1, 5)] == source
    after = get(sim, token=token, headers={"Accept": "application/json"})
    assert after.status_code == 500 and error_of(after) == ("420033", "No more rows to fetch")


def test_empty_cells_are_left_out_or_self_closed(simulator, tmp_path: Path) -> None:
    sim = simulator(reports={REPORT: write_report(tmp_path, small_rows(30))})
    text = get(sim, path=REPORT, limit="25").text
    assert "<Column3/>" in text  # some empty cells self-closed
    page = result(get(sim, path=REPORT, limit="25"))
    empties = [row for row in rows_of(page) if row.get("Column3", "") == ""]
    assert any("Column3" not in row for row in empties)  # others left out of the row
    assert any("Column3" in row for row in empties)


def test_limit_default_bounds_and_blocks(simulator, tmp_path: Path) -> None:
    sim = simulator(reports={REPORT: write_report(tmp_path, small_rows(1100))})
    counts = {
        limit: len(rows_of(result(get(sim, path=REPORT, **({"limit": limit} if limit else {})))))
        for limit in ("", "1", "25", "26", "1000", "5000")
    }
    assert counts == {"": 25, "1": 25, "25": 25, "26": 50, "1000": 1000, "5000": 1000}


def test_json_by_accept_header_and_by_format(simulator) -> None:
    sim = simulator()
    by_header = get(sim, headers={"Accept": "application/json"}, path=ITEMS)
    by_format = get(sim, path=ITEMS, format="json")
    for response in (by_header, by_format):
        assert response.headers["Content-Type"] == "application/json;charset=UTF-8"
        assert set(response.json()) == {"anies"}
        assert response.json()["anies"][0].startswith("<QueryResult>")
        assert len(rows_of(result(response))) == 25
    assert get(sim, path=ITEMS).headers["Content-Type"] == "application/xml;charset=UTF-8"


def test_packaged_samples_are_served(simulator) -> None:
    sim = simulator()
    loans = result(get(sim, path=LOANS, limit="25"))
    headings = [e.get(f"{SAW}columnHeading") for e in loans.iter(f"{XSD}element")]
    assert headings[:3] == ["0", "Title", "MMS Id"]  # the title lines above the export's header are skipped
    first = rows_of(loans)[0]
    assert first["Column2"].isdigit() and len(first["Column2"]) >= 16  # ids as text, never 9.9E+17
    assert first["Column5"].count("-") == 2  # dates as Analytics writes them (2025-09-05)
    items = rows_of(result(get(sim, path=ITEMS, limit="1000")))
    assert len(items) == 300


def test_still_running_pages_before_the_first_rows(simulator, tmp_path: Path) -> None:
    sim = simulator(reports={REPORT: write_report(tmp_path, small_rows(10))}, analytics_delay=0.6)
    first = result(get(sim, path=REPORT))
    token = first.findtext("ResumptionToken")
    assert token and first.findtext("IsFinished") == "false"
    assert not rows_of(first) and not list(first.iter(f"{XSD}schema"))
    assert not list(first.find("ResultXml") or [])
    time.sleep(0.7)
    ready = result(get(sim, token=token))
    assert ready.findtext("IsFinished") == "true" and len(rows_of(ready)) == 10
    assert list(ready.iter(f"{XSD}schema"))  # the schema comes with the first page of rows


def test_path_not_found(simulator) -> None:
    sim = simulator()
    response = get(sim, headers={"Accept": "application/json"}, path="/shared/Nowhere/Reports/Missing")
    assert response.status_code == 500
    assert error_of(response) == ("INTERNAL_SERVER_ERROR", "Path not found (/shared/Nowhere/Reports/Missing)")


def test_read_only_key_and_key_without_analytics_are_refused(simulator) -> None:
    sim = simulator(
        api_keys=(TEST_KEY, "bibs-only-key-1234"),
        read_only_keys=("ro-key-12345678",),
        analytics_keys=(TEST_KEY,),
    )
    for key in ("ro-key-12345678", "bibs-only-key-1234"):
        response = get(
            sim, headers={"Authorization": f"apikey {key}", "Accept": "application/json"}, path=ITEMS
        )
        assert response.status_code == 400
        body = response.json()["web_service_result"]["errorList"]["error"]
        assert body["errorCode"] == "UNAUTHORIZED"
    assert get(sim, path=ITEMS).status_code == 200


def filter_xml(op: str, column: str, *values: str) -> str:
    literals = "".join(f'<sawx:expr xsi:type="xsd:string">{value}</sawx:expr>' for value in values)
    return (
        f'<sawx:expr xsi:type="sawx:comparison" op="{op}" {FILTER_NS}>'
        f'<sawx:expr xsi:type="sawx:sqlExpression">"Physical Items"."Loans"."{column}"</sawx:expr>'
        f"{literals}</sawx:expr>"
    )


def test_filter_equal_and_between(simulator, tmp_path: Path) -> None:
    rows = small_rows(200)
    sim = simulator(reports={REPORT: write_report(tmp_path, rows)})
    equal = rows_of(
        result(get(sim, path=REPORT, limit="1000", filter=filter_xml("equal", "Library Code", "SCI")))
    )
    assert len(equal) == sum(1 for row in rows[1:] if row[2] == "SCI") and equal
    between = rows_of(
        result(
            get(
                sim,
                path=REPORT,
                limit="1000",
                filter=filter_xml("between", "Loan Date", "2026-03-01", "2026-04-30"),
            )
        )
    )
    expected = [row for row in rows[1:] if "2026-03-01" <= row[3] <= "2026-04-30"]
    assert [row["Column1"] for row in between] == [row[0] for row in expected] and expected
    bad = get(
        sim, headers={"Accept": "application/json"}, path=REPORT, filter=filter_xml("equal", "Colour", "x")
    )
    assert bad.status_code == 400 and "no column 'Colour'" in error_of(bad)[1]


def test_calls_are_counted_and_limited_by_the_sliding_second(simulator) -> None:
    sim = simulator(rate_limit=3)
    statuses = [get(sim, path=ITEMS).status_code for _ in range(6)]
    assert statuses.count(429) >= 1
    stats = sim.stats()
    assert stats["by_endpoint"]["analytics"] == 6 and stats["throttled"] >= 1


def test_report_option_and_config_checks(tmp_path: Path) -> None:
    file = write_report(tmp_path, small_rows(3))
    assert parse_reports([f"{REPORT}={file}"]) == {REPORT: str(file)}
    with pytest.raises(InputError, match="PATH=FILE"):
        parse_reports([REPORT])
    with pytest.raises(ConfigError, match="does not exist"):
        Simulator(simulator_config(reports={REPORT: tmp_path / "missing.csv"}))
    with pytest.raises(ConfigError, match="must start with /"):
        Simulator(simulator_config(reports={"Reports/Small": file}))


def test_json_page_is_the_same_xml(simulator, tmp_path: Path) -> None:
    sim = simulator(reports={REPORT: write_report(tmp_path, small_rows(5))})
    as_json = get(sim, path=REPORT, format="json").json()["anies"][0]
    as_xml = get(sim, path=REPORT).text
    after_token = [text.split("</ResumptionToken>", 1)[1] for text in (as_json, as_xml)]
    assert after_token[0] == after_token[1].removesuffix("</report>")
    assert json.loads(json.dumps({"anies": [as_json]}))["anies"][0] == as_json


def test_the_command_serves_a_report_given_as_path_equals_file(tmp_path: Path) -> None:
    file = write_report(tmp_path, small_rows(40))
    command = [sys.executable, "-m", "alma_tools", "simulator", "--latency", "0", "--api-key", "cli-key-1234"]
    process = subprocess.Popen(
        [*command, "--report", f"{REPORT}={file}", "--analytics-delay", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    try:
        base = re.search(r"at (http://\S+) ", process.stdout.readline()).group(1)
        served = process.stdout.readline()
        assert served.startswith("Analytics reports: ") and REPORT in served and ITEMS in served
        auth = {"Authorization": "apikey cli-key-1234"}
        url = f"{base}/almaws/v1/analytics/reports"
        first = result(requests.get(url, params={"path": REPORT}, headers=auth, timeout=10))
        assert first.findtext("IsFinished") == "false" and not rows_of(first)  # still running for 0.5 s
        time.sleep(0.6)
        token = first.findtext("ResumptionToken")
        page = result(requests.get(url, params={"token": token, "limit": "50"}, headers=auth, timeout=10))
        assert page.findtext("IsFinished") == "true" and len(rows_of(page)) == 40
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    assert process.returncode == 0 and "Traceback" not in err
