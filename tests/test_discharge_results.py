"""Writing done/status back into the user's file: format kept, right rows, atomic, read-only respected."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from alma_tools.discharge import Outcome
from alma_tools.discharge.results import ResultsFile, ResultsWriter
from alma_tools.tables import ITEM_COLUMNS, find_table, read_grid

ID1 = "991111111111113681;221111111111113681;231111111111113681"
ID2 = "992222222222223681;222222222222223681;232222222222223681"


def outcomes_by_item(
    path: Path, statuses: dict[str, tuple[bool, str]]
) -> tuple[int, dict[int, tuple[bool, str]]]:
    """Row numbers as the tables module gives them, for the items named: what the faces hand the writer."""
    table = find_table(read_grid(path), ITEM_COLUMNS)
    item_ids = table.text("item_id")
    rows = {int(table.rows[i]): statuses[item_ids[i]] for i in table.frame.index if item_ids[i] in statuses}
    return table.header_row, rows


def test_semicolon_crlf_csv_keeps_its_form_title_rows_footer_and_multiline_cells(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    text = (
        '"Items on loan";;;\r\n'
        ";;;\r\n"
        '"Title";"MMS Id";"Holding Id";"Item Id"\r\n'
        f'"A title\r\nover two lines";{ID1.replace(";", ";")}\r\n'
        f'"Plain";{ID2}\r\n'
        '"Applied filters: Loan Status is Active";;;\r\n'
    )
    path.write_bytes(text.encode("utf-8"))
    header_row, rows = outcomes_by_item(
        path,
        {
            "231111111111113681": (True, "Returned; reshelve to Main stacks"),
            "232222222222223681": (False, "=1+1"),
        },
    )
    assert header_row == 3 and sorted(rows) == [4, 6]  # the second item starts on line 6: line 4 spans two
    ResultsFile(path, header_row).write(rows)
    written = path.read_bytes().decode("utf-8")
    assert written.splitlines()[0] == '"Items on loan";"";"";""'
    lines = written.split("\r\n")
    assert lines[2] == '"Title";"MMS Id";"Holding Id";"Item Id";"done";"status"'
    assert lines[3] == '"A title'
    assert lines[4].endswith(';"TRUE";"Returned; reshelve to Main stacks"')
    assert lines[5].endswith(';"";"\'=1+1"')  # text that would run as a formula is kept as text
    assert lines[6] == '"Applied filters: Loan Status is Active";"";"";""'
    assert "\n" not in written.replace("\r\n", "")  # every line ending still CRLF (the multi-line cell's too)
    again = find_table(read_grid(path), ITEM_COLUMNS)
    assert list(again.text("done")) == ["TRUE", ""] and list(again.rows) == [4, 6]


def test_existing_done_and_status_columns_are_updated_in_place_in_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(
        ("MMS Id,Holding Id,Item Id,done,status,Note\r\n" + ID1.replace(";", ",") + ",,old,Gödel\r\n").encode(
            "cp1252"
        )
    )
    header_row, rows = outcomes_by_item(
        path, {"231111111111113681": (True, "Returned; in transit to Łódź — set aside")}
    )
    ResultsFile(path, header_row).write(rows)
    written = path.read_bytes().decode("cp1252").splitlines()
    assert written[0] == "MMS Id,Holding Id,Item Id,done,status,Note"
    # the em dash exists in cp1252 and is kept; a letter that does not is replaced, not failing the save
    assert written[1] == ID1.replace(";", ",") + ",TRUE,Returned; in transit to ?ód? — set aside,Gödel"


def test_xlsx_keeps_cell_types_and_marks_formula_like_status_as_text(tmp_path: Path) -> None:
    path = tmp_path / "items.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["MMS Id", "Holding Id", "Item Id", "Loan Date"])
    sheet.append([*ID1.split(";"), 45600])
    book.save(path)
    header_row, rows = outcomes_by_item(path, {"231111111111113681": (False, '=HYPERLINK("http://x")')})
    ResultsFile(path, header_row).write(rows)
    sheet = openpyxl.load_workbook(path).active
    assert [c.value for c in sheet[1]] == ["MMS Id", "Holding Id", "Item Id", "Loan Date", "done", "status"]
    assert sheet["C2"].value == "231111111111113681" and sheet["C2"].data_type == "s"
    assert sheet["D2"].value == 45600
    assert sheet["E2"].value is None
    assert sheet["F2"].data_type == "s" and sheet["F2"].value == '=HYPERLINK("http://x")'


def test_writer_keeps_going_when_the_file_is_read_only_and_saves_once_it_is_writable(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("MMS Id,Holding Id,Item Id\n" + ID1.replace(";", ",") + "\n", encoding="utf-8")
    path.chmod(0o444)
    writer = ResultsWriter(ResultsFile(path, 1), interval=0.05)
    writer.record(Outcome(2, True, "Returned; reshelve to Main stacks", "returned"))
    error = writer.close()
    assert error is not None and error.startswith("Could not write the results into items.csv")
    assert "run the same command again" in error
    assert "done" not in path.read_text()
    assert (tmp_path / "items.original.csv").read_text() == path.read_text()
    path.chmod(0o644)
    writer = ResultsWriter(ResultsFile(path, 1), interval=0.05)
    writer.record(Outcome(2, True, "Returned; reshelve to Main stacks", "returned"))
    assert writer.close() is None
    assert path.read_text().splitlines()[1].endswith(",TRUE,Returned; reshelve to Main stacks")
    assert not list(tmp_path.glob(".items.csv.*"))  # no temporary file left behind
