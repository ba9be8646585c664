"""Large workbooks read a column at a time (tables/xlsx_columns.py) give what the cell-by-cell reader gives.

Every case reads the same workbook both ways and compares the loans and the problems, row numbers
included: the column reader is only a faster way to the same answer, and where it cannot vouch for the
cells (a column mixing types, a hidden row, a cell right of the header) it must hand the sheet over.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

from alma_tools.concurrency import loans as loans_module
from alma_tools.concurrency import read_loans
from alma_tools.concurrency.loans import LOAN_COLUMNS
from alma_tools.tables import xlsx_columns
from alma_tools.tables.xlsx_columns import likely_header_row, open_large_sheet, read_columns
from alma_tools.tables.xlsx_parts import choose_sheet, sheet_head, workbook_sheets
from test_concurrency_loans import HEADER, MMS, OTHER

DATA = Path(__file__).parent / "data"
DAY = dt.datetime(2025, 9, 1)


def loans_workbook(
    path: Path,
    *,
    above: int = 2,
    left: int = 0,
    rows: int = 40,
    cell: dict[tuple[int, int], object] | None = None,
    hidden: int | None = None,
) -> Path:
    """An Analytics-shaped loans workbook: a title, ``above - 1`` blank rows, the header, ``rows`` loans
    of two volumes as real date cells and text times, a footer. ``cell`` puts values at (data row, column)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Loans"
    sheet.cell(1, left + 1, "Loans of the academic year")
    header_row = above + 1
    for column, name in enumerate(HEADER, start=left + 1):
        sheet.cell(header_row, column, name)
    for i in range(rows):
        row = header_row + 1 + i
        start = DAY + dt.timedelta(days=i // 4, hours=i % 4 * 3)
        values = [f"Title {i % 2}", MMS if i % 2 else OTHER, f"QA{i % 2}", f"00{i % 3}{i % 2}",
                  start.replace(hour=0), f"{start:%H:%M:%S}", start.replace(hour=0),
                  f"{start + dt.timedelta(hours=2):%H:%M:%S}"]  # fmt: skip
        if i == rows - 1:  # still out
            values[6:] = [None, None]
        for column, value in enumerate(values):
            written = (cell or {}).get((i, column), value)
            target = sheet.cell(row, left + 1 + column, written)
            if isinstance(written, dt.datetime):
                target.number_format = "m/d/yyyy"
    sheet.cell(header_row + rows + 1, left + 1, "Applied filters: Loan Date is after 08/25/2025")
    if hidden is not None:
        sheet.row_dimensions[header_row + 1 + hidden].hidden = True
    book.save(path)
    return path


def both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """(column reader's result, cell-by-cell result) of ``read_loans``, and whether the first was taken."""
    monkeypatch.setattr(xlsx_columns, "LARGE_SHEET_BYTES", 0)
    sheet = open_large_sheet(path)
    assert sheet is not None
    taken = loans_module._read_large_workbook(sheet, LOAN_COLUMNS) is not None
    fast = read_loans(path)
    monkeypatch.setattr(xlsx_columns, "LARGE_SHEET_BYTES", 10**12)
    assert open_large_sheet(path) is None
    slow = read_loans(path)
    return fast, slow, taken


def same_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch, *, by_columns: bool):
    """``read_loans`` of ``path`` by the column reader (taken or not, as ``by_columns`` says) equals the
    cell-by-cell reader's, loans, problems and notes; returns it."""
    fast, slow, taken = both_ways(path, monkeypatch)
    assert taken == by_columns
    pd.testing.assert_frame_equal(fast.loans, slow.loans, check_dtype=False)
    pd.testing.assert_frame_equal(fast.problems, slow.problems, check_dtype=False)
    assert fast.notes == slow.notes
    return fast


