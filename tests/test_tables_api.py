"""The reader's contract for the other parts: CsvDialect and sniff_csv, the sheet read, hidden rows,
row problems, rows set aside, and which record each table row came from (ARCHITECTURE.md, Tables)."""

from __future__ import annotations

import csv
import datetime as dt
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest

from alma_tools import tables
from alma_tools.errors import InputError
from alma_tools.tables import ITEM_COLUMNS, CsvDialect, find_table, read_grid, sniff_csv

BAD = Path(__file__).parent / "data" / "bad_input"


def items(path: Path | str, **kwargs: object) -> tables.Table:
    return find_table(read_grid(path, **kwargs), ITEM_COLUMNS)


def test_dialect_of_a_utf8_bom_crlf_file(data_dir: Path) -> None:
    path = data_dir / "items_to_discharge.csv"
    text, dialect = sniff_csv(path)
    raw = path.read_bytes()
    assert isinstance(dialect, CsvDialect)
    assert dialect.encoding == "utf-8" and dialect.bom == b"\xef\xbb\xbf"
    assert dialect.delimiter == "," and dialect.quotechar == '"'
    assert dialect.line_ending == ("\r\n" if b"\r\n" in raw else "\n")
    assert dialect.lossless and dialect.final_newline == raw.endswith(b"\n")
    assert dialect.encode(text) == raw  # the text and the dialect give the file back, byte for byte
    assert dialect.record_starts[0] == 0 and dialect.record_lines[:3] == (1, 2, 3)
    table = items(path)
    assert table.kind == "csv" and table.dialect == dialect and table.sheet is None
    # each table row knows its record: the record's text starts with the row's first cell
    second = int(table.records.iloc[1])
    assert text[dialect.record_starts[second] :].startswith(table.frame["title"].iloc[1].split(",")[0][:10])
    assert dialect.byte_starts(text)[second] == raw.index(text[dialect.record_starts[second] :][:40].encode())


def test_record_starts_with_a_quoted_line_break() -> None:
    text, dialect = sniff_csv(BAD / "multiline_title.csv")
    assert dialect.record_lines == (1, 2, 4, 5)
    assert text[dialect.record_starts[1] :].startswith('"Introduction to algorithms\nThird edition"')
    assert text[dialect.record_starts[2] :].startswith("Molecular biology")
    table = items(BAD / "multiline_title.csv")
    assert table.records.tolist() == [1, 2, 3] and table.header_record == 0


