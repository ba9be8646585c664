"""The faces of the Analytics fetch: ``alma-tools report``, ``fetch_report_to_file`` (the discharge's and the
statistics' ``--report``), run as a user would, against the simulator over real sockets."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import openpyxl

from alma_tools.alma import AlmaClient
from alma_tools.cells import safe_text
from alma_tools.cli.report import fetch_report_to_file
from test_analytics_client import HEADER, REPORT, source_rows, write_csv

CANARY = "canary-KEY-analytics-5ca1ab1e"
TRACEBACK = "Traceback (most recent call last)"
SUMMARY = re.compile(
    r"^([\d,]+) rows in (\d+) pages? from Analytics report (.+), fetched (\d{4}-\d\d-\d\d \d\d:\d\d)$"
)


def env_for(home: Path, key: str = CANARY) -> dict[str, str]:
    """The user's environment: the key only in ALMA_API_KEY, a home of its own (no keyring, no config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMA_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        ALMA_API_KEY=key,
    )
    return env


def alma_tools(
    *args: str, home: Path, cwd: Path | None = None, key: str = CANARY
) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "alma_tools", *args],
        env=env_for(home, key),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert TRACEBACK not in done.stdout + done.stderr
    assert key not in done.stdout + done.stderr
    return done


def read_csv_file(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark, so Excel opens it as UTF-8
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def test_report_to_csv_prints_rows_pages_and_time_and_keeps_every_value(simulator, tmp_path: Path) -> None:
    rows = source_rows(2500)
    sim = simulator(api_keys=(CANARY,), reports={REPORT: write_csv(tmp_path / "source.csv", rows)})
    out = tmp_path / "fetched.csv"
    done = alma_tools("report", REPORT, "--output", str(out), "--base-url", sim.base_url, home=tmp_path / "h")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    match = SUMMARY.match(first)
    assert match, first
    assert match.group(1, 2, 3) == ("2,500", "3", REPORT)
    assert read_csv_file(out) == [HEADER, *[[safe_text(value) for value in row] for row in rows]]
    assert CANARY.encode() not in out.read_bytes()


def test_report_to_xlsx_writes_every_cell_as_text(simulator, tmp_path: Path) -> None:
    rows = source_rows(300)
    sim = simulator(api_keys=(CANARY,), reports={REPORT: write_csv(tmp_path / "source.csv", rows)})
    out = tmp_path / "fetched.xlsx"
    done = alma_tools("report", REPORT, "--output", str(out), "--base-url", sim.base_url, home=tmp_path / "h")
    assert done.returncode == 0, done.stderr
    assert SUMMARY.match(done.stdout.splitlines()[0])
    sheet = openpyxl.load_workbook(out).active
    cells = list(sheet.iter_rows())
    assert [c.value for c in cells[0]] == HEADER
    for source, row in zip(rows, cells[1:], strict=True):
        assert [c.value if c.value is not None else "" for c in row] == source
        assert all(c.data_type == "s" for c in row if c.value is not None)  # ids and "=1+1" are text cells


def test_report_refusals_say_what_to_do(simulator, tmp_path: Path) -> None:
    sim = simulator(api_keys=(CANARY,), read_only_keys=("read-only-key-87654321",))
    home = tmp_path / "h"
    where = ("--base-url", sim.base_url)
    bad_name = alma_tools("report", REPORT, "--output", str(tmp_path / "x.txt"), *where, home=home)
    assert bad_name.returncode == 2 and ".csv or .xlsx" in bad_name.stderr
    assert sim.stats()["requests"] == 0  # refused before any call
    missing = alma_tools(
        "report", "/shared/Nowhere/Reports/X", "--output", str(tmp_path / "x.csv"), *where, home=home
    )
    assert missing.returncode == 1
    assert "/shared/Nowhere/Reports/X" in missing.stderr and "Properties" in missing.stderr
    read_only = alma_tools(
        "report",
        "/shared/Sample University/Reports/Items to discharge",
        "--output",
        str(tmp_path / "x.csv"),
        *where,
        home=home,
        key="read-only-key-87654321",
    )
    assert read_only.returncode == 1 and "Analytics — read-only" in read_only.stderr
    assert not (tmp_path / "x.csv").exists()


def test_report_with_a_filter(simulator, tmp_path: Path) -> None:
    rows = source_rows(200)
    sim = simulator(api_keys=(CANARY,), reports={REPORT: write_csv(tmp_path / "source.csv", rows)})
    expression = (
        '<sawx:expr xsi:type="sawx:comparison" op="between" '
        'xmlns:sawx="com.siebel.analytics.web/expression/v1.1" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<sawx:expr xsi:type="sawx:sqlExpression">"Loans"."Loan Date"</sawx:expr>'
        '<sawx:expr xsi:type="xsd:date">2026-01-01</sawx:expr>'
        '<sawx:expr xsi:type="xsd:date">2026-02-28</sawx:expr>'
        "</sawx:expr>"
    )
    out = tmp_path / "filtered.csv"
    done = alma_tools(
        "report",
        REPORT,
        "--output",
        str(out),
        "--filter",
        expression,
        "--base-url",
        sim.base_url,
        home=tmp_path / "h",
    )
    assert done.returncode == 0, done.stderr
    expected = [row for row in rows if row[7] and "2026-01-01" <= row[7] <= "2026-02-28"]
    assert read_csv_file(out)[1:] == [[safe_text(value) for value in row] for row in expected] and expected


def test_fetch_report_to_file_names_the_file_after_the_report_and_the_time(simulator, tmp_path: Path) -> None:
    sim = simulator()
    folder = tmp_path / "runs"
    folder.mkdir()
    with AlmaClient(base_url=sim.base_url, api_key="test-key") as client:
        first = fetch_report_to_file(client, "/shared/Sample University/Reports/Items to discharge", folder)
        second = fetch_report_to_file(client, "/shared/Sample University/Reports/Items to discharge", folder)
    assert re.fullmatch(r"Items to discharge \d{4}-\d\d-\d\d \d{4}\.csv", first.name), first.name
    assert first.parent == folder and second != first and second.stem.startswith(first.stem)
    assert first.read_bytes() == second.read_bytes()
    rows = read_csv_file(first)
    assert len(rows) == 301 and rows[0][:3] == ["Title", "Barcode", "MMS Id"]


ITEMS_REPORT = "/shared/Sample University/Reports/Items to discharge"
LOANS_REPORT = "/shared/Sample University/Reports/Loans"
DATA = Path(__file__).parent / "data"


def test_discharge_from_a_report_fetches_into_a_dated_file_and_discharges_it(
    simulator, tmp_path: Path
) -> None:
    sim = simulator(api_keys=(CANARY,))
    work = tmp_path / "work"
    work.mkdir()
    done = alma_tools(
        "discharge",
        "--report",
        ITEMS_REPORT,
        "--locations",
        str(DATA / "locations.csv"),
        "--base-url",
        sim.base_url,
        "--rate",
        "25",
        home=tmp_path / "h",
        cwd=work,
    )
    assert done.returncode in (0, 1), done.stderr
    match = SUMMARY.match(done.stdout.splitlines()[0])
    assert match and match.group(1, 3) == ("300", ITEMS_REPORT)
    named = re.compile(r"Items to discharge \d{4}-\d\d-\d\d \d{4}\.csv")
    (fetched,) = [path for path in work.iterdir() if named.fullmatch(path.name)]
    # the results writer keeps the file as fetched beside it, before it writes done and status
    assert (
        read_csv_file(fetched.with_suffix(".original.csv"))[1:]
        == read_csv_file(Path(__file__).parent / "data" / "items_to_discharge.csv")[1:]
    )
    rows = read_csv_file(fetched)
    header = rows[0]
    assert header[-2:] == ["done", "status"]  # the fetched file is the run's record: results written into it
    assert sum(1 for row in rows[1:] if row[-2] == "TRUE") == len(sim.stats()["scans"]) >= 250
    assert CANARY.encode() not in fetched.read_bytes()


def test_discharge_needs_a_file_or_a_report_not_both(simulator, tmp_path: Path) -> None:
    sim = simulator(api_keys=(CANARY,))
    where = ("--locations", str(DATA / "locations.csv"), "--base-url", sim.base_url)
    neither = alma_tools("discharge", *where, home=tmp_path / "h")
    assert neither.returncode == 2 and "--report PATH" in neither.stderr
    both = alma_tools(
        "discharge",
        str(DATA / "items_to_discharge.csv"),
        "--report",
        ITEMS_REPORT,
        *where,
        home=tmp_path / "h",
    )
    assert both.returncode == 2 and "not both" in both.stderr
    assert sim.stats()["requests"] == 0


def test_concurrency_from_a_report(simulator, tmp_path: Path) -> None:
    sim = simulator(api_keys=(CANARY,))
    work = tmp_path / "work"
    work.mkdir()
    stats = work / "stats.csv"
    done = alma_tools(
        "concurrency",
        "--report",
        LOANS_REPORT,
        "--as-of",
        "2026-06-30 23:59",
        "--csv",
        str(stats),
        "--base-url",
        sim.base_url,
        home=tmp_path / "h",
        cwd=work,
    )
    assert done.returncode == 0, done.stderr
    assert SUMMARY.match(done.stdout.splitlines()[0])
    (fetched,) = work.glob("Loans *.csv")
    # the same statistics as from the hand export of the same report
    direct = alma_tools(
        "concurrency",
        str(DATA / "loans_export.xlsx"),
        "--as-of",
        "2026-06-30 23:59",
        "--csv",
        str(work / "direct.csv"),
        home=tmp_path / "h",
    )
    assert direct.returncode == 0, direct.stderr
    assert stats.read_bytes() == (work / "direct.csv").read_bytes()
    assert fetched.stat().st_size > 0
