"""Reading loans exports: header placement, date and time shapes, and data problems listed with their rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alma_tools.concurrency import compute, read_loans
from alma_tools.concurrency import loans as loans_module
from alma_tools.concurrency.loans import LOAN_COLUMNS
from alma_tools.errors import InputError
from alma_tools.tables import find_table, read_grid

HEADER = [
    "Title",
    "MMS Id",
    "Permanent Call Number",
    "Barcode",
    "Loan Date",
    "Loan Time",
    "Return Date",
    "Return Time",
]
MMS = "991234567890123681"
OTHER = "997654321098763681"


def moments(loans) -> list[tuple]:
    return list(zip(loans.loans["start"], loans.loans["end"], strict=True))


def test_header_below_title_rows_footer_and_blank_rows_ignored() -> None:
    rows = [
        ["Reserve loans, spring"],
        ["Fulfillment - Loans"],
        HEADER,
        ["Book", MMS, "QA1", "B1", "9/5/2025", "08:00:00", "9/5/2025", "10:00:00"],
        [None] * 8,
        ["Book", MMS, "QA1", "B2", "2025-09-05", "09:00:00", "", ""],
        ["Applied filters: Loan Date is after 08/25/2025"],
    ]
    loans = read_loans(rows)
    assert loans.problems.empty
    assert loans.loans["row"].tolist() == [4, 6]
    assert loans.loans["start"].tolist() == [
        pd.Timestamp("2025-09-05 08:00"),
        pd.Timestamp("2025-09-05 09:00"),
    ]
    assert loans.loans["end"].iloc[0] == pd.Timestamp("2025-09-05 10:00")
    assert pd.isna(loans.loans["end"].iloc[1])  # blank return: still out


def test_headers_in_any_case_and_spacing() -> None:
    header = ["title", "MMS_ID", "permanent  call number", "BARCODE", "loan date", "Loan time", "return_date",
              "RETURN TIME"]  # fmt: skip
    loans = read_loans([header, ["T", MMS, "QA1", "B1", "1/2/2026", "7:05", "1/2/2026", "8:05 PM"]])
    assert moments(loans) == [(pd.Timestamp("2026-01-02 07:05"), pd.Timestamp("2026-01-02 20:05"))]


def test_excel_dates_and_excel_time_cells() -> None:
    rows = [
        HEADER,
        # what openpyxl/xlwings hand over: datetime dates, time cells, a time as a fraction of a day,
        # an Excel serial date number
        ["T", MMS, "QA1", "B1", dt.datetime(2025, 9, 5), dt.time(8, 19, 34), dt.datetime(2025, 9, 5), 0.5],
        ["T", MMS, "QA1", "B2", 45905, "08:19:34", 45905.0, dt.datetime(1899, 12, 30, 13, 0)],
    ]
    loans = read_loans(rows)
    assert loans.problems.empty
    assert moments(loans) == [
        (pd.Timestamp("2025-09-05 08:19:34"), pd.Timestamp("2025-09-05 12:00")),
        (pd.Timestamp("2025-09-05 08:19:34"), pd.Timestamp("2025-09-05 13:00")),
    ]


def test_combined_date_time_columns() -> None:
    header = ["Title", "MMS Id", "Permanent Call Number", "Barcode", "Loan Date", "Return Date"]
    rows = [
        header,
        ["T", MMS, "QA1", "B1", dt.datetime(2025, 9, 5, 8, 30), "9/6/2025 14:15:00"],
        ["T", MMS, "QA1", "B2", "2025-09-05 09:00", "2025-09-05T10:00:00"],
    ]
    loans = read_loans(rows)
    assert loans.problems.empty
    assert moments(loans) == [
        (pd.Timestamp("2025-09-05 08:30"), pd.Timestamp("2025-09-06 14:15")),
        (pd.Timestamp("2025-09-05 09:00"), pd.Timestamp("2025-09-05 10:00")),
    ]


def test_data_problems_name_row_column_and_fix() -> None:
    rows = [
        HEADER,
        ["T", MMS, "QA1", "B1", "9/5/2025", "08:00:00", "9/5/2025", "07:00:00"],  # 2: return before loan
        ["T", MMS, "QA1", "B1", "31/31/2025", "08:00:00", "", ""],  # 3: not a date
        ["T", MMS, "QA1", "B1", "9/5/2025", "8 o'clock", "", ""],  # 4: not a time
        ["T", "9.91235E+17", "QA1", "B1", "9/5/2025", "08:00:00", "", ""],  # 5: id shown by Excel
        ["T", MMS, "QA1", "", "9/5/2025", "08:00:00", "", ""],  # 6: no barcode
        ["T", MMS, "QA1", "B1", "", "", "", ""],  # 7: no loan date
        ["T", MMS, "QA1", "B1", "9/5/2025", "23:00:00", "9/6/2025", "01:00:00"],  # 8: past midnight, fine
        ["T", MMS, "QA1", "B2", "9/5/2025", "", "9/6/2025", "01:00:00"],  # 9: no loan time: kept, noted
    ]
    loans = read_loans(rows)
    problems = loans.problems.set_index("Row")
    assert problems.loc[2, "Column"] == "Return Date"
    assert "is before the loan" in problems.loc[2, "Problem"]
    assert "next day" in problems.loc[2, "Fix"]
    assert problems.loc[3, "Problem"] == "Loan Date '31/31/2025' is not a date"
    assert problems.loc[4, "Column"] == "Loan Time"
    assert problems.loc[5, "Column"] == "MMS Id"
    assert "MMS Id in row 5" in problems.loc[5, "Problem"]
    assert problems.loc[6, "Problem"] == "Barcode is blank"
    assert problems.loc[7, "Problem"] == "Loan Date is blank"
    assert problems.loc[9, "Problem"] == "Loan Time is blank: midnight is used"
    assert sorted(problems.index) == [2, 3, 4, 5, 6, 7, 9]
    assert loans.loans["row"].tolist() == [8, 9]
    assert moments(loans) == [
        (pd.Timestamp("2025-09-05 23:00"), pd.Timestamp("2025-09-06 01:00")),
        (pd.Timestamp("2025-09-05 00:00"), pd.Timestamp("2025-09-06 01:00")),
    ]


def test_blank_call_number_is_its_own_volume() -> None:
    rows = [
        HEADER,
        ["T", MMS, "", "B1", "9/5/2025", "08:00:00", "9/5/2025", "10:00:00"],
        ["T", MMS, "", "B2", "9/5/2025", "09:00:00", "9/5/2025", "11:00:00"],
        ["T", MMS, "QA1", "B3", "9/5/2025", "09:00:00", "9/5/2025", "11:00:00"],
    ]
    stats = compute(read_loans(rows), as_of=dt.datetime(2025, 10, 1))
    by_call = stats.volumes.set_index("Permanent Call Number")
    assert by_call.loc["", "Copies"] == 2
    assert by_call.loc["", "Hours All Out"] == 1.0
    assert by_call.loc["QA1", "Copies"] == 1


def test_by_description_splits_multi_volume_sets() -> None:
    header = [*HEADER, "Description"]
    rows = [
        header,
        ["T", MMS, "QA1", "B1", "9/5/2025", "08:00:00", "9/5/2025", "10:00:00", "v.1"],
        ["T", MMS, "QA1", "B2", "9/5/2025", "09:00:00", "9/5/2025", "11:00:00", "v.2"],
    ]
    as_of = dt.datetime(2025, 10, 1)
    together = compute(read_loans(rows), as_of=as_of).volumes
    apart = compute(read_loans(rows, by_description=True), as_of=as_of).volumes
    assert (len(together), together["Peak Out"].iloc[0]) == (1, 2)
    assert sorted(apart["Description"]) == ["v.1", "v.2"]
    assert apart["Peak Out"].tolist() == [1, 1]
    with pytest.raises(InputError, match="Description column"):
        read_loans([HEADER, rows[1][:8]], by_description=True)


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="Return Date"):
        read_loans([HEADER[:6], ["T", MMS, "QA1", "B1", "9/5/2025", "08:00:00"]])


def test_items_and_requests_exports(tmp_path: Path) -> None:
    loans = tmp_path / "loans.csv"
    loans.write_text(
        "\n".join(
            [
                ",".join(HEADER),
                f"T,{MMS},QA1,B1,9/5/2025,08:00:00,9/5/2025,10:00:00",
                f"T,{MMS},QA1,B2,9/5/2025,09:00:00,9/5/2025,11:00:00",
            ]
        ),
        encoding="utf-8-sig",
    )
    items = tmp_path / "items.csv"
    items.write_text(f"MMS Id,Permanent Call Number,Barcode\n{MMS},QA1,B1\n{MMS},QA1,B2\n{MMS},QA1,B3\n")
    requests = tmp_path / "requests.csv"
    requests.write_text(f"MMS Id,Requests\n{MMS},4\n{OTHER},2\n{MMS},2\n")
    stats = compute(read_loans(loans, items=items, requests=requests), as_of=dt.datetime(2025, 10, 1))
    row = stats.volumes.iloc[0]
    assert (row["Copies"], row["Peak Out"], row["All Copies Out Episodes"]) == (3, 2, 0)
    assert (row["Requests"], row["Requests per Copy"]) == (6, 2.0)
    assert stats.items_source == "items.csv"


def big_csv(path: Path, rows: int = 600, encoding: str = "utf-8", title: str = "Title") -> Path:
    """A loans CSV with title rows, a bad date (line 11), a blank line (21) and a footer."""
    lines = ["Loans report", "", ",".join(HEADER)]
    for i in range(rows):
        day, hour = 1 + i % 28, i % 20
        lines.append(f'"{title}, {i % 7}",{MMS},QA{i % 5},B{i % 9},9/{day}/2025,{hour:02}:00:00,9/{day}/2025,'
                     f"{hour + 2:02}:30:00")  # fmt: skip
    lines[10] = f"T,{MMS},QA1,B1,9/99/2025,08:00:00,,"
    lines.insert(20, "")
    lines += ["", "Applied filters: none"]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def test_large_csv_fast_path_agrees_with_the_grid_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read_csv path for big files gives the same table, rows and problems as find_table(read_grid())."""
    monkeypatch.setattr(loans_module, "FAST_CSV_BYTES", 0)  # every file counts as big here
    path = big_csv(tmp_path / "big.csv")
    fast = loans_module._read_large_csv(path, LOAN_COLUMNS)
    assert fast is not None  # the fast path was taken, not the fallback
    slow = find_table(read_grid(path), LOAN_COLUMNS)
    assert fast.header_row == slow.header_row == 3
    assert fast.rows.tolist() == slow.rows.tolist()
    fast_loans, slow_loans = read_loans(path), read_loans(read_grid(path).values.values.tolist())
    assert fast_loans.loans.drop(columns="row").equals(slow_loans.loans.drop(columns="row"))
    assert fast_loans.problems["Row"].tolist() == slow_loans.problems["Row"].tolist() == [11]


