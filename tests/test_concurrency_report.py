"""The workbook and CSV from the command line, on the sample export and on hostile text."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from alma_tools.cli import main
from alma_tools.concurrency import CSV_COLUMNS, compute, read_loans, report_sheets, write_csv, write_xlsx
from alma_tools.concurrency.report import ChartSeries, ChartSpec, ConditionalFormat

HEADER = "Title,MMS Id,Permanent Call Number,Barcode,Loan Date,Loan Time,Return Date,Return Time"


@pytest.fixture(scope="module")
def sample_outputs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("concurrency")
    xlsx, csv_path = folder / "stats.xlsx", folder / "stats.csv"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "concurrency",
                str(data_dir / "loans_export.xlsx"),
                "--as-of",
                "2026-07-01 00:00",
                "--output",
                str(xlsx),
                "--csv",
                str(csv_path),
            ]
        )
    assert code == 0
    return xlsx, csv_path, printed.getvalue()


def test_command_line_prints_as_of_counts_top_volumes_and_outputs(sample_outputs) -> None:
    xlsx, csv_path, printed = sample_outputs
    assert "As of 2026-07-01 00:00" in printed
    assert "384 volumes" in printed
    assert "Top 5 by hours with every copy out:" in printed
    assert "data problems" in printed
    assert f"Workbook: {xlsx}" in printed and f"CSV: {csv_path}" in printed


def test_workbook_sheets_tables_and_first_sheet(sample_outputs) -> None:
    xlsx, _, _ = sample_outputs
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == [
        "Buy more copies",
        "Top 20 chart",
        "Weeks at capacity",
        "Statistics",
        "Episodes",
        "Problems",
    ]
    first = book["Buy more copies"]
    titles = [first.cell(row, 1).value for row in range(1, 6)]
    assert titles[0].startswith("Buy more copies?")
    assert "loans_export.xlsx" in titles[1]
    assert "As of: 2026-07-01 00:00" in titles[2]
    assert {name for sheet in book for name in sheet.tables} == {
        "BuyMoreCopies",
        "TopVolumes",
        "WeeksAtCapacity",
        "Statistics",
        "Episodes",
        "Problems",
    }
    header_row = 7
    assert first.freeze_panes == f"A{header_row + 1}"
    header = [c.value for c in first[header_row]]
    assert header[:4] == ["Rank", "Title", "MMS Id", "Permanent Call Number"]
    hours = [
        row[header.index("Hours All Out")]
        for row in first.iter_rows(min_row=header_row + 1, values_only=True)
    ]
    assert hours and all(h > 0 for h in hours) and hours == sorted(hours, reverse=True)
    ids = [first.cell(row, 3) for row in range(header_row + 1, header_row + 6)]
    assert all(cell.data_type == "s" and len(cell.value) == 18 for cell in ids)  # ids are text cells
    for sheet in book:  # printable for a meeting: landscape, one page wide, header on every page
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.page_setup.fitToWidth in (None, 1) and sheet.page_setup.fitToHeight == 0  # 1 is implied
        (table,) = sheet.tables.values()
        top = openpyxl.utils.cell.range_boundaries(table.ref)[1]
        assert openpyxl.utils.cell.range_boundaries(table.ref)[3] == sheet.max_row  # the table has every row
        assert table.autoFilter.ref == table.ref
        assert sheet.print_title_rows == f"${top}:${top}"  # the table's header row


def chart_xml(xlsx: Path) -> str:
    with zipfile.ZipFile(xlsx) as archive:
        (chart,) = [n for n in archive.namelist() if n.startswith("xl/charts/chart")]
        return archive.read(chart).decode()


def test_workbook_bar_chart_of_the_top_20_and_conditional_formats(sample_outputs) -> None:
    xlsx, _, _ = sample_outputs
    chart = chart_xml(xlsx)
    assert '<c:barDir val="bar"/>' in chart and chart.count("<c:ser>") == 2  # horizontal bars, two series
    assert "<c:v>Hours all out</c:v>" in chart and "<c:v>Hours 2+ out</c:v>" in chart
    # categories: the Volume column; values: the two hours columns; rows 5-24 (titles, blank, header)
    assert chart.count("<c:f>'Top 20 chart'!$B$5:$B$24</c:f>") == 2
    assert "<c:f>'Top 20 chart'!$D$5:$D$24</c:f>" in chart and "<c:f>'Top 20 chart'!$E$5:$E$24</c:f>" in chart
    assert '<c:orientation val="maxMin"/>' in chart  # the top volume at the top
    book = openpyxl.load_workbook(xlsx)
    top = book["Top 20 chart"]
    assert [c.value for c in top[4]] == ["Rank", "Volume", "Copies", "Hours All Out", "Hours 2+ Out"]
    hours = [top.cell(row, 4).value for row in range(5, 25)]
    assert hours == sorted(hours, reverse=True) and top.cell(25, 1).value is None
    statistics = book["Statistics"]
    ranked = [statistics.cell(row, 10).value for row in range(5, 25)]  # Hours All Out of the top 20
    assert hours == ranked
    with zipfile.ZipFile(xlsx) as archive:
        sheets = [archive.read(f"xl/worksheets/sheet{i}.xml").decode() for i in range(1, 7)]
    assert "dataBar" in sheets[0] and "colorScale" in sheets[0]
    assert "dataBar" in sheets[3] and 'operator="greaterThan"' in sheets[3]


def test_weeks_at_capacity_hours_per_week_add_up_with_one_colour_scale(sample_outputs) -> None:
    xlsx, _, _ = sample_outputs
    book = openpyxl.load_workbook(xlsx)
    weeks = book["Weeks at capacity"]
    header_row = 4
    header = [c.value for c in weeks[header_row]]
    assert header[:4] == ["Rank", "Title", "Permanent Call Number", "Copies"]
    assert (
        header[4] == "2025-08-25" and header[5] == "2025-09-01"
    )  # Mondays, the first holding the first loan
    totals = {}
    for row in weeks.iter_rows(min_row=header_row + 1, values_only=True):
        assert all(0 <= (h or 0) <= 168 for h in row[4:])  # a week has 168 hours
        totals[(row[1], row[2])] = sum(h or 0 for h in row[4:])
    assert len(totals) == 30
    buy = book["Buy more copies"]
    buy_header = [c.value for c in buy[7]]
    for row in buy.iter_rows(min_row=8, max_row=37, values_only=True):
        key = (row[buy_header.index("Title")], row[buy_header.index("Permanent Call Number")])
        assert totals[key] == pytest.approx(row[buy_header.index("Hours All Out")], abs=0.01 * 46)
    with zipfile.ZipFile(xlsx) as archive:
        sheet = archive.read("xl/worksheets/sheet3.xml").decode()
    assert sheet.count("<colorScale>") == 1 and 'sqref="E5:' in sheet  # one scale over every week


@pytest.mark.slow
def test_libreoffice_renders_the_chart_and_the_weeks_sheet(sample_outputs, tmp_path: Path) -> None:
    """Opened by another spreadsheet program and converted to PDF, the chart and the weeks are there."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed: the rendering check needs it")
    xlsx, _, _ = sample_outputs
    profile = tmp_path / "profile"  # its own profile: no clash with another soffice running
    done = subprocess.run(
        [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf",
         "--outdir", str(tmp_path), str(xlsx)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    pdf = tmp_path / "stats.pdf"
    assert done.returncode == 0 and pdf.exists(), done.stdout + done.stderr
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Top 20 volumes by hours with every copy out" in text
    assert "Hours with every copy out, and with two or more out" in text  # the chart's title, drawn
    assert "Hours all out" in text and "Hours 2+ out" in text  # its legend
    assert "Weeks at capacity: the top 30 volumes" in text and "2025-09-01" in text
    chart = chart_xml(xlsx)
    assert chart.count("<c:ser>") == 2 and "'Top 20 chart'!$D$5:$D$24" in chart


def test_csv_columns_ids_as_text_and_as_of(sample_outputs) -> None:
    xlsx, csv_path, _ = sample_outputs
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8 correctly
    with open(csv_path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0][: len(CSV_COLUMNS)]) == CSV_COLUMNS
    assert rows[0][-1] == "As Of" and rows[1][-1] == "2026-07-01 00:00:00"
    assert all(len(row[0]) == 18 and row[0].isdigit() for row in rows[1:])
    book = openpyxl.load_workbook(xlsx, read_only=True)
    assert book["Statistics"].max_row - 3 == len(rows)  # two title lines and a blank row, then the header


def test_formula_like_text_stays_text(tmp_path: Path) -> None:
    loans = tmp_path / "loans.csv"
    loans.write_text(
        "\n".join(
            [
                HEADER,
                '"=HYPERLINK(""http://x"",""y"")",991111111111113681,@SUM(A1),B1,9/5/2025,08:00:00,9/5/2025,10:00:00',
                '"=HYPERLINK(""http://x"",""y"")",991111111111113681,@SUM(A1),B2,9/5/2025,09:00:00,9/5/2025,11:00:00',
            ]
        ),
        encoding="utf-8",
    )
    stats = compute(read_loans(loans), as_of=dt.datetime(2025, 10, 1))
    write_xlsx(stats, tmp_path / "out.xlsx")
    write_csv(stats, tmp_path / "out.csv")
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["Buy more copies"]
    header = next(row for row in range(1, 20) if sheet.cell(row, 2).value == "Title")
    title, call_number = sheet.cell(header + 1, 2), sheet.cell(header + 1, 4)
    assert (title.data_type, title.value) == ("s", '=HYPERLINK("http://x","y")')
    assert (call_number.data_type, call_number.value) == ("s", "@SUM(A1)")
    text = (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
    assert "'@SUM(A1)" in text and "'=HYPERLINK" in text


def test_sheet_specs_are_plain_data(sample_outputs, data_dir: Path) -> None:
    stats = compute(read_loans(data_dir / "loans_export.xlsx"), as_of=dt.datetime(2026, 7, 1))
    specs = report_sheets(stats)
    for spec in specs:
        assert spec.header_row == len(spec.title_lines) + 1
        assert all(isinstance(c, ConditionalFormat) for c in spec.conditional_formats)
        assert set(spec.number_formats) <= set(spec.frame.columns)
    chart = specs[1].chart
    assert chart == ChartSpec(
        title="Hours with every copy out, and with two or more out",
        categories_column="Volume",
        series=(
            ChartSeries("Hours all out", "Hours All Out", "#E46C0A"),
            ChartSeries("Hours 2+ out", "Hours 2+ Out", "#5B9BD5"),
        ),
        rows=20,
        x_title="Hours",
        y_title="Volume",
        kind="bar",
    )
    assert {s.column for s in chart.series} | {chart.categories_column} <= set(specs[1].frame.columns)
    (scale,) = specs[2].conditional_formats
    weeks = list(specs[2].frame.columns[4:])
    assert (scale.kind, scale.column, scale.last_column) == ("color_scale", weeks[0], weeks[-1])


def test_episodes_sheet_holds_the_top_volumes_and_the_csv_every_episode(tmp_path: Path) -> None:
    from alma_tools.concurrency.report import EPISODE_VOLUMES

    rows = [HEADER.split(",")]
    for volume in range(EPISODE_VOLUMES + 5):  # each volume: two copies out together once
        mms = f"99{volume:012}3681"
        for copy in ("a", "b"):
            rows.append(["T", mms, "QA1", f"{copy}{volume}", "9/1/2025", "08:00:00", "9/1/2025", "10:00:00"])
    stats = compute(read_loans(rows), as_of=dt.datetime(2026, 1, 1))
    write_xlsx(stats, tmp_path / "stats.xlsx")
    with open(tmp_path / "stats.episodes.csv", encoding="utf-8-sig", newline="") as handle:
        every = list(csv.DictReader(handle))
    assert len(every) == len(stats.episodes) == 2 * (EPISODE_VOLUMES + 5)  # a 2+ and an all-out each
    assert every[0]["Start"] == "2025-09-01 08:00:00" and every[0]["Hours"] == "2.0"
    sheet = openpyxl.load_workbook(tmp_path / "stats.xlsx")["Episodes"]
    assert sheet.cell(3, 1).value == (
        f"The {2 * EPISODE_VOLUMES} episodes of the {EPISODE_VOLUMES} volumes ranked first (of "
        f"{2 * (EPISODE_VOLUMES + 5)} episodes); every episode is in stats.episodes.csv."
    )
    assert sheet.max_row == 5 + 2 * EPISODE_VOLUMES  # 3 title lines, a blank row, the header


@pytest.mark.slow
def test_no_output_prints_the_summary_and_bad_input_exits_2_without_traceback(
    tmp_path: Path, data_dir: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "alma_tools", "concurrency", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    no_output = run(str(data_dir / "loans_export.xlsx"), "--as-of", "2026-07-01")
    assert no_output.returncode == 0 and "Top 5 by hours" in no_output.stdout
    assert "Nothing was saved: add --output STATS.xlsx" in no_output.stdout
    missing = run(str(tmp_path / "nowhere.csv"), "--csv", str(tmp_path / "x.csv"))
    assert missing.returncode == 2 and "nowhere.csv" in missing.stderr and "Traceback" not in missing.stderr
    wrong = run(str(data_dir / "items_to_discharge.csv"), "--csv", str(tmp_path / "x.csv"))
    assert wrong.returncode == 2 and "Return Date" in wrong.stderr and "Traceback" not in wrong.stderr
    bad_as_of = run(
        str(data_dir / "loans_export.xlsx"), "--as-of", "yesterday", "--csv", str(tmp_path / "x.csv")
    )
    assert bad_as_of.returncode == 2 and "YYYY-MM-DD HH:MM" in bad_as_of.stderr
    assert not (tmp_path / "x.csv").exists()


# --- outputs and words -------------------------------------------------------------------------------


def run_cli(*args: str) -> tuple[int, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["concurrency", *args])
    return code, printed.getvalue()


def problem_loans(path: Path) -> Path:
    """Two copies out together for 10 days; a row whose blank return time puts the return before the loan."""
    path.write_text(
        "\n".join(
            [
                HEADER,
                "Book,991111111111113681,QA1,B1,9/1/2025,08:00:00,9/11/2025,08:00:00",
                "Book,991111111111113681,QA1,B2,9/1/2025,08:00:00,9/11/2025,08:00:00",
                "Book,991111111111113681,QA1,B1,9/12/2025,08:00:00,9/12/2025,",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return path


def test_csv_only_writes_the_problems_beside_it_and_says_where(tmp_path: Path) -> None:
    loans = problem_loans(tmp_path / "loans.csv")
    code, printed = run_cli(str(loans), "--csv", str(tmp_path / "stats.csv"), "--as-of", "2026-01-01")
    assert code == 0
    problems_file = tmp_path / "stats.problems.csv"
    assert f"1 data problem (see {problems_file})" in printed and "Problems sheet" not in printed
    assert f"Problems: {problems_file}" in printed
    with open(problems_file, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["Row"], r["Column"], r["File"]) for r in rows] == [("4", "Return Time", "loans.csv")]
    assert rows[0]["Problem"].startswith("Return Time is blank, so the return counts from midnight")
    assert rows[0]["Fix"] == "Fill in the Return Time"
    assert "next day" not in rows[0]["Fix"]


def test_output_over_an_input_is_refused_before_any_work(tmp_path: Path) -> None:
    loans = problem_loans(tmp_path / "loans.csv")
    before = loans.read_bytes()
    for option, name in (("--csv", "loans.csv"), ("--output", "LOANS.xlsx")):
        target = tmp_path / name
        if option == "--output":  # the same file by another path: a workbook given as loans and output
            target = tmp_path / "sub" / ".." / "loans.xlsx"
            (tmp_path / "sub").mkdir(exist_ok=True)
            xlsx = tmp_path / "loans.xlsx"
            xlsx.write_bytes(b"")
            args = [str(xlsx), option, str(target)]
        else:
            args = [str(loans), option, str(target)]
        done = subprocess.run(
            [sys.executable, "-m", "alma_tools", "concurrency", *args], capture_output=True, text=True
        )
        assert done.returncode == 2 and "is also an input" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert loans.read_bytes() == before


def test_summary_in_days_over_72_hours_and_the_2_plus_figure_once() -> None:
    from alma_tools.concurrency.report import describe, duration_text

    assert duration_text(72.0) == "72.0 h" and duration_text(6114.0) == "254.8 days"
    loans = [
        HEADER.split(","),
        ["Book", "991111111111113681", "QA1", "B1", "9/1/2025", "08:00:00", "9/11/2025", "08:00:00"],
        ["Book", "991111111111113681", "QA1", "B2", "9/1/2025", "08:00:00", "9/11/2025", "08:00:00"],
        ["Three", "992222222222223681", "QA2", "C1", "9/1/2025", "08:00:00", "9/1/2025", "20:00:00"],
        ["Three", "992222222222223681", "QA2", "C2", "9/1/2025", "08:00:00", "9/1/2025", "20:00:00"],
        ["Three", "992222222222223681", "QA2", "C3", "9/1/2025", "10:00:00", "9/1/2025", "12:00:00"],
    ]
    lines = describe(compute(read_loans(loans), as_of=dt.datetime(2026, 1, 1)))
    assert "  10.0 days all out, 2 copies, 2 loans: Book [991111111111113681 QA1]" in lines
    assert "  2.0 h all out, 12.0 h 2+ out, 3 copies, 3 loans: Three [992222222222223681 QA2]" in lines


def test_packaged_sample_carries_only_its_four_deliberate_problems(data_dir: Path) -> None:
    """The demo's loans end before its as-of; the problems are the README's four, and the test copy is
    the packaged file."""
    from alma_tools.demo import DEMO_AS_OF, _packaged

    packaged = _packaged("loans_export.xlsx").read_bytes()
    assert packaged == (data_dir / "loans_export.xlsx").read_bytes()
    stats = compute(read_loans(data_dir / "loans_export.xlsx"), as_of=DEMO_AS_OF)
    listed = [(row.Row, row.Column) for row in stats.problems.itertuples()]
    assert listed == [(106, "Loan Date"), (3716, "Return Time"), (5439, "Return Date"), (8696, "Loan Date")]
    readme = _packaged("README.md").read_text(encoding="utf-8")
    for row, column in listed:
        assert f"| {row} | {column} |" in readme
    assert stats.volumes["Last Return"].max() <= DEMO_AS_OF


def test_episodes_csv_quotes_like_the_csv_module(tmp_path: Path) -> None:
    """Titles with commas, quotes, line breaks and formula-like text come back exactly (formulas as text)."""
    titles = ['Smith, "Collected" works', "Two\nlines", "=SUM(A1)", "Plain"]
    rows = [HEADER.split(",")]
    for number, title in enumerate(titles):
        for copy in ("a", "b"):
            rows.append(
                [title, f"99{number:012}3681", "QA1", copy, "9/1/2025", "08:00:00", "9/1/2025", "10:30:00"]
            )
    stats = compute(read_loans(rows), as_of=dt.datetime(2026, 1, 1))
    write_xlsx(stats, tmp_path / "stats.xlsx")
    with open(tmp_path / "stats.episodes.csv", encoding="utf-8-sig", newline="") as handle:
        read = list(csv.reader(handle))
    assert read[0] == [
        "MMS Id",
        "Permanent Call Number",
        "Title",
        "Kind",
        "Start",
        "End",
        "Hours",
        "Copies Out",
    ]
    assert sorted({row[2] for row in read[1:]}) == sorted(
        ["'=SUM(A1)", *[t for t in titles if t != "=SUM(A1)"]]
    )
    assert {(row[4], row[5], row[6], row[7]) for row in read[1:]} == {
        ("2025-09-01 08:00:00", "2025-09-01 10:30:00", "2.5", "2")
    }
