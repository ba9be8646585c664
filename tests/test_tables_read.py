"""Reading files as staff really save them (issue 11): encodings, files named for what they are not,
quotes that never close, records longer than the header, pasted exports, totals rows, invisible characters.

Each file is in tests/data/bad_input (made by make_corpus.py, listed in CASES.md).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import time
from pathlib import Path

import openpyxl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from alma_tools import tables
from alma_tools.errors import InputError
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


# --- structure: quotes, extra cells, pasted exports, totals ------------------------------------------


@pytest.mark.parametrize("name", ["unclosed_quote.csv", "unclosed_quote_closed_later.csv"])
def test_a_quote_that_never_closes_is_refused_naming_its_line(name: str) -> None:
    with pytest.raises(InputError) as caught:
        items(BAD / name)
    message = str(caught.value)
    assert message.startswith(
        f'{name}: Line 4 opens a quote that never closes: "Molecular biology of the cell,'
    )
    assert "add the closing quote" in message
    with pytest.raises(InputError, match="Line 4 opens a quote that never closes"):
        sniff_csv(BAD / name)  # the fast paths refuse it too


def test_a_real_multiline_title_is_not_a_broken_quote() -> None:
    assert items(BAD / "multiline_title.csv").rows.tolist() == [2, 4, 5]


def test_a_record_longer_than_the_header_is_kept_whole_and_refused() -> None:
    table = items(BAD / "extra_cell.csv")
    assert table.rows.tolist() == [2, 3, 4]
    problems = table.row_problems.tolist()
    assert problems[0] == problems[2] == ""
    assert problems[1].startswith("has one cell more than the header (column H: 'k00040'): probably a comma")
    assert "the row is not sent" in problems[1]
    shifted = table.frame.loc[table.rows == 3].iloc[0]
    assert shifted["title"] == "Molecular biology" and shifted["column H"] == "k00040"  # every cell kept


def test_a_value_right_of_a_sheets_header_is_refused() -> None:
    values = [["Barcode", "Title"], ["0447203478", "A", "note"], ["303011kj0", "B"]]
    table = find_table(read_grid(values, name="Items"), ITEM_COLUMNS)
    assert table.row_problems.tolist()[1] == ""
    assert table.row_problems.tolist()[0].startswith(
        "has a value right of the header's last column (C2: 'note')"
    )


def test_two_exports_pasted_are_one_table() -> None:
    table = items(BAD / "two_exports_pasted.csv")
    assert table.rows.tolist() == [2, 3, 4, 10, 11]
    assert table.text("mms_id").iloc[3] == "99879507668053681"
    assert table.set_aside == [
        (5, "footer ('Applied filters: Library is equal to SCI')"),
        (6, "totals ('Row count: 3')"),
        (8, "between two exports ('Items on loan - MAIN')"),
        (9, "repeats the header"),
        (12, "totals ('Row count: 2')"),
    ]
    assert "Row(s) 9 repeat the header and were ignored." in table.notes
    assert (
        "Row 8 ('Items on loan - MAIN') between two exports (a footer or title) was ignored." in table.notes
    )


def test_a_second_header_in_another_order_is_refused() -> None:
    with pytest.raises(
        InputError, match=r"row 4 is a second header with its columns in another order \('Barcode', 'Title'"
    ):
        items(BAD / "two_exports_other_order.csv")


def test_totals_rows_in_german_are_set_aside_wherever_they_are() -> None:
    table = items(BAD / "totals_rows_german.csv")
    assert table.rows.tolist() == [2, 3, 5, 7, 9]
    assert [row for row, _ in table.set_aside] == [4, 6, 8, 10, 11, 12, 13]
    assert table.set_aside[0] == (4, "totals ('1030300 Ergebnis')")
    assert table.set_aside[-3:] == [
        (11, "totals ('Gesamtergebnis')"),
        (12, "totals ('Anzahl: 5')"),
        (13, "totals ('Summe')"),
    ]
    assert "Row 13 ('Summe') is a totals row and was ignored." in table.notes


@pytest.mark.parametrize(
    "row",
    [
        ["Total", "", "4"],
        ["", "Anzahl", "4"],
        ["Gesamt:", "4", ""],
        ["Totaal", "", ""],
        ["MAIN Total", "3", "3"],
    ],
)
def test_totals_shapes(row: list[str]) -> None:
    rows = [["Title", "Barcode", "Copies"], ["A", "0447203478", "1"], row, ["B", "303011kj0", "1"]]
    table = find_table(read_grid(rows), ITEM_COLUMNS)
    assert table.rows.tolist() == [2, 4] and [r for r, _ in table.set_aside] == [3]


def test_rows_that_only_look_like_totals_are_data() -> None:
    rows = [
        ["Title", "Barcode", "Copies"],
        ["Total Quality Management", "0447203478", "1"],  # a title starting with a totals word
        ["Total", "32095372176908", ""],  # a barcode is not a count
        ["Only a title", "", ""],  # inside the data: kept, the plan reports the missing barcode
        ["B", "303011kj0", "1"],
        ["", "", "", "MAIN"],  # at the end, no id and no count: data the plan reports, not a footer
    ]
    assert find_table(read_grid(rows), ITEM_COLUMNS).rows.tolist() == [2, 3, 4, 5, 6]
    counts = [["Title", "Barcode", "Copies"], ["A", "0447203478", "1"], ["", "", "12"]]
    assert find_table(read_grid(counts), ITEM_COLUMNS).set_aside == [(3, "totals ('12')")]


# --- headers: invisible characters, other languages, far down ----------------------------------------


def test_invisible_characters_in_headers_are_ignored() -> None:
    table = items(BAD / "invisible_header_chars.csv")
    assert list(table.frame.columns) == [
        "title", "barcode", "mms_id", "holding_id", "item_id", "library_code", "location_code"
    ]  # fmt: skip
    assert table.labels["location_code"] == "Location Code\u200b"  # as written, for the writer
    assert table.text("location_code").tolist()[0] == "sciper"


def test_an_invisible_character_we_do_not_ignore_is_shown() -> None:
    with pytest.raises(InputError) as caught:
        items(BAD / "invisible_unknown_char.csv")
    assert "but there is 'Item Id<U+2063>': rename column 'Item Id<U+2063>' to 'Item Id'" in str(caught.value)


def test_a_missing_column_names_the_columns_not_recognised() -> None:
    with pytest.raises(InputError) as caught:
        items(BAD / "german_headers.csv")
    message = str(caught.value)
    assert "no column 'Item Id': add it" in message
    assert message.endswith(
        "Columns seen and not recognised: 'Titel', 'Exemplar-ID', 'Bibliothek', 'Standortcode'."
    )


def test_header_below_row_40_is_found() -> None:
    table = items(BAD / "header_below_row_40.csv")
    assert table.header_row == 44 and table.rows.tolist() == [45, 46]


def test_visible_spells_out_what_nobody_sees() -> None:
    assert tables.visible("Location Code\u200b") == "Location Code<U+200B>"
    assert tables.visible("a\u00a0b\u00adc\u2060d\ufeff") == "a<U+00A0>b<U+00AD>c<U+2060>d<U+FEFF>"
    assert tables.visible("plain Ünïcode") == "plain Ünïcode"
    assert tables.visible("x" * 100, 10) == "x" * 9 + "…"


# --- the fast XLSX reader keeps every kind of cell --------------------------------------------------


def test_cell_types_from_a_workbook() -> None:
    grid = read_grid(BAD / "cell_types.xlsx")
    first, second = grid.values.iloc[1].tolist(), grid.values.iloc[2].tolist()
    assert first[7:] == [dt.datetime(2026, 1, 5, 14, 30), dt.time(23, 59), True, 2, 1.5]
    assert second[7:] == [dt.datetime(2026, 1, 6), dt.time(9, 0), False, 1, "#DIV/0!"]
    assert grid.formula_cells == frozenset({(2, 4)})  # E2: =HYPERLINK(url, id)
    table = find_table(grid, ITEM_COLUMNS)
    assert table.text("item_id").tolist()[0] == "230175722846423681"  # the formula's saved value
    assert table.was_formula("item_id").tolist() == [True, False]
    assert not table.was_formula("mms_id").any()
    assert table.was_number("Copies").tolist() == [True, True]
    assert not table.was_number("item_id").any()
    assert table.text("Loan Date").tolist() == ["2026-01-05 14:30:00", "2026-01-06"]
    assert table.positions["item_id"] == 4 and table.positions["Fine"] == 11


#: .xlsx files of the corpus that are not workbooks openpyxl can open
NOT_WORKBOOKS = ("password_protected.xlsx", "zip_not_workbook.xlsx", "really_csv.xlsx")


def _openpyxl_cells(path: Path) -> list[list[object]]:
    """The sheet as openpyxl reads it (the reader before calamine): the reference for every cell."""
    workbook = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), read_only=True, data_only=True)
    sheet = workbook.active
    sheet.reset_dimensions()
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    workbook.close()
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    return rows


@pytest.mark.parametrize(
    "path",
    [
        *sorted(p.name for p in BAD.glob("*.xlsx") if p.name not in NOT_WORKBOOKS),
        "workbook_named.csv",
        "../items_to_discharge.xlsx",
        "../loans_export.xlsx",
    ],
)
def test_calamine_reads_what_openpyxl_read(path: str) -> None:
    """Every cell of every workbook we have, as the old reader gave it (numbers equal as numbers)."""
    grid = read_grid(BAD / path)
    expected = _openpyxl_cells(BAD / path)
    width = grid.values.shape[1]
    assert len(grid.values) == len(expected)
    for row, reference in zip(grid.values.itertuples(index=False), expected, strict=True):
        assert list(row) == [*reference, *[None] * (width - len(reference))][:width]


# --- properties: whatever the text, a table or an InputError; well-quoted text reads back exactly -------

_WORDS = st.sampled_from(["Summe", "Total", "Row count: 3", "Barcode", "MMS Id", "", " ", '"', "a,b", "x\ny"])
_CELLS = st.one_of(_WORDS, st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8))


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.lists(_CELLS, min_size=1, max_size=5), min_size=1, max_size=12), header=st.booleans())
def test_any_csv_text_gives_a_table_or_an_input_error(rows: list[list[str]], header: bool) -> None:
    """Raw text, quotes unbalanced or not: never anything but a table or an InputError."""
    lines = ([",".join(["Barcode", "Title", "MMS Id"])] if header else []) + [",".join(r) for r in rows]
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"alma_tables_text_{os.getpid()}.csv"
    path.write_text("\r\n".join(lines), encoding="utf-8")
    try:
        table = items(path)
        assert table.row_problems.index.equals(table.frame.index)
    except InputError as error:
        assert str(error)
    finally:
        path.unlink()


#: a title with line breaks: any text, but fewer separators per line than a record has
_TITLE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from('\n",;'), max_size=20
)


@settings(max_examples=60, deadline=None)
@given(
    titles=st.lists(_TITLE.filter(lambda t: all(part.count(",") < 3 for part in t.split("\n"))), max_size=10)
)
@example(titles=[";\n;\n;0"])  # semicolons on every line of one title once made ';' the delimiter
def test_well_quoted_csv_reads_back_exactly(titles: list[str]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["Barcode", "Title", "Library Code", "Location Code"])
    writer.writerows([[f"B{i:05d}", title, "MAIN", "stacks"] for i, title in enumerate(titles)])
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"alma_tables_quoted_{os.getpid()}.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    try:
        if not titles:
            with pytest.raises(InputError, match="no data rows"):
                items(path)
            return
        table = items(path)
    finally:
        path.unlink()
    assert table.frame["barcode"].tolist() == [f"B{i:05d}" for i in range(len(titles))]
    assert table.frame["title"].tolist() == titles
    assert (table.row_problems == "").all() and table.set_aside == []


@pytest.mark.timing
def test_hundred_thousand_rows_of_xlsx_read_fast(tmp_path: Path, data_dir: Path) -> None:
    """python-calamine: 100,000 rows in about a second (openpyxl took about 20 s); the workbook is written
    with shared strings, as Excel saves it."""
    import xlsxwriter

    with (data_dir / "items_to_discharge.csv").open(encoding="utf-8-sig", newline="") as handle:
        header, *sample = list(csv.reader(handle))
    path = tmp_path / "big.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Items")
    sheet.write_row(0, 0, header)
    for row in range(1, 100_001):
        sheet.write_row(row, 0, sample[row % len(sample)])
    sheet.set_row(7, None, None, {"hidden": True})  # row 8 hidden
    book.close()
    started = time.perf_counter()
    table = items(path)
    mms = table.text("mms_id")
    elapsed = time.perf_counter() - started
    assert len(table.frame) == 100_000 and table.rows.iloc[-1] == 100_001
    assert mms.iloc[-1] == sample[100_000 % len(sample)][header.index("MMS Id")]
    assert table.rows[table.hidden].tolist() == [8]
    assert elapsed < 6, f"100,000 rows took {elapsed:.2f} s (about 1 s expected)"


@pytest.mark.parametrize(
    ("encoding", "title"),
    [
        ("cp1252", "“Hamlet” – a study"),  # Word's quotes and dash, no accented letter
        ("mac_roman", "“Hamlet” – a study"),
        ("cp1252", "Prix 12 € – Ça ira"),
        ("mac_roman", "Les Misérables – Über"),
        ("cp850", "Les Misérables – Über"[:15] + "Über"),  # cp850 has no dash
    ],
)
def test_single_byte_code_page_from_its_punctuation_and_letters(
    tmp_path: Path, encoding: str, title: str
) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(f"Barcode,Title\r\n0447203478,{title}\r\n".encode(encoding))
    text, dialect = sniff_csv(path)
    assert dialect.encoding == encoding and title in text