def test_large_cp1252_csv_is_read_by_the_fast_path_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another encoding is decoded as the reader (tables) decides, then read fast, with the same rows."""
    monkeypatch.setattr(loans_module, "FAST_CSV_BYTES", 0)
    path = big_csv(tmp_path / "big.csv", encoding="cp1252", title="Les Misérables")
    fast = loans_module._read_large_csv(path, LOAN_COLUMNS)
    assert fast is not None and not fast.typed
    slow = find_table(read_grid(path), LOAN_COLUMNS)
    assert fast.rows.tolist() == slow.rows.tolist()
    loans = read_loans(path)
    assert loans.problems["Row"].tolist() == [slow.rows.iloc[7]]
    assert loans.loans["title"].iloc[0].startswith("Les Misérables")


def test_large_csv_with_a_multi_line_cell_falls_back_to_the_grid_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Line numbers would no longer be row numbers: the full path reads it, with the same rows."""
    monkeypatch.setattr(loans_module, "FAST_CSV_BYTES", 0)
    path = big_csv(tmp_path / "big.csv", title="Two\nlines")
    assert loans_module._read_large_csv(path, LOAN_COLUMNS) is None
    loans = read_loans(path)
    assert loans.problems["Row"].tolist() == [find_table(read_grid(path), LOAN_COLUMNS).rows.iloc[7]]
    assert loans.loans["title"].iloc[0].startswith("Two\nlines")