def test_the_packaged_loans_export_reads_the_same_both_ways(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its Loan Date 'n/a' (a problem it carries on purpose) is a text cell fastexcel would make blank."""
    fast = same_both_ways(DATA / "loans_export.xlsx", monkeypatch, by_columns=False)
    assert "Loan Date 'n/a' is not a date" in fast.problems["Problem"].tolist()


def test_rows_are_numbered_as_the_sheet_shows_them_with_blank_rows_and_columns_before_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Header in row 6, column C: a bad time in data row 10 is reported in sheet row 16, both ways."""
    path = loans_workbook(tmp_path / "l.xlsx", above=5, left=2, cell={(9, 5): "25:61:00"})
    fast = same_both_ways(path, monkeypatch, by_columns=True)
    assert fast.problems["Row"].tolist() == [16]


def test_blank_rows_right_below_the_header_keep_the_row_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two blank rows below the header (row 3): a bad time in data row 10 is sheet row 15, both ways."""
    path = loans_workbook(tmp_path / "l.xlsx", cell={(9, 5): "25:61:00"})
    book = openpyxl.load_workbook(path)
    book.active.insert_rows(4, 2)
    book.save(path)
    fast = same_both_ways(path, monkeypatch, by_columns=True)
    assert fast.problems["Row"].tolist() == [15]


def test_barcodes_excel_turned_into_numbers_are_numbers_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole column of number cells is a float column (not int): the id checks see what Excel shows."""
    numbers = {(i, 3): float(31000000000 + i % 3) for i in range(40)}
    numbers[(5, 1)] = 9.91234567890124e17  # an MMS Id cut to 15 digits: refused both ways
    path = loans_workbook(tmp_path / "l.xlsx", cell=numbers)
    same_both_ways(path, monkeypatch, by_columns=False)  # MMS Id mixes text and a number: cell by cell
    path = loans_workbook(tmp_path / "m.xlsx", cell={(i, 3): float(31000000000 + i % 3) for i in range(40)})
    fast = same_both_ways(path, monkeypatch, by_columns=True)
    assert set(fast.loans["barcode"]) == {"31000000000", "31000000001", "31000000002"}


@pytest.mark.parametrize(
    "case",
    [
        "a number among text ids",
        "a text date among date cells",
        "n/a among date cells",
        "NULL among number barcodes",
        "a hidden row",
        "a cell right of the header",
    ],
)
def test_sheets_the_column_reader_cannot_vouch_for_go_cell_by_cell(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "l.xlsx"
    if case == "a number among text ids":
        loans_workbook(path, cell={(7, 1): 991234567890123.0})
    elif case == "a text date among date cells":
        loans_workbook(path, cell={(7, 4): "9/3/2025"})
    elif case == "n/a among date cells":  # fastexcel reads pandas' NA strings in a typed column as blank
        loans_workbook(path, cell={(7, 6): "n/a"})
    elif case == "NULL among number barcodes":
        loans_workbook(path, cell={**{(i, 3): float(31000000000 + i % 3) for i in range(40)}, (7, 3): "NULL"})
    elif case == "a hidden row":
        loans_workbook(path, hidden=4)
    else:
        loans_workbook(path)
        book = openpyxl.load_workbook(path)
        book.active.cell(10, len(HEADER) + 2, "a note")
        book.save(path)
    same_both_ways(path, monkeypatch, by_columns=False)


def test_a_wrong_guess_of_the_header_row_costs_a_second_load_not_a_wrong_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A title row as full of text as the header is guessed first; find_table says row 3, and the load is
    made again below it."""
    path = loans_workbook(tmp_path / "l.xlsx")
    book = openpyxl.load_workbook(path)
    for column in range(1, len(HEADER) + 1):
        book.active.cell(1, column, f"Part {column} of the title")
    book.save(path)
    monkeypatch.setattr(xlsx_columns, "LARGE_SHEET_BYTES", 0)
    sheet = open_large_sheet(path)
    assert sheet is not None and likely_header_row(sheet.head) == 1
    assert loans_module._read_large_workbook(sheet, LOAN_COLUMNS) is not None
    assert sheet.started == [1, 3]
    same_both_ways(path, monkeypatch, by_columns=True)


def test_a_header_cell_read_otherwise_by_the_two_readers_hands_the_sheet_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The names fastexcel reads from the header row are checked against the XML's header cells."""
    path = loans_workbook(tmp_path / "l.xlsx")
    monkeypatch.setattr(xlsx_columns, "LARGE_SHEET_BYTES", 0)
    sheet = open_large_sheet(path)
    assert sheet is not None
    assert read_columns(sheet, 3) is not None
    sheet.head[2][1] = "MMS Id (as this reader saw it)"
    assert read_columns(sheet, 3) is None


def test_date_time_cells_and_excel_time_cells_read_the_same_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One combined date-time column of date cells with times, and Excel time cells (h:mm:ss)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Title", "MMS Id", "Permanent Call Number", "Barcode", "Loan Date", "Return Date",
                  "Return Time"])  # fmt: skip
    for i in range(30):
        start = DAY + dt.timedelta(hours=5 * i, minutes=7)
        sheet.append(
            ["T", MMS, "QA1", f"B{i % 2}", start, start.date(), (start + dt.timedelta(hours=1)).time()]
        )
        sheet.cell(i + 2, 5).number_format = "m/d/yyyy h:mm"
        sheet.cell(i + 2, 6).number_format = "m/d/yyyy"
        sheet.cell(i + 2, 7).number_format = "h:mm:ss"
    book.save(tmp_path / "l.xlsx")
    fast = same_both_ways(tmp_path / "l.xlsx", monkeypatch, by_columns=True)
    assert fast.loans["start"].iloc[1] == pd.Timestamp("2025-09-01 05:07")


