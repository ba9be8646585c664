"""The statistics on loans exports shaped as libraries have them, each figure checked against a hand count.

Every case here was tried as a new user would (``alma-tools concurrency`` on a file written the way Excel,
Analytics or a UK library writes it) and once gave a normal-looking summary with a wrong figure, or a
traceback.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
from pathlib import Path

import openpyxl

from alma_tools.cli import main
from test_concurrency_loans import HEADER

ITEM_HEADER = ["Title", "MMS Id", "Permanent Call Number", "Barcode"]
MMS = "991234567890123681"
OTHER = "991111111111113681"


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    printed, errors = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
        code = main(["concurrency", *args])
    return code, printed.getvalue(), errors.getvalue()


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def three_copy_loans(path: Path) -> Path:
    """Three copies of one volume: 2+ out 24 h (2 Sep 08:00 to 3 Sep 08:00), all three out 2 h."""
    return write_csv(
        path,
        HEADER,
        [
            ["Three", MMS, "QA1 .B1", "0031111", "09/01/2025", "08:00:00", "09/03/2025", "08:00:00"],
            ["Three", MMS, "QA1 .B1", "0031112", "09/02/2025", "08:00:00", "09/04/2025", "08:00:00"],
            ["Three", MMS, "QA1 .B1", "0031113", "09/02/2025", "20:00:00", "09/02/2025", "22:00:00"],
            ["One", OTHER, "QA2 .C1", "0041111", "09/01/2025", "08:00:00", "", ""],
        ],
    )


def test_an_items_barcode_that_lost_its_zeros_is_still_a_copy(tmp_path: Path) -> None:
    """The items export lists a fourth copy, never lent, whose barcode Excel stripped (31114 for 0031114).

    Leaving that row out made the volume three copies, all three out for 2 h: a buy-more-copies signal
    from a volume that always had a copy on the shelf. It is a copy (counted), and the row says so.
    """
    loans = three_copy_loans(tmp_path / "loans.csv")
    items = write_csv(
        tmp_path / "items.csv",
        ITEM_HEADER,
        [
            ["Three", MMS, "QA1 .B1", "0031111"],
            ["Three", MMS, "QA1 .B1", "0031112"],
            ["Three", MMS, "QA1 .B1", "0031113"],
            ["Three", MMS, "QA1 .B1", "31114"],
            ["One", OTHER, "QA2 .C1", "0041111"],
            ["One", OTHER, "QA2 .C1", "0041112"],
        ],
    )
    out = tmp_path / "stats.csv"
    code, printed, _ = run_cli(str(loans), "--items", str(items), "--as-of", "2025-12-31", "--csv", str(out))
    assert code == 0
    three = next(row for row in read_rows(out) if row["MMS Id"] == MMS)
    assert (three["Copies"], three["Hours 2+ Out"], three["Hours All Out"]) == ("4", "24.0", "0")
    assert "0 volumes had every copy out" in printed
    problems = read_rows(tmp_path / "stats.problems.csv")
    assert [(p["Row"], p["Column"], p["File"]) for p in problems] == [("5", "Barcode", "items.csv")]
    assert "perhaps 0031114" in problems[0]["Problem"]
    assert "counted as one copy" in problems[0]["Fix"]


def test_a_file_no_loan_of_which_is_usable_is_refused_naming_the_first_row(tmp_path: Path) -> None:
    """Dates saved from Excel as it showed them, with a two-digit year (05/09/25): every row was left out,
    and the summary said "0 volumes, 0 loans ... 2 data problems" with exit 0, the problems nowhere."""
    loans = write_csv(
        tmp_path / "loans.csv",
        HEADER,
        [
            ["Book", MMS, "QA1 .B1", "31111", "05/09/25", "10:00:00", "06/09/25", "09:00:00"],
            ["Book", MMS, "QA1 .B1", "31112", "05/09/25", "10:00:00", "06/09/25", "09:00:00"],
        ],
    )
    code, printed, errors = run_cli(str(loans), "--as-of", "2025-12-31")
    assert code == 2 and "0 volumes" not in printed and "Traceback" not in errors
    assert "None of the loans in loans.csv could be used (2 rows" in errors
    assert "row 2, Loan Date: Loan Date '05/09/25' is not a date" in errors
    assert "The year has two digits" in errors


def test_an_as_of_before_every_loan_is_refused(tmp_path: Path) -> None:
    """--as-of a year too early (2024 for 2025): every loan was a problem, and "0 volumes" with exit 0."""
    loans = three_copy_loans(tmp_path / "loans.csv")
    code, printed, errors = run_cli(str(loans), "--as-of", "2024-12-31", "--csv", str(tmp_path / "s.csv"))
    assert code == 2 and "0 volumes" not in printed and "Traceback" not in errors
    assert "Every loan in loans.csv starts after the as-of moment 2024-12-31 00:00" in errors
    assert "(the first on 2025-09-01 08:00)" in errors and "later --as-of" in errors
    assert not (tmp_path / "s.csv").exists()


def test_rows_hidden_by_a_filter_are_counted_and_said(tmp_path: Path) -> None:
    """A loans workbook filtered to one volume in Excel, then saved: the hidden rows were counted, unsaid."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for mms, call, barcode in ((MMS, "QA1 .B1", "31111"), (MMS, "QA1 .B1", "31112"), (OTHER, "QA2", "41111")):
        sheet.append(
            [
                "Book",
                mms,
                call,
                barcode,
                dt.datetime(2025, 9, 5),
                "10:00:00",
                dt.datetime(2025, 9, 6),
                "09:00:00",
            ]
        )
    sheet.auto_filter.ref = "A1:H4"
    sheet.row_dimensions[4].hidden = True
    book.save(tmp_path / "loans.xlsx")
    code, printed, _ = run_cli(str(tmp_path / "loans.xlsx"), "--as-of", "2025-12-31")
    assert code == 0 and "2 volumes, 3 loans" in printed
    note = "1 row is hidden in loans.xlsx (a filter, or by hand; row 4) and counted like the others"
    assert note in printed and "delete them from the sheet" in printed
    code, printed, _ = run_cli(str(three_copy_loans(tmp_path / "loans.csv")), "--as-of", "2025-12-31")
    assert code == 0 and "hidden in" not in printed