# --- the bad-input corpus: loans exports (tests/data/bad_input, written by make_corpus.py) -------------

BAD = Path(__file__).parent / "data" / "bad_input"
CORPUS_AS_OF = dt.datetime(2026, 6, 30, 23, 59)
#: the same four loans in every file: two copies out together on 5-6 September, one copy still out
SAME_LOANS = [
    (pd.Timestamp("2025-09-05 08:19:34"), pd.Timestamp("2025-09-05 11:08:31")),
    (pd.Timestamp("2025-09-05 09:00:00"), pd.Timestamp("2025-09-06 10:00:00")),
    (pd.Timestamp("2025-09-12 13:00:00"), pd.Timestamp("2025-10-03 13:00:00")),
    (pd.Timestamp("2025-09-14 08:00:00"), pd.NaT),
]


@pytest.mark.parametrize("name", ["loans_dates_us.csv", "loans_dates_iso.csv", "loans_dates_europe.csv"])
def test_corpus_three_date_formats_read_alike(name: str) -> None:
    loans = read_loans(BAD / name)
    assert loans.problems.empty, loans.problems.to_dict("records")
    assert moments(loans) == SAME_LOANS
    volume = compute(loans, as_of=CORPUS_AS_OF).volumes.iloc[0]
    assert (volume["Copies"], volume["Peak Out"], volume["All Copies Out Episodes"]) == (2, 2, 2)