def test_a_workbook_in_the_1904_date_system_reads_the_same_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Mac workbook counts its date cells from 1904: read as 1900 dates they would be four years off."""
    from openpyxl.utils.datetime import CALENDAR_MAC_1904

    path = loans_workbook(tmp_path / "l.xlsx")
    book = openpyxl.load_workbook(path)
    book.epoch = CALENDAR_MAC_1904
    book.save(path)
    fast = same_both_ways(path, monkeypatch, by_columns=True)
    assert fast.loans["start"].min() == pd.Timestamp("2025-09-01")


def _zip(parts: dict[str, str]) -> zipfile.ZipFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return zipfile.ZipFile(io.BytesIO(buffer.getvalue()))


MAIN = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def test_the_head_of_a_sheet_is_read_from_its_xml_as_the_header_search_needs_it() -> None:
    """Shared strings (plain, rich runs, phonetic guides left out), inline strings, cells without r=,
    booleans, numbers, errors; rows after the head are not read."""
    archive = _zip({
        "[Content_Types].xml": "<Types/>",
        "_rels/.rels": f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                       f'<Relationship Id="r" Type="{RELS}/officeDocument" Target="xl/workbook.xml"/>'
                       "</Relationships>",
        "xl/workbook.xml": f'<workbook {MAIN} xmlns:r="{RELS}"><sheets><sheet name="Loans" sheetId="1" '
                           'r:id="s1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                                      f'relationships"><Relationship Id="s1" Type="{RELS}/worksheet" '
                                      'Target="worksheets/sheet1.xml"/><Relationship Id="ss" '
                                      f'Type="{RELS}/sharedStrings" Target="sharedStrings.xml"/>'
                                      "</Relationships>",
        "xl/sharedStrings.xml": f'<sst {MAIN}><si><t>MMS Id</t></si><si><r><t>Bar</t></r><r><rPr/><t>code</t>'
                                "</r><rPh><t>ignored</t></rPh></si><si><t>never needed</t></si></sst>",
        "xl/worksheets/sheet1.xml": f'<worksheet {MAIN}><sheetData>'
                                    '<row r="2"><c r="B2" t="s"><v>0</v></c><c t="s"><v>1</v></c>'
                                    '<c r="E2" t="inlineStr"><is><t>Loan Date</t></is></c></row>'
                                    '<row r="3"><c r="A3" t="b"><v>1</v></c><c r="B3"><v>45901.5</v></c>'
                                    '<c r="C3" t="e"><v>#N/A</v></c></row>'
                                    '<row r="9"><c r="A9" t="s"><v>2</v></c></row>'
                                    "</sheetData></worksheet>",
    })  # fmt: skip
    sheets, active = workbook_sheets(archive)
    head = sheet_head(archive, choose_sheet("t.xlsx", sheets, active, None), rows=5)
    assert head == [
        [None, None, None, None, None],
        [None, "MMS Id", "Barcode", None, "Loan Date"],
        [True, 45901.5, "#N/A", None, None],
    ]
    assert likely_header_row(head) == 2


def test_rich_text_header_cells_are_read_alike_by_both_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = loans_workbook(tmp_path / "l.xlsx")
    book = openpyxl.load_workbook(path, rich_text=True)
    book.active.cell(3, 2).value = CellRichText(TextBlock(InlineFont(b=True), "MMS"), " Id")
    book.save(path)
    same_both_ways(path, monkeypatch, by_columns=True)


def test_the_command_reads_a_large_workbook_by_columns_with_the_cell_by_cell_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the real threshold (25,000 loans, 8 MB of sheet XML): the command's CSV and problems are, byte
    for byte, what the cell-by-cell reader's loans give."""
    import xlsxwriter

    from alma_tools.concurrency import compute, write_csv

    path = tmp_path / "big.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Loans")
    dates = book.add_format({"num_format": "m/d/yyyy"})
    sheet.write_string(0, 0, "Loans")
    sheet.write_row(2, 0, HEADER)
    for i in range(25_000):
        start = DAY + dt.timedelta(minutes=17 * i)
        back = start + dt.timedelta(minutes=50)
        row = 3 + i
        sheet.write_row(
            row, 0, [f"Title {i % 700}", f"99{i % 700:014d}3681", f"QA{i % 700}", f"3{i % 2100:012d}"]
        )
        sheet.write_datetime(row, 4, dt.datetime.combine(start.date(), dt.time()), dates)
        sheet.write_string(row, 5, f"{start:%H:%M:%S}")
        sheet.write_datetime(row, 6, dt.datetime.combine(back.date(), dt.time()), dates)
        sheet.write_string(row, 7, f"{back:%H:%M:%S}" if i != 77 else "25:00:00")
    book.close()
    sheet = open_large_sheet(path)  # the real threshold
    assert sheet is not None and loans_module._read_large_workbook(sheet, LOAN_COLUMNS) is not None
    as_of = "2026-06-30 23:59"
    run = subprocess.run(
        [sys.executable, "-m", "alma_tools", "concurrency", str(path), "--csv", str(tmp_path / "s.csv"),
         "--as-of", as_of],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    monkeypatch.setattr(xlsx_columns, "LARGE_SHEET_BYTES", 10**12)
    slow = read_loans(path)
    assert slow.problems["Row"].tolist() == [81]  # the 78th loan, in sheet row 81
    write_csv(compute(slow, as_of=dt.datetime.fromisoformat(as_of)), tmp_path / "slow.csv")
    assert (tmp_path / "s.csv").read_bytes() == (tmp_path / "slow.csv").read_bytes()
    problems = pd.read_csv(tmp_path / "s.problems.csv", dtype=str)
    assert problems["Row"].tolist() == ["81"]