def test_a_row_shifted_by_an_unquoted_comma_is_refused_saying_so(tmp_path: Path) -> None:
    """A title with a comma not in quotes shifts the cells: the row was refused as "MMS Id ... is not an Alma
    id (John)", and a row with a stray cell at its end was counted; the discharge refuses both, saying why."""
    loans = tmp_path / "loans.csv"
    loans.write_text(
        ",".join(HEADER)
        + "\nBook,991234567890123681,QA1,31111,09/05/2025,10:00:00,09/06/2025,09:00:00"
        + "\nBook,991234567890123681,QA1,31112,09/05/2025,10:00:00,09/06/2025,09:00:00"
        + "\nSmith, John,991234567890123681,QA1,31113,09/05/2025,10:00:00,09/06/2025,09:00:00"
        + "\nBook,991234567890123681,QA1,31113,09/07/2025,10:00:00,09/08/2025,09:00:00,extra\n",
        encoding="utf-8",
    )
    code, _, _ = run_cli(str(loans), "--as-of", "2025-12-31", "--csv", str(tmp_path / "s.csv"))
    assert code == 0
    problems = read_rows(tmp_path / "s.problems.csv")
    assert [(p["Row"], p["Column"]) for p in problems] == [("4", "(the whole row)"), ("5", "(the whole row)")]
    assert "one cell more than the header" in problems[0]["Problem"]
    assert "the row is left out until then" in problems[0]["Problem"]
    assert read_rows(tmp_path / "s.csv")[0]["Loans"] == "2"


def test_a_lent_barcode_the_items_export_has_under_another_call_number_is_named(tmp_path: Path) -> None:
    """Items exported with the call number written otherwise (QA1.B1 for QA1 .B1): every lent barcode was
    "lent but is not in the items export", though it is there, in a row the message now names."""
    loans = three_copy_loans(tmp_path / "loans.csv")
    items = write_csv(
        tmp_path / "items.csv",
        ITEM_HEADER,
        [["Three", MMS, "QA1.B1", f"003111{n}"] for n in (1, 2, 3, 4)]
        + [["One", OTHER, "QA2 .C1", "0041111"]],
    )
    code, _, _ = run_cli(
        str(loans), "--items", str(items), "--as-of", "2025-12-31", "--csv", str(tmp_path / "s.csv")
    )
    assert code == 0
    problems = read_rows(tmp_path / "s.problems.csv")
    assert [p["Row"] for p in problems] == ["2", "3", "4"]
    assert problems[1]["Problem"] == (
        "barcode 0031112 was lent, but the items export has it under another volume (items.csv row 3, MMS Id "
        f"'{MMS}', Permanent Call Number 'QA1.B1'); it is counted as a copy of the loan's volume"
    )