def test_corpus_excel_date_and_time_cells_below_title_rows() -> None:
    loans = read_loans(BAD / "loans_excel_date_and_time_cells.xlsx")
    assert loans.problems.empty and loans.loans["row"].tolist() == [4, 5]
    assert moments(loans) == SAME_LOANS[:2]


#: file -> (row, column, words of the problem, words of the fix) for every row it must list, and no other
CORPUS_PROBLEMS = {
    "loans_problems.csv": [
        (2, "Return Date", "is before the loan", "next day"),
        (3, "Loan Date", "'31/31/2025' is not a date", "m/d/yyyy"),
        (4, "Loan Time", "'8 o'clock' is not a time", "HH:MM:SS"),
        (6, "Barcode", "Barcode is blank", ""),
        (7, "Loan Date", "Loan Date is blank", ""),
        (8, "Loan Time", "midnight is used", ""),
    ],
    "loans_damaged_ids.csv": [
        (
            2,
            "MMS Id",
            "MMS Id in row 2 was turned into a number by Excel and is shown as 9.96324E+17",
            "Correct the cell",
        ),
        (3, "MMS Id", "lost its last digits (996323661116094000)", "Correct the cell"),
    ],
    "loans_overlap_and_after_as_of.csv": [
        (
            3,
            "Loan Date",
            "overlaps the loan in row 2 of the same barcode B1; counted once",
            "remove the duplicate",
        ),
        (4, "Loan Date", "after the as-of moment 2026-06-30 23:59", "later --as-of"),
    ],
}


@pytest.mark.parametrize("name", sorted(CORPUS_PROBLEMS))
def test_corpus_loans_problems_name_row_column_and_fix(name: str) -> None:
    problems = compute(read_loans(BAD / name), as_of=CORPUS_AS_OF).problems
    listed = {(row.Row, row.Column): (row.Problem, row.Fix) for row in problems.itertuples()}
    assert sorted(listed) == sorted((row, column) for row, column, _, _ in CORPUS_PROBLEMS[name])
    for row, column, problem, fix in CORPUS_PROBLEMS[name]:
        assert problem in listed[row, column][0] and fix in listed[row, column][1], listed[row, column]
    assert set(problems["File"]) == {name}


# --- date order: day first, month first, told by the file or by --date-order --------------------------------


def uk_rows(*extra: list) -> list[list]:
    """A UK export: two copies both out for 23 hours from 5 September (05/09/2025), then ``extra`` rows."""
    return [
        HEADER,
        ["Book", MMS, "QA1", "B1", "05/09/2025", "10:00:00", "06/09/2025", "09:00:00"],
        ["Book", MMS, "QA1", "B2", "05/09/2025", "10:00:00", "06/09/2025", "09:00:00"],
        *extra,
    ]


