"""``alma-tools discharge`` on files as staff save them: afterwards each file is the original plus the two
columns (bytes for CSV; every zip part and cell for a workbook), or the output says where the results went.

Each case runs the command line in this process against the simulator (real sockets), then checks the file
with tools of its own (the csv module, zipfile, openpyxl), not with the product's reader or writer.
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from alma_tools.cli import main
from fixtures_simulator import TEST_KEY

CORPUS = Path(__file__).parent / "data" / "bad_input"
LOCATIONS = Path(__file__).parent / "data" / "locations.csv"
TRACEBACK = "Traceback (most recent call last)"
#: the sample header the corpus files use: the results go right after its seven columns
WIDTH = 7


def discharge(path: Path, sim: Any, capsys: pytest.CaptureFixture[str], monkeypatch: Any) -> tuple[int, str]:
    """Run ``alma-tools discharge`` on ``path``; the exit code and everything it printed."""
    monkeypatch.setenv("ALMA_API_KEY", TEST_KEY)
    code = main(["discharge", str(path), "--locations", str(LOCATIONS), "--base-url", sim.base_url])
    out = capsys.readouterr()
    printed = out.out + out.err
    assert TRACEBACK not in printed
    return code, printed


def split_records(text: str, line_end: str) -> list[str]:
    """The file's lines (no cell in these files spans lines), the last one empty after a final line end."""
    return text.split(line_end)


def needs_quotes(value: str, delimiter: str) -> bool:
    return any(ch in value for ch in (delimiter, '"', "\r", "\n"))


def cell(value: str, delimiter: str) -> str:
    return '"' + value.replace('"', '""') + '"' if needs_quotes(value, delimiter) else value


def expected_text(original: str, written: str, delimiter: str, line_end: str) -> str:
    """The original text with ``done`` and ``status`` inserted after the header's last column of every line
    that has data, the values taken from what was written (parsed with the csv module)."""
    results = list(csv.reader(io.StringIO(written, newline=""), delimiter=delimiter))
    lines = split_records(original, line_end)
    out = []
    for number, line in enumerate(lines):
        if not line:
            out.append(line)
            continue
        new = results[number][WIDTH : WIDTH + 2]
        assert len(new) == 2, f"line {number + 1} has no done/status: {results[number]}"
        cells = line.split(delimiter)  # the corpus's cells hold no delimiter
        parts = cells[:WIDTH] + [cell(v, delimiter) for v in new] + cells[WIDTH:]
        out.append(delimiter.join(parts))
    return line_end.join(out)


#: file, its encoding, BOM, delimiter, line end (as the corpus maker wrote them)
CSV_CASES = [
    ("utf16le_no_bom.txt", "utf-16-le", b"", "\t", "\r\n"),
    ("utf16be_bom.txt", "utf-16-be", codecs.BOM_UTF16_BE, "\t", "\r\n"),
    ("utf16be_no_bom.txt", "utf-16-be", b"", "\t", "\r\n"),
    ("mac_roman.csv", "mac_roman", b"", ",", "\r"),
    ("dos_cp850.csv", "cp850", b"", ",", "\r\n"),
    ("utf8_bom_lf.csv", "utf-8", codecs.BOM_UTF8, ",", "\n"),
    ("writeback_overlong_record.csv", "utf-8", b"", ",", "\r\n"),
]


@pytest.mark.parametrize(("name", "encoding", "bom", "delimiter", "line_end"), CSV_CASES)
def test_csv_afterwards_is_the_original_plus_two_columns_or_the_output_names_where_they_went(
    simulator: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
    name: str,
    encoding: str,
    bom: bytes,
    delimiter: str,
    line_end: str,
) -> None:
    path = tmp_path / name
    shutil.copy(CORPUS / name, path)
    raw = path.read_bytes()
    assert raw.startswith(bom)
    original = raw[len(bom) :].decode(encoding)
    sim = simulator()
    code, printed = discharge(path, sim, capsys, monkeypatch)
    assert sum(sim.stats()["scans"].values()) >= 3, printed
    beside = path.with_name(f"{path.stem}.results.csv")
    if beside.exists():
        # allowed only when a status really cannot be written in the file's encoding, and said so
        assert path.read_bytes() == raw, "the file must stay as it was when the results went beside it"
        assert f"The results (done, status) are in {beside.name}" in printed
        written = beside.read_bytes()
        assert written.startswith(codecs.BOM_UTF8)
        text = written[3:].decode("utf-8")
        statuses = [
            r[WIDTH + 1] for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter) if r
        ][1:]
        assert any(not _encodable(s, encoding) for s in statuses)
        assert text == expected_text(original, text, delimiter, line_end)
        return
    assert code in (0, 1), printed
    assert f"Results (done, status) are in {path}" in printed
    written = path.read_bytes()
    assert written.startswith(bom) and (
        bom or not written.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"))
    )
    text = written[len(bom) :].decode(encoding)  # strict: the file is still in its own encoding
    assert written == bom + expected_text(original, text, delimiter, line_end).encode(encoding)
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert records[0][WIDTH : WIDTH + 2] == ["done", "status"]
    assert all(r[WIDTH + 1] for r in records[1:] if r), "every data row has a status"


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def test_a_workbook_saved_as_csv_is_written_as_the_workbook_it_is(
    simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    path = tmp_path / "workbook_named.csv"
    shutil.copy(CORPUS / path.name, path)
    before = path.read_bytes()
    code, printed = discharge(path, simulator(), capsys, monkeypatch)
    assert code == 0, printed
    assert_only_sheet_changed(before, path.read_bytes(), "xl/worksheets/sheet1.xml")
    assert_cells_equal_but_results(before, path, "Items", rows=3)


def assert_only_sheet_changed(before: bytes, after: bytes, sheet_member: str) -> None:
    """Every zip member the same (name, order, content) except the one worksheet part."""
    old, new = zipfile.ZipFile(io.BytesIO(before)), zipfile.ZipFile(io.BytesIO(after))
    assert new.testzip() is None
    assert [i.filename for i in old.infolist()] == [i.filename for i in new.infolist()]
    changed = [n for n in old.namelist() if old.read(n) != new.read(n)]
    assert changed == [sheet_member]
    old_xml, new_xml = old.read(sheet_member).decode(), new.read(sheet_member).decode()
    # everything after the cells (filters, validation, hyperlinks, drawing, comments, table parts) as it was
    assert old_xml.split("</sheetData>")[1] == new_xml.split("</sheetData>")[1]


def assert_cells_equal_but_results(before: bytes, path: Path, sheet_name: str, rows: int) -> None:
    """Every cell of every sheet equal (formulas and their saved values), but ``done``/``status``."""
    for data_only in (False, True):
        old = openpyxl.load_workbook(io.BytesIO(before), data_only=data_only)
        new = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), data_only=data_only)
        assert old.sheetnames == new.sheetnames
        for name in old.sheetnames:
            old_sheet, new_sheet = old[name], new[name]
            width = old_sheet.max_column
            if name == sheet_name:
                header = [c.value for c in new_sheet[1]]
                assert header[width : width + 2] == ["done", "status"]
                assert new_sheet.max_column == width + 2
                statuses = [new_sheet.cell(r, width + 2).value for r in range(2, rows + 2)]
                assert all(isinstance(s, str) and s for s in statuses), statuses
            for row in old_sheet.iter_rows(min_row=1, max_row=old_sheet.max_row, max_col=width):
                for old_cell in row:
                    assert new_sheet[old_cell.coordinate].value == old_cell.value, (name, old_cell.coordinate)