def test_the_summary_says_one_copy_and_one_loan(tmp_path: Path) -> None:
    """A volume with one copy lent once read "1 copies, 1 loans"."""
    code, printed, _ = run_cli(str(three_copy_loans(tmp_path / "loans.csv")), "--as-of", "2025-12-31")
    assert code == 0
    assert "  2.0 h all out, 24.0 h 2+ out, 3 copies, 3 loans: Three [991234567890123681 QA1 .B1]" in printed
    assert "  0.0 h all out, 1 copy, 1 loan: One [991111111111113681 QA2 .C1]" in printed


def test_a_loans_barcode_written_both_with_and_without_its_zeros_is_one_copy(tmp_path: Path) -> None:
    """Two loans exports appended, one of them saved through Excel: copy 0031112 appears as 31112 too.

    The 31112 row was left out, and the second time both copies were out (24 h) was lost: 24 h all out
    instead of 48. It is the same copy: counted as such, and the row says so.
    """
    loans = write_csv(
        tmp_path / "loans.csv",
        HEADER,
        [
            ["Two", MMS, "QA1 .B1", "0031111", "09/01/2025", "08:00:00", "09/03/2025", "08:00:00"],
            ["Two", MMS, "QA1 .B1", "0031112", "09/02/2025", "08:00:00", "09/04/2025", "08:00:00"],
            ["Two", MMS, "QA1 .B1", "31112", "09/10/2025", "08:00:00", "09/12/2025", "08:00:00"],
            ["Two", MMS, "QA1 .B1", "0031111", "09/11/2025", "08:00:00", "09/13/2025", "08:00:00"],
        ],
    )
    out = tmp_path / "s.csv"
    code, _, _ = run_cli(str(loans), "--as-of", "2025-12-31", "--csv", str(out))
    assert code == 0
    (volume,) = read_rows(out)
    assert (volume["Copies"], volume["Loans"], volume["Hours All Out"]) == ("2", "4", "48.0")
    (problem,) = read_rows(tmp_path / "s.problems.csv")
    assert (
        problem["Row"] == "4"
        and "it is 0031112 in other rows of this export, the same copy" in problem["Problem"]
    )


def test_two_outputs_on_one_file_are_refused_before_any_work(tmp_path: Path) -> None:
    """--csv a.episodes.csv beside --output a.xlsx replaced every episode by the volume table (the summary
    still said "Every episode: a.episodes.csv"); --csv b.xlsx with --output b.xlsx left a CSV named .xlsx."""
    loans = str(three_copy_loans(tmp_path / "loans.csv"))
    book, episodes = tmp_path / "a.xlsx", tmp_path / "a.episodes.csv"
    code, printed, errors = run_cli(
        loans, "--as-of", "2025-12-31", "--output", str(book), "--csv", str(episodes)
    )
    assert code == 2 and "Reading" not in printed and not book.exists() and not episodes.exists()
    assert f"the episodes file beside --output and --csv are the same file ({episodes})" in errors
    code, printed, errors = run_cli(loans, "--as-of", "2025-12-31", "--output", str(book), "--csv", str(book))
    assert code == 2 and not book.exists()
    assert "--csv " + str(book) + ": a CSV file's name must not end in .xlsx" in errors


def test_an_input_under_a_derived_output_name_is_refused_saying_which_output(tmp_path: Path) -> None:
    """Loans saved as x.episodes.csv, --output x.xlsx: refused as "x.episodes.csv is also an input", with
    no word of why a name the user never gave is an output."""
    loans = three_copy_loans(tmp_path / "x.episodes.csv")
    before = loans.read_bytes()
    code, _, errors = run_cli(str(loans), "--as-of", "2025-12-31", "--output", str(tmp_path / "x.xlsx"))
    assert code == 2 and loans.read_bytes() == before
    assert f"{loans} (the episodes file beside --output) is also an input" in errors