def test_day_first_dates_told_by_a_day_over_12_and_said() -> None:
    loans = read_loans(
        uk_rows(["Book", OTHER, "QA2", "B3", "14/09/2025", "10:00:00", "13/10/2025", "10:00:00"])
    )
    assert loans.problems.empty
    assert moments(loans)[0] == (pd.Timestamp("2025-09-05 10:00"), pd.Timestamp("2025-09-06 09:00"))
    assert loans.notes == ["Dates read day first (dd/mm/yyyy): 2 dates had a day over 12"]
    stats = compute(loans, as_of=dt.datetime(2026, 1, 1))
    volume = stats.volumes.set_index("MMS Id").loc[MMS]
    assert volume["Hours All Out"] == 23.0  # not 743 (5 May to 6 June)
    assert stats.notes == loans.notes


def test_month_first_dates_told_by_a_second_field_over_12() -> None:
    rows = [HEADER, ["Book", MMS, "QA1", "B1", "9/5/2025", "10:00:00", "9/14/2025", "09:00:00"]]
    loans = read_loans(rows)
    assert moments(loans) == [(pd.Timestamp("2025-09-05 10:00"), pd.Timestamp("2025-09-14 09:00"))]
    assert loans.notes == ["Dates read month first (mm/dd/yyyy): 1 date had a day over 12"]


def test_all_ambiguous_dates_read_month_first_and_said_with_the_option() -> None:
    loans = read_loans(uk_rows())
    assert moments(loans)[0] == (pd.Timestamp("2025-05-09 10:00"), pd.Timestamp("2025-06-09 09:00"))
    (note,) = loans.notes
    assert note.startswith("Dates read month first (mm/dd/yyyy), Alma's US default")
    assert "--date-order dmy" in note and "DateOrder" in note
    told = read_loans(uk_rows(), date_order="dmy")
    assert moments(told)[0] == (pd.Timestamp("2025-09-05 10:00"), pd.Timestamp("2025-09-06 09:00"))
    assert told.notes == ["Dates read day first (dd/mm/yyyy), as the date order given says"]
    hours = compute(told, as_of=dt.datetime(2026, 1, 1)).volumes["Hours All Out"].iloc[0]
    assert hours == 23.0


def test_dates_written_both_ways_round_are_refused_naming_a_row_of_each() -> None:
    rows = uk_rows(
        ["Book", OTHER, "QA2", "B3", "14/09/2025", "10:00:00", "", ""],
        ["Book", OTHER, "QA2", "B4", "09/15/2025", "10:00:00", "", ""],
    )
    with pytest.raises(InputError) as caught:
        read_loans(rows)
    message = str(caught.value)
    assert "both ways round" in message
    assert "row 4 has Loan Date '14/09/2025'" in message and "row 5 has Loan Date '09/15/2025'" in message
    assert "--date-order dmy" in message
    # the user says which: the dates of the other order become problems, named with their row
    told = read_loans(rows, date_order="dmy")
    assert told.problems[["Row", "Column"]].values.tolist() == [[5, "Loan Date"]]
    assert "d/m/yyyy" in told.problems["Fix"].iloc[0]


def test_date_cells_and_iso_text_need_no_order() -> None:
    cells = [
        HEADER,
        ["Book", MMS, "QA1", "B1", dt.datetime(2025, 9, 5), "10:00:00", "2025-09-14", "09:00:00"],
    ]
    loans = read_loans(cells)
    assert loans.notes == [] and loans.problems.empty
    assert moments(loans) == [(pd.Timestamp("2025-09-05 10:00"), pd.Timestamp("2025-09-14 09:00"))]
    assert read_loans(cells, date_order="dmy").notes == []  # nothing was read in an order
    with pytest.raises(InputError, match="not one of mdy, dmy, ymd"):
        read_loans(cells, date_order="ydm")


