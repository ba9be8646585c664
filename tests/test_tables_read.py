"""Reading files as staff really save them (issue 11): encodings, files named for what they are not,
quotes that never close, records longer than the header, pasted exports, totals rows, invisible characters.

Each file is in tests/data/bad_input (made by make_corpus.py, listed in CASES.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alma_tools import tables
from alma_tools.tables import ITEM_COLUMNS, find_table, read_grid, sniff_csv

BAD = Path(__file__).parent / "data" / "bad_input"
ACCENTED = ["Les Misérables", "Über die Freiheit", "Señor Müller und die Brücke"]


def items(path: Path | str, **kwargs: object) -> tables.Table:
    return find_table(read_grid(path, **kwargs), ITEM_COLUMNS)


# --- encodings: read right, and recorded so the file can be written back the same way --------------------

ENCODINGS = {
    "utf16le_no_bom.txt": ("utf-16-le", b"", "\t", "\r\n"),
    "utf16be_bom.txt": ("utf-16-be", b"\xfe\xff", "\t", "\r\n"),
    "utf16be_no_bom.txt": ("utf-16-be", b"", "\t", "\r\n"),
    "unicode_text_utf16.txt": ("utf-16-le", b"\xff\xfe", "\t", "\r\n"),
    "mac_roman.csv": ("mac_roman", b"", ",", "\r"),
    "dos_cp850.csv": ("cp850", b"", ",", "\r\n"),
    "windows_cp1252.csv": ("cp1252", b"", ",", "\r\n"),
    "utf8_bom_lf.csv": ("utf-8", b"\xef\xbb\xbf", ",", "\n"),
    "semicolon.csv": ("utf-8", b"", ";", "\r\n"),
}


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_encoding_is_detected_and_recorded(name: str) -> None:
    encoding, bom, delimiter, line_ending = ENCODINGS[name]
    text, dialect = sniff_csv(BAD / name)
    assert (dialect.encoding, dialect.bom, dialect.delimiter, dialect.line_ending) == (
        encoding,
        bom,
        delimiter,
        line_ending,
    )
    assert dialect.lossless
    assert dialect.encode(text) == (BAD / name).read_bytes()  # the writer can give the same bytes back
    table = items(BAD / name)
    assert table.dialect == dialect and table.kind == "csv"
    assert table.text("mms_id").iloc[0] == "993546848745263681"
    if name not in ("semicolon.csv",):
        expected = ACCENTED if name not in ("windows_cp1252.csv", "unicode_text_utf16.txt") else ACCENTED[:2]
        assert table.text("title").tolist()[: len(expected)] == expected


def test_record_byte_starts_in_utf16() -> None:
    raw = (BAD / "utf16be_bom.txt").read_bytes()
    text, dialect = sniff_csv(BAD / "utf16be_bom.txt")
    starts = dialect.byte_starts(text)
    assert starts[0] == 2  # after the BOM
    assert raw[starts[1] :].decode("utf-16-be").startswith(ACCENTED[0])


def test_workbook_with_a_csv_name_is_read_as_a_workbook() -> None:
    table = items(BAD / "workbook_named.csv")
    assert table.kind == "xlsx" and table.dialect is None and table.sheet == "Items"
    assert table.text("title").tolist() == ACCENTED
    assert any("is an Excel workbook with a .csv name; it was read as a workbook" in n for n in table.notes)


def test_undefined_cp1252_bytes_are_not_read_as_cp1252(tmp_path: Path) -> None:
    """0x81 is undefined in cp1252: a file holding it is another code page (here cp850's ü)."""
    path = tmp_path / "dos.csv"
    path.write_bytes("Barcode,Title\r\n1,Müller\r\n".encode("cp850"))
    text, dialect = sniff_csv(path)
    assert dialect.encoding == "cp850" and "Müller" in text
