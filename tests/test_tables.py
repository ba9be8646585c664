"""Reading tables: every sample export, the bad-input corpus, the edge cases of headers and footers.

Files come from tests/data (and its bad_input corpus, see CASES.md); nothing here reads ../shared.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alma_tools import tables
from alma_tools.errors import InputError
from alma_tools.tables import ITEM_COLUMNS, LOCATION_COLUMNS, Column, find_table, read_grid

BAD = Path(__file__).parent / "data" / "bad_input"


def items(path: Path | str, **kwargs: object) -> tables.Table:
    return find_table(read_grid(path, **kwargs), ITEM_COLUMNS)


# --- the sample exports --------------------------------------------------------------------------------


def test_items_csv_with_bom(data_dir: Path) -> None:
    table = items(data_dir / "items_to_discharge.csv")
    assert table.header_row == 1
    assert len(table.frame) == 300
    assert table.rows.tolist() == list(range(2, 302))
    assert table.labels["title"] == "Title"  # the BOM is not part of the first header
    first = table.frame.iloc[0]
    assert first["mms_id"] == "993546848745263681"
    assert first["holding_id"] == "229693849373963681"
    # cells are text exactly as written: numeric-looking codes and zero-led barcodes untouched
    assert (table.frame["library_code"] == "1030300").any()
    assert "0447203478" in set(table.frame["barcode"])
    assert table.frame.map(lambda v: isinstance(v, str)).all().all()
    # columns not recognised keep their header text
    assert {"Loan Date", "User Group"} <= set(table.frame.columns)
    # temporary location blank unless the item is in one
    assert (table.text("temp_location_code") == "").sum() > 150


def test_items_xlsx_title_rows_and_footer(data_dir: Path) -> None:
    csv_table = items(data_dir / "items_to_discharge.csv")
    table = items(data_dir / "items_to_discharge.xlsx")
    assert table.header_row == 3
    assert table.rows.iloc[0] == 4 and table.rows.iloc[-1] == 303
    assert len(table.frame) == 300
    assert not table.text("title").str.startswith("Applied filters").any()
    assert any("footer" in note for note in table.notes)
    for key in ("mms_id", "holding_id", "item_id", "barcode", "library_code"):
        assert table.text(key).tolist() == csv_table.text(key).tolist()
        assert not table.was_number(key).any()


def test_damaged_csv_row_numbers_and_cp1252(data_dir: Path) -> None:
    table = items(data_dir / "items_excel_damaged.csv")
    lines = (data_dir / "items_excel_damaged.csv").read_bytes().split(b"\n")
    blank_lines = {i + 1 for i, line in enumerate(lines) if line.strip(b"\r,") == b""}
    data_lines = [n for n in range(2, len(lines) + 1) if n not in blank_lines]
    assert table.rows.tolist() == data_lines
    assert {11, 21, 31, 41} <= blank_lines
    assert "Les Misérables" in set(table.frame["title"])
    assert table.frame.loc[table.rows == 2, "mms_id"].item() == "9.93547E+17"


def test_locations_both_forms(data_dir: Path) -> None:
    three = find_table(read_grid(data_dir / "locations.csv"), LOCATION_COLUMNS)
    assert list(three.frame.columns) == ["location_code", "library_code", "circ_desk"]
    assert three.frame.set_index("location_code").loc["k00040", "library_code"] == "1030300"
    two = find_table(read_grid(data_dir / "locations_to_circ.csv"), LOCATION_COLUMNS)
    assert list(two.frame.columns) == ["location_code", "circ_desk"]
    assert not two.has("library_code")
    assert two.labels == {"location_code": "location_code", "circ_desk": "circ_desk"}


def test_loans_xlsx_dates_and_text_times(data_dir: Path) -> None:
    columns = [
        Column("mms_id", "MMS Id", ("MMS Id",), required=True),
        Column("barcode", "Barcode", ("Barcode",)),
    ]
    table = find_table(read_grid(data_dir / "loans_export.xlsx"), columns)
    assert table.header_row == 3 and table.rows.iloc[0] == 4
    assert isinstance(table.frame["Loan Date"].iloc[0], dt.datetime)
    assert table.frame["Loan Time"].iloc[0] == "08:19:34"
    assert table.text("Loan Date").iloc[0] == "2025-09-05"
    assert table.frame["Return Date"].isna().any()  # still out
    assert not table.text("mms_id").str.startswith("Applied").any()


# --- other sources -------------------------------------------------------------------------------------


def test_sheet_values_keep_types_and_row_numbers() -> None:
    values = [
        ["Report", None, None, None],
        [None, None, None, None],
        ["MMS Id", "Holding Id", "Item Id", "Loan Date"],
        ["993546848745263681", "229693849373963681", 2.30175722846424e17, dt.datetime(2026, 1, 2)],
        [None, None, None, None],
        ["#N/A", "229693849373963681", "230175722846423681", True],
    ]
    table = find_table(read_grid(values, first_row=5, name="Items"), ITEM_COLUMNS)
    assert table.header_row == 7
    assert table.rows.tolist() == [8, 10]
    assert table.source == "Items"
    assert table.text("item_id").tolist() == ["230175722846424000", "230175722846423681"]
    assert table.was_number("item_id").tolist() == [True, False]
    assert table.text("Loan Date").tolist() == ["2026-01-02", "TRUE"]
    assert table.frame["mms_id"].iloc[1] == "#N/A"


def test_dataframe_with_and_without_header() -> None:
    frame = pd.DataFrame({"Barcode": ["0447203478", "303011kj0"], "Title": ["A", None]})
    table = find_table(read_grid(frame), ITEM_COLUMNS)
    assert table.header_row == 1 and table.rows.tolist() == [2, 3]
    assert table.text("title").tolist() == ["A", ""]
    bare = find_table(read_grid(pd.DataFrame([["Barcode"], ["0447203478"]])), ITEM_COLUMNS)
    assert bare.text("barcode").tolist() == ["0447203478"]


# --- header matching -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["MMS Id", "mms_id", "MMS ID", "\ufeffMMS Id", "MMS\u00a0Id", " mms.id ", "MMS Id(s)", "mms-id"],
)
def test_header_variants_are_recognised(header: str) -> None:
    grid = read_grid([[header, "Holding Id", "Item PID"], ["991", "221", "231"]])
    table = find_table(grid, ITEM_COLUMNS)
    assert list(table.frame.columns) == ["mms_id", "holding_id", "item_id"]
    assert table.labels["mms_id"] == header.strip()


def test_better_alias_wins_and_the_other_passes_through() -> None:
    grid = read_grid([["Library", "Library Code", "Barcode"], ["Main Library", "MAIN", "0447203478"]])
    table = find_table(grid, ITEM_COLUMNS)
    assert table.frame["library_code"].tolist() == ["MAIN"]
    assert table.frame["Library"].tolist() == ["Main Library"]


def test_duplicate_header_same_values_is_a_note() -> None:
    grid = read_grid([["Barcode", "barcode", "Title"], ["0447203478", "0447203478", "A"]])
    table = find_table(grid, ITEM_COLUMNS)
    assert list(table.frame.columns) == ["barcode", "title"]
    assert any("columns A ('Barcode') and B ('barcode')" in note for note in table.notes)


def test_unrecognised_duplicate_and_blank_headers_get_unique_names() -> None:
    grid = read_grid([["Barcode", "Note", "Note", None, None], ["1", "a", "b", "c", None]])
    table = find_table(grid, ITEM_COLUMNS)
    assert list(table.frame.columns) == [
        "barcode",
        "Note",
        "Note (column C)",
        "column D",
    ]  # E: empty, dropped


def test_header_must_be_within_the_first_rows() -> None:
    # issue 11 §6: the header is searched in the first 100 rows (it was 30)
    assert (
        find_table(read_grid([["Loans report"]] * 99 + [["Barcode"], ["1"]]), ITEM_COLUMNS).header_row == 100
    )
    rows = [["Loans report"]] * 100 + [["Barcode"], ["1"]]
    with pytest.raises(InputError, match="no header row found in the first 100 rows"):
        find_table(read_grid(rows), ITEM_COLUMNS)


# --- footers and blank rows ----------------------------------------------------------------------------


def test_lone_text_is_a_footer_only_after_the_data() -> None:
    rows = [
        ["Title", "Barcode"],
        ["Only a title", None],  # inside the data: kept, the plan will report the missing barcode
        ["Total Quality Management", "0447203478"],
        ["Total", "1"],
        ["Generated by Alma", None],
        [None, None],
    ]
    table = find_table(read_grid(rows), ITEM_COLUMNS)
    assert table.text("title").tolist() == ["Only a title", "Total Quality Management"]
    assert table.rows.tolist() == [2, 3]


def test_lone_barcodes_at_the_end_are_data() -> None:
    rows = [["Barcode", "Title"], ["0447203478", "A"], ["303011kj0", None], ["32101081340380", ""]]
    assert find_table(read_grid(rows), ITEM_COLUMNS).rows.tolist() == [2, 3, 4]
    one_column = [["Barcode"], ["0447203478"], ["303011kj0"], ["Row count: 2"]]
    table = find_table(read_grid(one_column), ITEM_COLUMNS)
    assert table.text("barcode").tolist() == ["0447203478", "303011kj0"]


def test_repeated_header_rows_are_not_data() -> None:
    rows = [["Barcode", "Title"], ["1", "A"], ["Barcode", "Title"], ["2", "B"]]
    table = find_table(read_grid(rows), ITEM_COLUMNS)
    assert table.rows.tolist() == [2, 4]
    assert "Row(s) 3 repeat the header and were ignored." in table.notes


def test_whitespace_only_rows_are_blank() -> None:
    rows = [["Barcode", "Title"], [" ", "\u00a0"], ["1", "A"], ["\t", ""]]
    assert find_table(read_grid(rows), ITEM_COLUMNS).rows.tolist() == [3]


# --- the bad-input corpus: reading level -----------------------------------------------------------------

#: file → substrings the InputError must contain (file name, row or column, and the fix)
READ_ERRORS = {
    "empty.csv": ["empty.csv is empty", "export the report from Alma again"],
    "header_only.csv": ["header in row 1 but no data rows", "export the report again"],
    "no_header.csv": [
        "no header row found",
        "MMS Id, Holding Id and Item Id or Barcode",
        "one row above the data",
    ],
    "missing_column.csv": ["header in row 1", "no column 'Item Id'", "add it"],
    "misspelt_header.csv": ["header in row 1", "rename column 'MMS Idd' to 'MMS Id'"],
    "duplicate_headers.csv": [
        "columns C ('MMS Id') and H ('MMS ID')",
        "row 1",
        "Delete the one that is wrong",
    ],
    "garbage.csv": ["garbage.csv is not a table", "choose the CSV or .xlsx file"],
    "old_format.xls": ["old Excel 97-2003 format", "Save As", ".xlsx"],
    "password_protected.xlsx": ["protected with a password", "remove the password", "save again"],
    "zip_not_workbook.xlsx": ["not a readable Excel workbook", "save it again as .xlsx"],
}


@pytest.mark.parametrize("name", sorted(READ_ERRORS))
def test_corpus_errors(name: str) -> None:
    with pytest.raises(InputError) as caught:
        items(BAD / name)
    for part in READ_ERRORS[name]:
        assert part in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_corpus_is_listed_in_cases_md() -> None:
    listed = (BAD / "CASES.md").read_text(encoding="utf-8")
    for path in BAD.iterdir():
        if path.suffix not in {".py", ".md"}:
            assert f"`{path.name}`" in listed, path.name


def test_corpus_generator_is_deterministic(tmp_path: Path) -> None:
    copy = tmp_path / "bad_input"
    copy.mkdir()
    shutil.copy(BAD / "make_corpus.py", copy)
    (tmp_path / "items_to_discharge.csv").write_bytes((BAD.parent / "items_to_discharge.csv").read_bytes())
    subprocess.run([sys.executable, str(copy / "make_corpus.py")], check=True, timeout=120)
    for path in BAD.iterdir():
        if path.suffix in {".py", ".md"} or path.name == "password_protected.xlsx":
            continue
        assert (copy / path.name).read_bytes() == path.read_bytes(), (
            f"{path.name} differs: run make_corpus.py"
        )


@pytest.mark.parametrize(
    "name", ["semicolon.csv", "tab_separated.txt", "really_csv.xlsx", "thousands_separators_semicolon.csv"]
)
def test_separators_read_like_the_comma_file(name: str) -> None:
    table = items(BAD / name)
    reference = items(BAD / "scientific_and_cut.csv")
    assert list(table.frame.columns) == list(reference.frame.columns)
    assert table.text("title").tolist() == reference.text("title").iloc[: len(table.frame)].tolist()
    if name == "really_csv.xlsx":
        assert any("CSV text with an Excel name" in note for note in table.notes)


@pytest.mark.parametrize("name", ["unicode_text_utf16.txt", "windows_cp1252.csv"])
def test_encodings(name: str) -> None:
    table = items(BAD / name)
    assert table.text("title").tolist()[:2] == ["Les Misérables", "Über die Freiheit"]
    assert table.text("mms_id").iloc[0] == "993546848745263681"


def test_quoted_line_break_keeps_csv_line_numbers() -> None:
    table = items(BAD / "multiline_title.csv")
    assert table.rows.tolist() == [2, 4, 5]
    assert table.frame["title"].iloc[0] == "Introduction to algorithms\nThird edition"


def test_footer_and_blank_rows_dropped() -> None:
    table = items(BAD / "footer_and_blank_rows.csv")
    assert table.rows.tolist() == [2, 4, 5]
    assert (
        "Row 7 ('Applied filters: Loan Status is equal to Active') after the data was ignored as a footer."
        in (table.notes)
    )
    assert any(note.startswith("Row 8 ('Row count: 3')") for note in table.notes)


def test_title_rows_xlsx() -> None:
    table = items(BAD / "title_rows_and_footer.xlsx")
    assert table.header_row == 4 and table.rows.tolist() == [5, 6, 7, 8]


def test_merged_cells_value_in_top_left_and_noted() -> None:
    table = items(BAD / "merged_cells.xlsx")
    assert table.header_row == 2
    assert table.text("library_code").tolist() == ["SCI", "", "", "MAIN"]
    assert any("merged cells (F3:F5" in note for note in table.notes)


def test_hidden_rows_are_data() -> None:
    assert items(BAD / "hidden_rows.xlsx").rows.tolist() == [2, 3, 4, 5, 6]


def test_formulas_cached_uncached_and_errors() -> None:
    table = items(BAD / "formulas_and_errors.xlsx")
    assert table.text("mms_id").iloc[0] == "993546848745263681"  # cached result of a formula
    assert table.frame.loc[table.rows == 3, "holding_id"].item() == "#N/A"  # cached error
    assert table.frame.loc[table.rows == 4, "item_id"].item() is None  # never calculated
    assert table.frame.loc[table.rows == 5, "item_id"].item() == "#N/A"  # error value typed in
    assert any("formulas with no saved result (E4)" in note for note in table.notes)


def test_uncalculated_formula_named_by_its_own_cell() -> None:
    xml = b'<row r="1"><c r="A1" s="1"/><c r="B1"><f>1+1</f><v></v></c><c r="C1"><f>2</f><v>2</v></c></row>'
    (note,) = tables._xlsx_notes(xml, "Items")
    assert "no saved result (B1)" in note


def test_numbers_in_cells_are_text_as_excel_shows_them() -> None:
    table = items(BAD / "numbers_in_cells.xlsx")
    assert table.text("mms_id").iloc[0] == "993546848745264000"
    assert table.was_number("mms_id").tolist()[:2] == [True, False]
    assert table.text("barcode").iloc[4:6].tolist() == ["860637459", "39039278687782"]
    assert table.text("library_code").iloc[3] == "1030300" and table.was_number("library_code").iloc[3]


def test_locations_duplicate_and_blank_desk_are_read_as_they_are() -> None:
    table = find_table(read_grid(BAD / "locations_duplicate_and_blank_desk.csv"), LOCATION_COLUMNS)
    assert table.text("location_code").tolist() == ["stacks", "ref", "stacks"]
    assert table.text("circ_desk").tolist() == ["DEFAULT_CIRC_DESK", "", "RESERVES_DESK"]


def test_every_file_gives_a_table_or_an_input_error(data_dir: Path) -> None:
    """Nothing a user can hand over raises anything but InputError, whichever column set is asked for."""
    paths = [*sorted(BAD.iterdir()), *sorted(p for p in data_dir.iterdir() if p.is_file())]
    for path in paths:
        for columns in (ITEM_COLUMNS, LOCATION_COLUMNS):
            try:
                table = find_table(read_grid(path), columns)
            except InputError as error:
                assert str(error) and "Traceback" not in str(error)
                continue
            for key in table.frame.columns:
                table.text(key)
                table.was_number(key)


@settings(max_examples=80, deadline=None)
@given(
    data=st.one_of(
        st.binary(max_size=3000),
        st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
        st.binary(max_size=200).map(lambda b: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b),
        st.text(max_size=400).map(lambda t: t.encode("utf-8")),
    ),
    suffix=st.sampled_from([".csv", ".xlsx", ".txt", ".xlsm"]),
)
def test_any_bytes_give_a_grid_or_an_input_error(data: bytes, suffix: str) -> None:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"alma_tables_fuzz_{os.getpid()}{suffix}"
    path.write_bytes(data)
    try:
        find_table(read_grid(path), ITEM_COLUMNS)
    except InputError:
        pass
    finally:
        path.unlink()


# --- files the system will not give us --------------------------------------------------------------


def test_password_protected_recognised_without_msoffcrypto(monkeypatch: pytest.MonkeyPatch) -> None:
    """msoffcrypto-tool is only a test dependency: the product finds the encryption stream by its name."""
    monkeypatch.setitem(sys.modules, "msoffcrypto", None)  # makes "import msoffcrypto" fail
    with pytest.raises(InputError, match="protected with a password"):
        read_grid(BAD / "password_protected.xlsx")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"File not found: .*Check the folder and the file name"):
        read_grid(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_grid(tmp_path)


def test_sheet_name_missing(data_dir: Path) -> None:
    with pytest.raises(InputError, match=r"has no sheet named 'Nope'\. Its sheets are: items_to_discharge"):
        read_grid(data_dir / "items_to_discharge.xlsx", sheet="Nope")


def test_locked_file_says_close_it_in_excel(tmp_path: Path) -> None:
    """A file the OS refuses to open: real EACCES, made for root by dropping the override capabilities."""
    locked = tmp_path / "items.csv"
    locked.write_text("Barcode\n1\n", encoding="utf-8")
    locked.chmod(0)
    script = (
        "from alma_tools.tables import read_grid\nfrom alma_tools.errors import InputError\n"
        f"try:\n    read_grid({str(locked)!r})\nexcept InputError as e:\n    print(e)\n"
    )
    command = [sys.executable, "-c", script]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        drop = "-dac_override,-dac_read_search"
        command = [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if done.stderr.startswith("setpriv:"):  # a container without CAP_SETPCAP cannot drop capabilities
        pytest.skip(f"cannot drop capabilities here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert (
        "items.csv cannot be opened: it is locked, probably open in Excel. Close it in Excel first"
        in done.stdout
    )


def test_check_writable(tmp_path: Path) -> None:
    target = tmp_path / "items to discharge.xlsx"
    tables.check_writable(target)  # does not exist yet: fine
    target.write_bytes(b"x")
    tables.check_writable(target)
    (tmp_path / "~$items to discharge.xlsx").write_bytes(b"owner")
    with pytest.raises(InputError, match=r"open in Excel .*close it in Excel first"):
        tables.check_writable(target)
    long_name = tmp_path / "a very long workbook name.xlsx"
    (tmp_path / "~$very long workbook name.xlsx").write_bytes(b"owner")  # Excel's form for long names
    with pytest.raises(InputError, match="close it in Excel first"):
        tables.check_writable(long_name)
    with pytest.raises(InputError, match="is a folder"):
        tables.check_writable(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        tables.check_writable(tmp_path / "missing" / "out.xlsx")


# --- size and round trips ------------------------------------------------------------------------------


@pytest.mark.timing
def test_hundred_thousand_rows_read_fast(tmp_path: Path, data_dir: Path) -> None:
    lines = (data_dir / "items_to_discharge.csv").read_text(encoding="utf-8-sig").splitlines()
    body = "\n".join(lines[1 + i % 300] for i in range(100_000))
    path = tmp_path / "big.csv"
    path.write_text("\ufeff" + lines[0] + "\n" + body + "\n", encoding="utf-8")
    started = time.perf_counter()
    table = items(path)
    mms = table.text("mms_id")
    elapsed = time.perf_counter() - started
    assert len(table.frame) == 100_000 and table.rows.iloc[-1] == 100_001
    assert mms.iloc[-1] == table.frame["mms_id"].iloc[-1]
    assert elapsed < 6, f"100,000 rows took {elapsed:.2f} s (about 1 s expected)"


_CELL = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=";"), st.just("\n")
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip(tables.STRIP_CHARS) != "")


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(st.from_regex(r"[0-9]{1,14}", fullmatch=True), _CELL), min_size=1, max_size=15),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
)
def test_csv_round_trip_keeps_every_cell_as_written(rows: list[tuple[str, str]], encoding: str) -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows([("Barcode", "Note"), *rows])
    grid_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"alma_tables_round_trip_{os.getpid()}.csv"
    grid_path.write_bytes(buffer.getvalue().encode(encoding))
    try:
        table = items(grid_path)
    finally:
        grid_path.unlink()
    assert table.frame["barcode"].tolist() == [r[0] for r in rows]
    assert table.frame["Note"].tolist() == [r[1] for r in rows]