def test_command_line_date_order_and_the_statement(tmp_path: Path) -> None:
    import contextlib
    import io

    from alma_tools.cli import main

    path = tmp_path / "uk.csv"
    path.write_text("\n".join(",".join(map(str, row)) for row in uk_rows()) + "\n", encoding="utf-8")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["concurrency", str(path), "--date-order", "dmy", "--as-of", "2026-01-01"])
    assert code == 0
    assert "Dates read day first (dd/mm/yyyy), as the date order given says" in printed.getvalue()
    assert "23.0 h all out" in printed.getvalue()


moment = st.datetimes(min_value=dt.datetime(2024, 1, 1), max_value=dt.datetime(2026, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(moment, st.integers(60, 40 * 86400)), min_size=1, max_size=12),
       st.sampled_from(["mdy", "dmy"]), st.booleans())  # fmt: skip
def test_property_text_dates_in_either_order_read_back_exactly(
    loans: list[tuple[dt.datetime, int]], order: str, zero_padded: bool
) -> None:
    """Written either way round, the dates come back exactly: told by the file when a day is over 12,
    by --date-order otherwise; the file is never read the wrong way round without saying so."""

    def written(moment: dt.datetime) -> tuple[str, str]:
        day, month = (f"{moment.day:02}", f"{moment.month:02}") if zero_padded else (moment.day, moment.month)
        date = f"{month}/{day}/{moment.year}" if order == "mdy" else f"{day}/{month}/{moment.year}"
        return date, f"{moment:%H:%M:%S}"

    rows = [HEADER]
    expected = []
    for number, (start, seconds) in enumerate(loans):
        end = start + dt.timedelta(seconds=seconds)
        rows.append(["T", MMS, "QA1", f"B{number}", *written(start), *written(end)])
        expected.append((pd.Timestamp(start), pd.Timestamp(end)))
    told_by_file = any(
        m.day > 12 and m.day != m.month for s, d in loans for m in (s, s + dt.timedelta(seconds=d))
    )
    read = read_loans(rows)
    (note,) = read.notes
    if told_by_file:
        assert note.startswith(f"Dates read {loans_module.ORDER_WORDS[order]}:")
        assert moments(read) == expected
    else:
        assert "no date has a day over 12" in note and "--date-order dmy" in note
        assert moments(read_loans(rows, date_order=order)) == expected


# --- one id rule with the discharge; barcodes that lost their leading zeros ---------------------------------

LOANS_HEADER = "Title,MMS Id,Permanent Call Number,Barcode,Loan Date,Loan Time,Return Date,Return Time"