def test_rich_workbook_keeps_picture_formulas_table_validation_comment_and_filter(
    simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    path = tmp_path / "writeback_rich.xlsx"
    shutil.copy(CORPUS / path.name, path)
    before = path.read_bytes()
    sim = simulator()
    code, printed = discharge(path, sim, capsys, monkeypatch)
    assert code == 0, printed
    after = path.read_bytes()
    assert_only_sheet_changed(before, after, "xl/worksheets/sheet1.xml")
    assert_cells_equal_but_results(before, path, "Items", rows=6)
    members = zipfile.ZipFile(io.BytesIO(after)).namelist()
    assert any(m.startswith("xl/media/") for m in members) and "xl/tables/table1.xml" in members
    book = openpyxl.load_workbook(path, data_only=True)
    sheet = book["Items"]
    assert [sheet.cell(8, c).value for c in (1, 5)] == ["Total", 6]  # the total row's SUBTOTAL and its value
    assert sheet.cell(8, 9).value is None  # a row the reader set aside gets no status
    assert str(openpyxl.load_workbook(path)["Items"]["E2"].value).startswith("=HYPERLINK(")
    scans = sum(sim.stats()["scans"].values())
    assert scans == 6
    # the next run reads the ids from the formulas' saved values again: every row done, nothing sent
    code, printed = discharge(path, sim, capsys, monkeypatch)
    assert code == 0, printed
    assert sum(sim.stats()["scans"].values()) == scans


def test_a_workbook_open_in_excel_is_refused_before_any_call(
    simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    path = tmp_path / "writeback_rich.xlsx"
    shutil.copy(CORPUS / path.name, path)
    (tmp_path / "~$writeback_rich.xlsx").write_bytes(b"Excel's owner file")
    before = path.read_bytes()
    sim = simulator()
    code, printed = discharge(path, sim, capsys, monkeypatch)
    assert code == 2
    assert "writeback_rich.xlsx is open in Excel" in printed and "close it in Excel first" in printed
    assert sim.stats()["requests"] == 0
    assert path.read_bytes() == before


def test_a_status_from_alma_the_code_page_cannot_hold_goes_beside_the_file(
    simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    """The file is Windows cp1252 (Excel's "CSV (Comma delimited)"); Alma names the item's home library
    "Łódź", which cp1252 cannot write: every result goes to items.results.csv, the file stays as it was."""
    sample = (Path(__file__).parent / "data" / "items_to_discharge.csv").read_text("utf-8-sig").splitlines()
    header, first, second, third = sample[0], sample[1], sample[2], sample[3]
    rows = [header, first.replace("Introduction to algorithms", "Les Misérables"), second, third]
    path = tmp_path / "items.csv"
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))
    raw = path.read_bytes()
    known = [line.split(",") for line in sample[1:4]]
    known[1][5] = "ŁÓDŹ"  # the simulator's copy of the second item belongs to that library
    frame = pd.DataFrame(known, columns=header.split(","), dtype=object)
    sim = simulator(items=frame)
    code, printed = discharge(path, sim, capsys, monkeypatch)
    assert code == 0, printed
    assert "The results (done, status) are in items.results.csv" in printed and "has no 'Ł'" in printed
    assert path.read_bytes() == raw
    text = (tmp_path / "items.results.csv").read_bytes().decode("utf-8-sig")
    width = len(header.split(","))
    records = list(csv.reader(io.StringIO(text, newline="")))
    assert [r[:width] for r in records] == [line.split(",") for line in (rows[0], *rows[1:])]
    assert records[0][width:] == ["done", "status"]
    assert records[2][width:] == ["TRUE", "Returned; in transit to Łódź Library — set aside"]
