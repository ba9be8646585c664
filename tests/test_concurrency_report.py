"""The workbook and CSV from the command line, on the sample export and on hostile text."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from alma_tools.cli import main
from alma_tools.concurrency import CSV_COLUMNS, compute, read_loans, report_sheets, write_csv, write_xlsx
from alma_tools.concurrency.report import ChartSpec, ConditionalFormat

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
        "Statistics",
        "Episodes",
        "Copies out over time",
        "Problems",
    ]
    first = book["Buy more copies"]
    titles = [first.cell(row, 1).value for row in range(1, 6)]
    assert titles[0].startswith("Buy more copies?")
    assert "loans_export.xlsx" in titles[1]
    assert "As of: 2026-07-01 00:00" in titles[2]
    assert {name for sheet in book for name in sheet.tables} == {
        "BuyMoreCopies",
        "Statistics",
        "Episodes",
        "CopiesOut",
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
        assert sheet.print_title_rows == f"${top}:${top}"  # the table's header row


def test_workbook_has_chart_and_conditional_formats(sample_outputs) -> None:
    xlsx, _, _ = sample_outputs
    with zipfile.ZipFile(xlsx) as archive:
        names = archive.namelist()
        charts = [n for n in names if n.startswith("xl/charts/chart")]
        assert len(charts) == 1
        chart = archive.read(charts[0]).decode()
        assert "<c:scatterChart>" in chart and chart.count("<c:ser>") == 5
        assert "'Copies out over time'!$A$" in chart
        sheets = [archive.read(f"xl/worksheets/sheet{i}.xml").decode() for i in range(1, 6)]
    assert "dataBar" in sheets[0] and "colorScale" in sheets[0]
    timeline = openpyxl.load_workbook(xlsx)["Copies out over time"]
    first_time = timeline.cell(9, 1)  # five series names under the title, a blank row, the header in row 8
    assert first_time.is_date and first_time.number_format == "yyyy-mm-dd hh:mm"
    assert "dataBar" in sheets[1] and 'operator="greaterThan"' in sheets[1]


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
    chart = specs[3].chart
    assert isinstance(chart, ChartSpec) and len(chart.series) == 5
    first = chart.series[0]
    steps = specs[3].frame[[first.x_column, first.y_column]].dropna()
    assert len(steps) == first.points
    assert steps[first.y_column].iloc[0] == 0 and steps[first.y_column].iloc[-1] == 0


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
    assert f"1 data problems (see {problems_file})" in printed and "Problems sheet" not in printed
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