def copies_as_date_cells(path: Path, loan: dt.datetime, back: dt.datetime, last: list[object]) -> Path:
    """A loans workbook: copies 31111 and 31112 lent on ``loan`` and back on ``back`` as date cells, and
    one more loan of 31112 in the row ``last`` (Loan Date, Loan Time, Return Date, Return Time)."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for barcode in ("31111", "31112"):
        sheet.append(["Book", MMS, "QA1", barcode, loan, "10:00:00", back, "09:00:00"])
    sheet.append(["Book", MMS, "QA1", "31112", *last])
    book.save(path)
    return path


def test_a_uk_csv_saved_as_a_workbook_by_a_us_excel_is_refused(tmp_path: Path) -> None:
    """05/09/2025 (5 September) became a date cell of 9 May; 13/09/2025 stayed text. The text told "day
    first", the swapped cells were taken as they were: 31.0 days all out for a 23-hour overlap, exit 0."""
    loans = copies_as_date_cells(
        tmp_path / "loans.xlsx",
        dt.datetime(2025, 5, 9),
        dt.datetime(2025, 6, 9),
        ["13/09/2025", "10:00:00", "14/09/2025", "09:00:00"],
    )
    for extra in ((), ("--date-order", "dmy")):  # no order can put the swapped cells right
        code, printed, errors = run_cli(str(loans), "--as-of", "2025-12-31", *extra)
        assert code == 2 and "days all out" not in printed and "Traceback" not in errors
        assert (
            "row 2 has Loan Date 2025-05-09 as a date cell, and row 4 has Loan Date '13/09/2025' as text"
            in errors
        )
        assert "Open the original export with Alma Tools directly" in errors


def test_date_cells_with_a_day_over_12_beside_day_first_text_are_read(tmp_path: Path) -> None:
    """Date cells that cannot have been swapped (a day over 12) beside day-first text: read, as before."""
    copies_as_date_cells(
        tmp_path / "loans.xlsx",
        dt.datetime(2025, 9, 5),
        dt.datetime(2025, 9, 6),
        [dt.datetime(2025, 9, 20), "10:00:00", "21/09/2025", "09:00:00"],
    )
    code, printed, _ = run_cli(str(tmp_path / "loans.xlsx"), "--as-of", "2025-12-31")
    assert code == 0 and "  23.0 h all out, 2 copies, 3 loans: Book" in printed
    assert "Dates read day first (dd/mm/yyyy): 1 date had a day over 12" in printed


def test_no_as_of_long_after_the_export_warns_that_open_loans_run_on(tmp_path: Path) -> None:
    """An export of last term read today without --as-of: every loan still out ran on to now (the sample's
    top volume went from 198 to 310 days all out), said only by the date on the first line."""
    loans = str(three_copy_loans(tmp_path / "loans.csv"))  # one loan still out; the latest date 2025-09-04
    code, printed, _ = run_cli(loans, "--output", str(tmp_path / "s.xlsx"))
    assert code == 0
    warning = (
        "1 loan without a return counts as out until now (",
        "), but the latest loan or return in the export is 2025-09-04 08:00: if the export was made then, "
        'run again with --as-of "2025-09-04 08:00" (or the date the export was made)',
    )
    assert warning[0] in printed and warning[1] in printed
    titles = [cell.value for cell in openpyxl.load_workbook(tmp_path / "s.xlsx")["Statistics"]["A"][:6]]
    assert any(warning[1] in str(title) for title in titles)
    code, printed, _ = run_cli(loans, "--as-of", "2025-09-30")  # an as-of given: the user chose it
    assert code == 0 and "count as out until now" not in printed


def test_a_requests_export_with_excel_damaged_mms_ids_lists_them(tmp_path: Path) -> None:
    """Requests saved through Excel (9.91234567890124E+17, or cut to ...3000): they matched no volume, and
    the volume showed 0 requests without a word; the discharge's id rule now lists them."""
    loans = three_copy_loans(tmp_path / "loans.csv")
    requests = write_csv(
        tmp_path / "requests.csv",
        ["MMS Id", "Requests"],
        [["9.91234567890124E+17", "3"], ["991234567890123000", "2"], [OTHER, "1"], [MMS, "x"]],
    )
    out = tmp_path / "s.csv"
    code, _, _ = run_cli(str(loans), "--requests", str(requests), "--as-of", "2025-12-31", "--csv", str(out))
    assert code == 0
    assert {row["MMS Id"]: row["Requests"] for row in read_rows(out)} == {MMS: "0.0", OTHER: "1.0"}
    problems = [p for p in read_rows(tmp_path / "s.problems.csv") if p["File"] == "requests.csv"]
    assert [(p["Row"], p["Column"]) for p in problems] == [
        ("2", "MMS Id"),
        ("3", "MMS Id"),
        ("5", "Requests"),
    ]
    assert "shown as 9.91234567890124E+17, so its digits are lost" in problems[0]["Problem"]
    assert "lost its last digits (991234567890123000)" in problems[1]["Problem"]