def loans_csv(path: Path, barcodes: list[str]) -> Path:
    """One volume, each barcode lent once on 5 September 2025, 10:00-12:00 (all out at once)."""
    lines = [LOANS_HEADER] + [f"Book,{MMS},QA1,{b},9/5/2025,10:00:00,9/5/2025,12:00:00" for b in barcodes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def items_csv(path: Path, barcodes: list[str]) -> Path:
    lines = ["MMS Id,Permanent Call Number,Barcode"] + [f"{MMS},QA1,{b}" for b in barcodes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_barcode_check_is_the_discharges(tmp_path: Path) -> None:
    """A CSV cell may have been a number (<NA>, as in tables): a lost-zeros barcode is refused here too."""
    from alma_tools.ids import check_id_column

    path = loans_csv(tmp_path / "loans.csv", ["0123456780", "0123456781", "0123456782", "123456789"])
    table = find_table(read_grid(path), LOAN_COLUMNS)
    assert table.was_number("barcode").isna().all()
    discharge = check_id_column(
        table.text("barcode"),
        table.was_number("barcode"),
        label="Barcode",
        rows=table.rows,
        kind="barcode",
        suffix=None,
    )
    refused = discharge[discharge != ""]
    assert list(table.rows[refused.index]) == [5] and "0123456789" in refused.iloc[0]
    loans = read_loans(path)
    assert loans.problems[["Row", "Column"]].values.tolist() == [[5, "Barcode"]]
    assert loans.problems["Problem"].iloc[0] == refused.iloc[0]  # the very same words
    assert "123456789" not in set(loans.loans["barcode"])  # not counted as a fourth copy


def test_items_barcodes_that_lost_zeros_are_the_lent_copies(tmp_path: Path) -> None:
    """Items export saved through Excel (zeros gone), loans intact: 3 copies, not 5."""
    loans = loans_csv(tmp_path / "loans.csv", ["0123456789", "0123456790"])
    items = items_csv(tmp_path / "items.csv", ["123456789", "123456790", "123456791"])
    read = read_loans(loans, items=items)
    volume = compute(read, as_of=dt.datetime(2026, 1, 1)).volumes.iloc[0]
    assert volume["Copies"] == 3 and volume["Peak Out"] == 2 and volume["Hours All Out"] == 0
    listed = read.problems.sort_values("Row")
    assert listed["File"].tolist() == ["items.csv", "items.csv"] and listed["Row"].tolist() == [2, 3]
    assert listed["Problem"].iloc[0] == (
        "Barcode 123456789 lost its leading zeros (Excel): it is 0123456789 in the loans export, the same "
        "copy, and is counted as that copy"
    )
    assert not compute(read, as_of=dt.datetime(2026, 1, 1)).problems["Problem"].str.contains("not in").any()


def test_loans_barcode_that_lost_zeros_is_the_items_copy(tmp_path: Path) -> None:
    """A loans barcode the id check refuses on its own is counted as the copy the items export names."""
    loans = loans_csv(tmp_path / "loans.csv", ["0123456780", "0123456781", "0123456782", "123456789"])
    alone = read_loans(loans)
    assert alone.problems["Row"].tolist() == [5]  # refused without the items export: nothing says which copy
    items = items_csv(tmp_path / "items.csv", ["0123456780", "0123456781", "0123456782", "0123456789"])
    read = read_loans(loans, items=items)
    (problem,) = read.problems.itertuples()
    assert (problem.Row, problem.Column, problem.File) == (5, "Barcode", "loans.csv")
    assert "it is 0123456789 in the items export, the same copy" in problem.Problem
    stats = compute(read, as_of=dt.datetime(2026, 1, 1))
    volume = stats.volumes.iloc[0]
    assert (volume["Copies"], volume["Loans"], volume["Hours All Out"]) == (4, 4, 2.0)
    assert len(stats.problems) == 1  # no "lent but not in the items export"


def test_excel_serial_days_convert_both_ways_to_the_second() -> None:
    """The one Excel-date conversion: loans cells, the workbook writer and the Excel face's as-of use it."""
    from alma_tools.concurrency.loans import excel_serial_datetime, from_excel_serial, to_excel_serial

    days = pd.Series([45905.5, 45905.0 + (23 * 3600 + 59 * 60 + 59) / 86400, 1.0])
    moments = from_excel_serial(days)
    assert moments.tolist() == [
        pd.Timestamp("2025-09-05 12:00:00"),
        pd.Timestamp("2025-09-05 23:59:59"),
        pd.Timestamp("1899-12-31"),  # Excel says 1900-01-01: it counts a 29 Feb 1900 that never was
    ]
    assert to_excel_serial(moments).tolist() == pytest.approx(days.tolist(), abs=1e-9)
    assert excel_serial_datetime(46203.999305555555) == dt.datetime(2026, 6, 30, 23, 59)


def test_large_workbook_fast_path_agrees_with_find_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rows below the header taken at once give the same table, rows and loans as find_table."""
    sample = Path(__file__).parent / "data" / "loans_export.xlsx"
    grid = read_grid(sample)
    monkeypatch.setattr(loans_module, "FAST_GRID_ROWS", 0)
    fast = loans_module._read_large_grid(grid, LOAN_COLUMNS)
    assert fast is not None and fast.typed and fast.kind == "xlsx"
    slow = find_table(grid, LOAN_COLUMNS)
    assert fast.header_row == slow.header_row == 3
    assert fast.rows.tolist() == slow.rows.tolist()  # the footer row dropped alike
    assert fast.frame.reset_index(drop=True).equals(slow.frame.reset_index(drop=True))
    fast_loans = read_loans(sample)
    monkeypatch.setattr(loans_module, "FAST_GRID_ROWS", 10**9)
    slow_loans = read_loans(sample)
    assert fast_loans.loans.equals(slow_loans.loans) and fast_loans.problems.equals(slow_loans.problems)