def test_quote_all_and_semicolon_dialects(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerows([["Barcode", "Title"], ["0447203478", "A"], ["303011kj0", "B"]])
    _, dialect = sniff_csv(path)
    assert (dialect.delimiter, dialect.quoting, dialect.line_ending) == (";", csv.QUOTE_ALL, "\n")
    assert dialect.bom == b"" and dialect.encoding == "utf-8"
    _, minimal = sniff_csv(BAD / "semicolon.csv")
    assert minimal.quoting == csv.QUOTE_MINIMAL and minimal.delimiter == ";"


def test_sniff_csv_refuses_a_workbook() -> None:
    with pytest.raises(InputError, match="is an Excel workbook, not CSV text"):
        sniff_csv(BAD / "hidden_rows.xlsx")


def test_hidden_rows_of_a_workbook_and_of_sheet_values() -> None:
    table = items(BAD / "hidden_rows.xlsx")
    assert table.rows.tolist() == [2, 3, 4, 5, 6]  # hidden rows are data; the plan decides
    assert table.hidden.tolist() == [False, True, True, False, False]
    assert table.hidden.index.equals(table.frame.index)
    assert table.kind == "xlsx" and table.sheet == "Sheet" and table.dialect is None
    assert table.records.tolist() == [1, 2, 3, 4, 5]  # sheet row - 1
    values = [["Barcode"], ["1"], ["2"], ["3"]]
    sheet = find_table(read_grid(values, first_row=3, hidden_rows={5}, sheet="Items"), ITEM_COLUMNS)
    assert sheet.rows.tolist() == [4, 5, 6] and sheet.hidden.tolist() == [False, True, False]
    assert sheet.sheet == "Items" and sheet.kind == "values"
    assert not items(BAD / "semicolon.csv").hidden.any()


def test_row_problems_and_set_aside_have_the_frame_index() -> None:
    table = items(BAD / "footer_and_blank_rows.csv")
    assert table.row_problems.index.equals(table.frame.index)
    assert (table.row_problems == "").all()
    assert [row for row, _ in table.set_aside] == [7, 8]
    assert "Applied filters" in table.set_aside[0][1]


def _workbook(path: Path, sheets: list[tuple[str, str]], active: int) -> None:
    """Sheets (name, state), each holding a one-column barcode table whose value names the sheet.

    openpyxl refuses to save a hidden active sheet (and a book with no visible sheet), which Excel files
    do hold: workbook.xml's activeTab and states are written here after the save.
    """
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, _ in sheets:
        sheet = workbook.create_sheet(name)
        sheet.append(["Barcode"])
        sheet.append([f"from {name}"])
    workbook.save(path)
    with zipfile.ZipFile(path) as source:
        members = {info.filename: source.read(info.filename) for info in source.infolist()}
    xml = members["xl/workbook.xml"].decode()
    xml = re.sub(r'activeTab="\d+"', f'activeTab="{active}"', xml)
    for name, state in sheets:
        xml = re.sub(f'(name="{name}" sheetId="\\d+") state="visible"', f'\\1 state="{state}"', xml)
    members["xl/workbook.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w") as target:
        for member, content in members.items():
            target.writestr(member, content)


def test_sheet_choice(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    _workbook(path, [("Old", "hidden"), ("Notes", "visible"), ("Items", "visible")], active=2)
    assert items(path).text("barcode").tolist() == ["from Items"]  # the active sheet
    assert items(path).sheet == "Items"
    assert items(path, sheet="Old").text("barcode").tolist() == ["from Old"]  # hidden, but named
    unknown = r"has no sheet named 'Nope'\. Its sheets are: Old \(hidden\), Notes, Items\."
    with pytest.raises(InputError, match=unknown):
        read_grid(path, sheet="Nope")
    _workbook(path, [("Notes", "visible"), ("Old", "hidden"), ("Items", "visible")], active=1)
    assert items(path).sheet == "Notes"  # the active sheet is hidden: the first visible one
    _workbook(path, [("Old", "hidden"), ("Older", "veryHidden")], active=0)
    with pytest.raises(InputError, match=r"no visible worksheet to read .*Old \(hidden\), Older \(hidden\)"):
        read_grid(path)


@pytest.mark.parametrize("missing", ["_rels/.rels", "xl/_rels/workbook.xml.rels"])
def test_workbook_without_its_relationships_is_a_damaged_workbook(tmp_path: Path, missing: str) -> None:
    path = tmp_path / "norels.xlsx"
    with zipfile.ZipFile(BAD / "hidden_rows.xlsx") as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            if info.filename != missing:
                target.writestr(info, source.read(info.filename))
    with pytest.raises(InputError, match=r"norels\.xlsx is not a readable Excel workbook"):
        read_grid(path)


def test_sheet_part_that_fails_its_checksum_is_a_damaged_workbook(tmp_path: Path) -> None:
    """The sheet XML is read on a second thread while calamine parses: its damage is said as any other."""
    path = tmp_path / "badcrc.xlsx"
    with zipfile.ZipFile(BAD / "hidden_rows.xlsx") as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():  # stored: one byte of the XML can be changed in place
            target.writestr(zipfile.ZipInfo(info.filename, info.date_time), source.read(info.filename))
    raw = bytearray(path.read_bytes())
    at = raw.index(b"<sheetData")
    raw[at + 1 : at + 2] = b"S"  # <SheetData: still one byte, the checksum no longer fits
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"badcrc\.xlsx is not a readable Excel workbook"):
        read_grid(path)


def test_a_column_mixing_booleans_numbers_and_dates_keeps_each_cells_type(tmp_path: Path) -> None:
    """Date cells become datetimes at midnight; True stays a boolean beside the number 1 (they hash alike)."""
    path = tmp_path / "mixed.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    cells = [
        True,
        1,
        dt.date(2026, 1, 5),
        dt.datetime(2026, 1, 6, 10, 30),
        "text",
        False,
        0,
        dt.date(2026, 1, 5),
    ]
    sheet.append(["Barcode", "Value"])
    for index, value in enumerate(cells):
        sheet.append([f"B{index}", value])
    book.save(path)
    column = read_grid(path).values[1].tolist()[1:]
    assert [type(v) for v in column[:6]] == [bool, type(column[1]), dt.datetime, dt.datetime, str, bool]
    assert isinstance(column[1], int | float) and type(column[6]) is type(column[1])
    assert column[:2] == [True, 1] and column[1] is not True and column[6] == 0 and column[6] is not False
    assert column[2] == column[7] == dt.datetime(2026, 1, 5) and column[3] == dt.datetime(2026, 1, 6, 10, 30)


@pytest.mark.parametrize("token", [b'hidden="1"', b"<mergeCell", b"<f>", b't="e"'])
def test_a_mark_cut_between_two_pieces_of_the_sheet_xml_is_found(tmp_path: Path, token: bytes) -> None:
    """The sheet XML is searched a megabyte at a time: a token across the boundary still counts."""
    from alma_tools.tables.xlsx_parts import has_special_tokens

    path = tmp_path / "cut.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("sheet.xml", b"x" * ((1 << 20) - 3) + token + b"x" * 100)
        archive.writestr("plain.xml", b"x" * ((1 << 20) * 2 + 5))
    with zipfile.ZipFile(path) as archive:
        assert has_special_tokens(archive, "sheet.xml")
        assert not has_special_tokens(archive, "plain.xml")
