"""The client's Analytics fetch against the simulator over real sockets."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import openpyxl
import pytest
import requests

from alma_tools import tables
from alma_tools.alma import AlmaClient, AlmaError, RetryPolicy
from alma_tools.alma import analytics as fetch
from alma_tools.errors import InputError
from fixtures_simulator import TEST_KEY

REPORT = "/shared/Test University/Reports/Items to discharge"
HEADER = ["Title", "Barcode", "MMS Id", "Holding Id", "Item Id", "Library Code", "Location Code", "Loan Date"]
READ_ONLY = "read-only-key-12345678"


def source_rows(count: int, seed: int = 7) -> list[list[str]]:
    """Rows that a careless reader would damage: long ids, leading zeros, formula-like and accented text,
    quotes, commas, empty cells, a line break inside a title."""
    rng = random.Random(seed)
    titles = [
        "Física general",
        '"Quoted", with comma',
        "=1+1",
        "-minus",
        "Les Misérables / 9th ed.",
        "  spaced ",
    ]
    rows = []
    for n in range(count):
        title = rng.choice(titles) + (f"\nvol. {n}" if n % 97 == 0 else f" {n}")
        barcode = f"{n:010d}" if n % 3 else f"{rng.randint(10**13, 10**14 - 1)}"
        suffix = "3681"
        rows.append(
            [
                title,
                barcode,
                f"99{rng.randint(10**13, 10**14 - 1)}{suffix}",
                f"22{rng.randint(10**13, 10**14 - 1)}{suffix}",
                f"23{rng.randint(10**13, 10**14 - 1)}{suffix}",
                rng.choice(["SCI", "1030300", "MAIN"]),
                "" if n % 5 == 0 else rng.choice(["k00040", "stacks", "ref"]),
                "" if n % 11 == 0 else f"2026-{n % 12 + 1:02d}-{n % 28 + 1:02d}",
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Items to discharge"])  # a title line above the header, as Analytics exports have
    sheet.append(HEADER)
    for row in rows:
        sheet.append([cell if cell != "" else None for cell in row])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text, as Analytics writes it, not a formula
    book.save(path)
    return path


def client_for(sim, key: str = TEST_KEY, **settings) -> AlmaClient:
    return AlmaClient(base_url=sim.base_url, api_key=key, **settings)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_2500_rows_in_pages_equal_the_source_cell_by_cell(simulator, tmp_path: Path, kind: str) -> None:
    rows = source_rows(2500)
    writer = write_csv if kind == "csv" else write_xlsx
    source = writer(tmp_path / f"items.{kind}", rows)
    sim = simulator(reports={REPORT: source})
    progress: list[fetch.Progress] = []
    with client_for(sim) as client:
        report = fetch.fetch_rows(client, REPORT, on_progress=progress.append)
        table = client.analytics_report(REPORT, limit=500)
    assert report.headings == HEADER
    assert report.pages == 3 and len(report.rows) == 2500
    for number, (expected, got) in enumerate(zip(rows, report.rows, strict=True), start=1):
        assert got == expected, f"row {number}"
    assert [p.rows for p in progress if p.rows] == [1000, 2000, 2500]
    # the table: every value text, in the source's order, under the headings
    assert list(table.frame.columns) == HEADER and len(table.frame) == 2500
    assert table.frame.map(lambda value: isinstance(value, str)).all().all()
    assert table.frame.values.tolist() == rows
    # 3 pages of 1000 and 5 of 500: IsFinished ends each fetch, no call after the last page
    assert sim.stats()["by_endpoint"]["analytics"] == 3 + 5


def test_table_recognises_a_jobs_columns(simulator, tmp_path: Path) -> None:
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", source_rows(40))})
    with client_for(sim) as client:
        report = fetch.fetch_rows(client, REPORT, limit=25)
    table = fetch.to_table(report, tables.ITEM_COLUMNS)
    assert table.has("mms_id") and table.text("item_id").str.endswith("3681").all()
    assert report.pages == 2


def test_still_running_pages_are_waited_for_and_said(simulator, tmp_path: Path) -> None:
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", source_rows(30))}, analytics_delay=2.0)
    said: list[fetch.Progress] = []
    with client_for(sim) as client:
        report = fetch.fetch_rows(client, REPORT, on_progress=said.append)
    assert len(report.rows) == 30
    waits = [p for p in said if "still running" in p.message]
    assert waits and "asking again in 3 s" in waits[0].message
    assert sim.stats()["by_endpoint"]["analytics"] == 2  # one empty page, then the rows


def test_a_report_still_running_after_the_patience_is_an_error(
    simulator, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(fetch, "STILL_RUNNING_WAIT", 0.05)
    monkeypatch.setattr(fetch, "STILL_RUNNING_PATIENCE", 0.2)
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", source_rows(3))}, analytics_delay=60)
    with client_for(sim) as client, pytest.raises(AlmaError, match="still running the report") as caught:
        fetch.fetch_rows(client, REPORT)
    assert "try again later" in str(caught.value)


def test_420033_after_the_last_page_ends_the_data(simulator, tmp_path: Path) -> None:
    rows = source_rows(60)
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", rows)})
    sim.analytics.missed_end = True  # the last page says IsFinished false, as Alma sometimes does
    with client_for(sim) as client:
        report = fetch.fetch_rows(client, REPORT, limit=25)
    assert report.rows == rows and report.pages == 3
    stats = sim.stats()
    assert stats["by_endpoint"]["analytics"] == 4  # three pages and the one 420033, not retried
    assert stats["http_status_counts"]["500"] == 1


def test_path_not_found_names_the_path_and_how_to_copy_it(simulator) -> None:
    sim = simulator()
    missing = "/shared/Sample University/Reports/Itmes to discharge"
    with client_for(sim) as client, pytest.raises(fetch.ReportNotFound) as caught:
        client.analytics_report(missing)
    text = str(caught.value)
    assert missing in text and "Properties" in text and "copy the path" in text
    assert sim.stats()["by_endpoint"]["analytics"] == 1  # a final answer, not retried like a fault


def test_a_path_that_is_not_a_catalogue_path_is_refused_before_any_call(simulator) -> None:
    sim = simulator()
    with client_for(sim) as client:
        with pytest.raises(InputError, match="not an Analytics catalogue path"):
            client.analytics_report("Items to discharge")
        with pytest.raises(InputError, match="steps of 25"):
            client.analytics_report("/shared/X/Reports/Y", limit=30)
    assert sim.stats()["requests"] == 0


def test_read_only_key_gets_a_message_naming_the_permission(simulator) -> None:
    sim = simulator(read_only_keys=(READ_ONLY,))
    with client_for(sim, key=READ_ONLY) as client, pytest.raises(fetch.AnalyticsPermissionError) as caught:
        client.analytics_report("/shared/Sample University/Reports/Items to discharge")
    assert "Analytics — read-only" in str(caught.value) and READ_ONLY not in str(caught.value)
    assert sim.stats()["by_endpoint"]["analytics"] == 1


def test_filter_is_sent_and_applied(simulator, tmp_path: Path) -> None:
    rows = source_rows(300)
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", rows)})
    expression = (
        '<sawx:expr xsi:type="sawx:comparison" op="equal" '
        'xmlns:sawx="com.siebel.analytics.web/expression/v1.1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<sawx:expr xsi:type="sawx:sqlExpression">"Physical Items"."Library Unit"."Library Code"</sawx:expr>'
        '<sawx:expr xsi:type="xsd:string">1030300</sawx:expr></sawx:expr>'
    )
    with client_for(sim) as client:
        report = fetch.fetch_rows(client, REPORT, filter=expression)
    expected = [row for row in rows if row[5] == "1030300"]
    assert report.rows == expected and expected


def test_every_call_is_paced_by_the_clients_pacer(simulator, tmp_path: Path) -> None:
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", source_rows(200))})
    with client_for(sim, rate=3.0) as client:
        report = fetch.fetch_rows(client, REPORT, limit=25)
    assert report.pages == 8
    stats = sim.stats()
    assert stats["max_requests_in_any_second"] <= 3 and stats["throttled"] == 0


def test_the_xml_form_reads_the_same_as_json(simulator, tmp_path: Path) -> None:
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", source_rows(10))})
    url = f"{sim.base_url}/almaws/v1/analytics/reports"
    auth = {"Authorization": f"apikey {TEST_KEY}"}
    as_xml = requests.get(url, params={"path": REPORT}, headers=auth, timeout=10)
    as_json = requests.get(url, params={"path": REPORT, "format": "json"}, headers=auth, timeout=10)
    xml_page = fetch.parse_page(as_xml.headers["Content-Type"], as_xml.text)
    json_page = fetch.parse_page(as_json.headers["Content-Type"], as_json.text)
    assert xml_page.rows == json_page.rows and len(xml_page.rows) == 10
    assert xml_page.headings == json_page.headings and list(xml_page.headings.values()) == HEADER
    assert xml_page.finished and xml_page.token


def test_an_xml_bomb_is_refused(simulator) -> None:
    sim = simulator(hostile="xmlbomb")
    with client_for(sim) as client, pytest.raises(AlmaError, match="refused for safety"):
        client.analytics_report("/shared/Sample University/Reports/Items to discharge")


def test_peek_reads_what_the_full_parse_reads_or_says_it_cannot(simulator, tmp_path: Path) -> None:
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", source_rows(30))})
    url = f"{sim.base_url}/almaws/v1/analytics/reports"
    auth = {"Authorization": f"apikey {TEST_KEY}"}
    first = requests.get(url, params={"path": REPORT, "format": "json"}, headers=auth, timeout=10)
    page = fetch.parse_page(first.headers["Content-Type"], first.text)
    assert fetch.peek(first.text) == fetch.Head(page.token, page.finished, True)
    # JSON written by an encoder that escapes "<" hides the head: the page is then parsed before going on
    escaped = first.text.replace("<", "\\u003c")
    assert fetch.peek(escaped) is None
    assert fetch.parse_page("application/json", escaped).rows == page.rows
    last = requests.get(url, params={"token": page.token, "format": "json"}, headers=auth, timeout=10)
    assert fetch.peek(last.text) == fetch.Head("", True, True)


def test_pages_too_large_for_the_client_are_asked_for_with_fewer_rows(simulator, tmp_path: Path) -> None:
    rows = source_rows(1200)
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", rows)})
    said: list[fetch.Progress] = []
    with client_for(sim, max_answer_bytes=60_000) as client:  # a page of 1,000 rows is some 250 KB
        report = fetch.fetch_rows(client, REPORT, on_progress=said.append)
    assert report.rows == rows
    assert any("asking for 250 rows a page" in p.message for p in said)
    assert any("asking for 50 rows a page" in p.message for p in said)


QUICK_RETRIES = RetryPolicy(jitter=0, server_backoff=0.01, connect_backoff=0.01, throttle_backoff=(0.2, 0.5))


def test_a_lost_page_starts_the_report_again_so_no_row_is_missed(simulator, tmp_path: Path) -> None:
    rows = source_rows(2500)
    sim = simulator(
        reports={REPORT: write_csv(tmp_path / "items.csv", rows)},
        fault_rate=0.25,
        faults=("500", "503", "drop"),
        seed=4,
    )
    said: list[fetch.Progress] = []
    with client_for(sim, retry=QUICK_RETRIES) as client:
        report = fetch.fetch_rows(client, REPORT, limit=500, on_progress=said.append)
    assert report.rows == rows and report.pages == 5  # the pages of the last, whole attempt
    restarts = [p for p in said if "again from the start" in p.message]
    assert restarts, "the seed was chosen so that a token call meets a fault"
    assert sum(sim.stats()["faults"].get(kind, 0) for kind in ("500", "503", "drop")) >= len(restarts)


def test_a_throttled_page_is_asked_for_again_without_starting_over(simulator, tmp_path: Path) -> None:
    rows = source_rows(100)
    sim = simulator(reports={REPORT: write_csv(tmp_path / "items.csv", rows)}, rate_limit=1)
    said: list[fetch.Progress] = []
    with client_for(sim, retry=QUICK_RETRIES) as client:
        report = fetch.fetch_rows(client, REPORT, limit=25, on_progress=said.append)
    assert report.rows == rows
    assert sim.stats()["throttled"] >= 1  # the gateway refused token calls before Alma saw them ...
    assert not [p for p in said if "again from the start" in p.message]  # ... so they were simply sent again


def test_a_report_whose_pages_keep_getting_lost_is_an_error_not_a_short_table(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(
        reports={REPORT: write_csv(tmp_path / "items.csv", source_rows(100))}, fault_rate=0.9, faults=("500",)
    )
    with (
        client_for(sim, retry=QUICK_RETRIES) as client,
        pytest.raises(AlmaError, match=r"kept getting lost|Internal"),
    ):
        fetch.fetch_rows(client, REPORT, limit=25)
