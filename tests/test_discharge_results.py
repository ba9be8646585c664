"""Writing done/status back into the user's file: only the two columns change, right rows, atomic."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from alma_tools.discharge import Outcome
from alma_tools.discharge.results import (
    ResultsFile,
    ResultsWriter,
    find_result_columns,
    sibling_results_path,
)
from alma_tools.errors import InputError
from alma_tools.tables import ITEM_COLUMNS, Table, find_table, read_grid

ID1 = "991111111111113681;221111111111113681;231111111111113681"
ID2 = "992222222222223681;222222222222223681;232222222222223681"


def read_items(path: Path) -> Table:
    return find_table(read_grid(path), ITEM_COLUMNS)


def outcomes_by_item(table: Table, statuses: dict[str, tuple[bool, str]]) -> dict[int, tuple[bool, str]]:
    """Row numbers as the tables module gives them, for the items named: what the faces hand the writer."""
    item_ids = table.text("item_id")
    return {int(table.rows[i]): statuses[item_ids[i]] for i in table.frame.index if item_ids[i] in statuses}


def test_find_result_columns_reuses_existing_columns_and_places_new_ones_after_the_header() -> None:
    fresh = find_result_columns(["Title", "MMS Id", None, ""])
    assert (fresh.done, fresh.status, fresh.added, fresh.width) == (2, 3, ("done", "status"), 2)
    again = find_result_columns(["Title", " Done\u200b", "MMS Id", "STATUS"])
    assert (again.done, again.status, again.added) == (1, 3, ())
    assert again.exists("done") and again.exists("status")
    half = find_result_columns(["status", "Item Id"], first_free=5)
    assert (half.done, half.status, half.added) == (5, 0, ("done",))


def test_semicolon_crlf_csv_gets_only_the_two_cells_title_rows_footer_and_multiline_cells_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "items.csv"
    lines = [
        '"Items on loan";;;',
        ";;;",
        '"Title";"MMS Id";"Holding Id";"Item Id"',
        f'"A title\r\nover two lines";{ID1}',
        f'"Plain";{ID2}',
        '"Applied filters: Loan Status is Active";;;',
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    table = read_items(path)
    rows = outcomes_by_item(
        table,
        {
            "231111111111113681": (True, "Returned; reshelve to Main stacks"),
            "232222222222223681": (False, "=1+1"),
        },
    )
    assert table.header_row == 3 and sorted(rows) == [4, 6]  # the second item starts on line 6
    assert ResultsFile(path, table).write(rows) is None
    expected = [
        lines[0],
        lines[1],
        lines[2] + ";done;status",
        lines[3] + ';TRUE;"Returned; reshelve to Main stacks"',
        lines[4] + ";;'=1+1",  # text that would run as a formula is kept as text
        lines[5],
    ]
    assert path.read_bytes() == ("\r\n".join(expected) + "\r\n").encode("utf-8")
    again = read_items(path)
    assert list(again.text("done")) == ["TRUE", ""] and list(again.rows) == [4, 6]


def test_a_rerun_updates_existing_columns_in_place_and_keeps_every_other_byte(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    original = "MMS Id,Holding Id,Item Id,done,status,Note\r\n" + ID1.replace(";", ",") + ",,old,Gödel\r\n"
    path.write_bytes(original.encode("cp1252"))
    table = read_items(path)
    rows = outcomes_by_item(table, {"231111111111113681": (True, "Returned; in transit to Lódz — set aside")})
    assert ResultsFile(path, table).write(rows) is None
    written = path.read_bytes().decode("cp1252")
    assert written == original.replace(",,old,", ",TRUE,Returned; in transit to Lódz — set aside,")


def test_a_status_the_encoding_cannot_hold_sends_all_results_beside_the_file(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    original = ("Title,MMS Id,Holding Id,Item Id\r\nGödel," + ID1.replace(";", ",") + "\r\n").encode("cp1252")
    path.write_bytes(original)
    table = read_items(path)
    target = ResultsFile(path, table)
    assert target.write({2: (True, "Returned; reshelve")}) is None  # first save: into the file
    message = target.write({2: (True, "Returned; in transit to Łódź — set aside")})
    assert message is not None and "items.results.csv" in message and "'Ł'" in message and "row 2" in message
    assert path.read_bytes() == original  # back as it was: one place holds the results, not two
    beside = sibling_results_path(path).read_bytes()
    assert beside.startswith(b"\xef\xbb\xbf")
    assert (
        beside.decode("utf-8-sig").splitlines()[1].endswith(",TRUE,Returned; in transit to Łódź — set aside")
    )


def test_a_record_with_more_cells_than_the_header_keeps_every_cell(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    header = "Title,MMS Id,Holding Id,Item Id"
    longer = "Smith, John: a life," + ID2.replace(";", ",")  # an unquoted comma: one cell too many
    path.write_bytes(f"{header}\n{'Plain,' + ID1.replace(';', ',')}\n{longer}\n".encode())
    table = read_items(path)
    target = ResultsFile(path, table)
    target.write({2: (True, "Returned"), 3: (False, "Row 3 has one cell more than the header; not sent")})
    lines = path.read_text().splitlines()
    assert lines[0] == header + ",done,status"
    cells = lines[2].split(",")
    assert cells[:4] == longer.split(",")[:4] and cells[4:6] == [
        "",
        "Row 3 has one cell more than the header; not sent",
    ]
    assert cells[6:] == longer.split(",")[4:]  # the extra cell is still there, after the results


def test_xlsx_keeps_cell_types_and_writes_a_formula_like_status_as_text(tmp_path: Path) -> None:
    path = tmp_path / "items.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["MMS Id", "Holding Id", "Item Id", "Loan Date"])
    sheet.append([*ID1.split(";"), 45600])
    book.save(path)
    table = read_items(path)
    rows = outcomes_by_item(table, {"231111111111113681": (False, '=HYPERLINK("http://x")')})
    ResultsFile(path, table).write(rows)
    sheet = openpyxl.load_workbook(path).active
    assert [c.value for c in sheet[1]] == ["MMS Id", "Holding Id", "Item Id", "Loan Date", "done", "status"]
    assert sheet["C2"].value == "231111111111113681" and sheet["C2"].data_type == "s"
    assert sheet["D2"].value == 45600
    assert sheet["E2"].value is None
    assert sheet["F2"].data_type == "s" and sheet["F2"].value == '=HYPERLINK("http://x")'


def test_xlsx_rerun_updates_the_cells_written_before_and_changes_no_other_part(tmp_path: Path) -> None:
    path = tmp_path / "items.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["MMS Id", "Holding Id", "Item Id"])
    book.active.append(ID1.split(";"))
    book.create_sheet("Notes").append(["keep me"])
    book.save(path)
    ResultsFile(path, read_items(path)).write({2: (False, "Alma did not answer")})
    before = path.read_bytes()
    ResultsFile(path, read_items(path)).write({2: (True, "Returned (confirmed after an interrupted run)")})
    sheet = openpyxl.load_workbook(path).active
    assert [c.value for c in sheet[1]] == ["MMS Id", "Holding Id", "Item Id", "done", "status"]
    assert [c.value for c in sheet[2]][3:] == [True, "Returned (confirmed after an interrupted run)"]
    old, new = zipfile.ZipFile(io.BytesIO(before)), zipfile.ZipFile(path)
    assert [i.filename for i in old.infolist()] == [i.filename for i in new.infolist()]
    changed = [n for n in old.namelist() if old.read(n) != new.read(n)]
    assert changed == ["xl/worksheets/sheet1.xml"]


def test_a_workbook_open_in_excel_is_refused_before_the_run(tmp_path: Path) -> None:
    path = tmp_path / "items.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["MMS Id", "Holding Id", "Item Id"])
    book.active.append(ID1.split(";"))
    book.save(path)
    table = read_items(path)
    (tmp_path / "~$items.xlsx").write_bytes(b"owner")
    with pytest.raises(InputError, match="open in Excel"):
        ResultsFile(path, table)


def test_a_file_changed_by_another_program_during_the_run_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("MMS Id,Holding Id,Item Id\n" + ID1.replace(";", ",") + "\n", encoding="utf-8")
    writer = ResultsWriter(ResultsFile(path, read_items(path)), interval=60)
    path.write_text("MMS Id,Holding Id,Item Id\nsomeone else's edit\n", encoding="utf-8")
    writer.record(Outcome(2, True, "Returned; reshelve to Main stacks", "returned"))
    error = writer.close()
    assert (
        error is not None and "changed by another program" in error and "run the same command again" in error
    )
    assert path.read_text().endswith("someone else's edit\n")


def test_writer_reports_a_failed_save_and_saves_once_it_can(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("MMS Id,Holding Id,Item Id\n" + ID1.replace(";", ",") + "\n", encoding="utf-8")
    target = ResultsFile(path, read_items(path))
    path.chmod(0o444)  # made read-only after the check (by a sync tool, say)
    writer = ResultsWriter(target, interval=0.05)
    writer.record(Outcome(2, True, "Returned; reshelve to Main stacks", "returned"))
    error = writer.close()
    assert error is not None and error.startswith("Could not write the results into items.csv")
    assert "run the same command again" in error
    assert "done" not in path.read_text()
    assert (tmp_path / "items.original.csv").read_text() == path.read_text()
    path.chmod(0o644)
    writer = ResultsWriter(target, interval=0.05)
    writer.record(Outcome(2, True, "Returned; reshelve to Main stacks", "returned"))
    assert writer.close() is None
    assert path.read_text().splitlines()[1].endswith(",TRUE,Returned; reshelve to Main stacks")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.csv", "items.original.csv"]


def test_a_slow_save_makes_the_writer_save_less_often(tmp_path: Path) -> None:
    """A large workbook costs tens of milliseconds a save: the writer then waits 50 times that before the
    next one (a save takes at most 2% of the run's CPU), however short its interval."""
    from samples import make_items

    path = tmp_path / "items.xlsx"
    make_items(5000, seed=4).to_excel(path, index=False)
    table = read_items(path)
    target = ResultsFile(path, table)
    started = time.process_time()
    target.write({int(row): (True, "Returned") for row in table.rows})
    cost = time.process_time() - started
    writer = ResultsWriter(target, interval=0.01)
    began = time.monotonic()
    stamps = set()
    for row in table.rows.iloc[:400]:
        writer.record(Outcome(int(row), True, "Returned; reshelve to Main stacks", "returned"))
        stamps.add(path.stat().st_mtime_ns)
        time.sleep(0.005)
    duration = time.monotonic() - began
    assert writer.close() is None
    saves = len(stamps) - 1  # the first stamp is the write above
    # without the wait, a save every interval + cost: dozens; with it, one save, then one per 50 x its cost
    assert saves <= 2 + duration / (50 * cost), (saves, cost, duration)
    assert read_items(path).text("done").iloc[:400].eq("TRUE").all()


def test_xlsx_results_go_into_the_sheet_the_reader_read_not_the_first(tmp_path: Path) -> None:
    path = tmp_path / "items.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["keep me"])
    items = book.create_sheet("Loans & returns")
    items.append(["Title"])  # a title row: the header is row 2
    items.append(["MMS Id", "Holding Id", "Item Id"])
    items.append(ID1.split(";"))
    book.active = 1  # the workbook was saved with the items sheet open
    book.save(path)
    table = read_items(path)
    assert table.sheet == "Loans & returns" and table.header_row == 2
    ResultsFile(path, table).write({3: (True, "Returned")})
    saved = openpyxl.load_workbook(path)
    assert [c.value for c in saved["Loans & returns"][2]] == [
        "MMS Id",
        "Holding Id",
        "Item Id",
        "done",
        "status",
    ]
    assert [c.value for c in saved["Loans & returns"][3]][3:] == [True, "Returned"]
    assert [[c.value for c in r] for r in saved["Notes"].iter_rows()] == [["keep me"]]
