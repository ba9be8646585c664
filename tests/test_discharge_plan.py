"""Deciding each row before any call: desk choice, damaged ids, duplicates, barcode-only rows, done rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from alma_tools.discharge import DischargeOptions, make_plan
from alma_tools.discharge.outcomes import is_our_status, is_true_word
from alma_tools.errors import InputError
from alma_tools.tables import ITEM_COLUMNS, LOCATION_COLUMNS, Table, find_table, read_grid
from samples import LIBRARIES, make_items

HEADER = [
    "MMS Id",
    "Holding Id",
    "Item Id",
    "Barcode",
    "Library Code",
    "Location Code",
    "Temporary Location Code",
]
A = ["991111111111113681", "221111111111113681", "231111111111113681", "B1", "MAIN", "stacks", ""]
B = ["992222222222223681", "222222222222223681", "232222222222223681", "B2", "MAIN", "stacks", "resv"]
C = ["993333333333333681", "223333333333333681", "233333333333333681", "B3", "LAW", "lawstk", "resv"]
LOCATIONS = [
    ["Location Code", "Library Code", "Circulation Desk"],
    ["stacks", "MAIN", "DEFAULT_CIRC_DESK"],
    ["resv", "MAIN", "RESERVES_DESK"],
    ["lawstk", "LAW", "LAW_DESK"],
]


def items_table(rows: list[list[str]], header: list[str] = HEADER) -> Table:
    return find_table(read_grid([header, *rows]), ITEM_COLUMNS)


def locations_table(rows: list[list[str]] = LOCATIONS) -> Table:
    return find_table(read_grid(rows), LOCATION_COLUMNS)


def decided(plan, row: int):
    return next(r for r in plan.rows if r.row == row)


def test_auto_uses_the_temporary_location_when_the_row_has_one() -> None:
    plan = make_plan(items_table([A, B, C]), locations_table(), DischargeOptions())
    a, b, c = (decided(plan, n) for n in (2, 3, 4))
    assert (a.location, a.library, a.circ_desk) == ("stacks", "MAIN", "DEFAULT_CIRC_DESK")
    assert (b.location, b.library, b.circ_desk) == ("resv", "MAIN", "RESERVES_DESK")
    # a LAW item in MAIN's reserve room is scanned at the reserve room's desk, in the reserve room's library
    assert (c.location, c.library, c.circ_desk) == ("resv", "MAIN", "RESERVES_DESK")
    assert all(r.decided is None for r in plan.rows)


def test_location_type_perm_and_temp_force_one_location() -> None:
    perm = make_plan(items_table([A, B, C]), locations_table(), DischargeOptions(location_type="perm"))
    assert [(r.location, r.library, r.circ_desk) for r in perm.rows] == [
        ("stacks", "MAIN", "DEFAULT_CIRC_DESK"),
        ("stacks", "MAIN", "DEFAULT_CIRC_DESK"),
        ("lawstk", "LAW", "LAW_DESK"),
    ]
    temp = make_plan(items_table([A, B, C]), locations_table(), DischargeOptions(location_type="temp"))
    first = decided(temp, 2).decided
    assert first is not None and first.kind == "no_desk"
    assert first.status == "Row 2 has no Temporary Location Code: use location type auto or perm"
    assert decided(temp, 3).circ_desk == "RESERVES_DESK"


def test_old_two_column_locations_table_takes_the_library_from_the_row() -> None:
    old = locations_table([["location_code", "circ_desk"], ["stacks", "DESK_A"], ["lawstk", "DESK_L"]])
    plan = make_plan(items_table([A, C]), old, DischargeOptions(location_type="perm"))
    assert [(r.library, r.circ_desk) for r in plan.rows] == [("MAIN", "DESK_A"), ("LAW", "DESK_L")]


def test_location_without_desk_is_reported_and_never_dropped() -> None:
    old = locations_table([["location_code", "circ_desk"], ["stacks", "DEFAULT_CIRC_DESK"]])
    plan = make_plan(items_table([A, B]), old, DischargeOptions())
    assert len(plan.rows) == 2
    outcome = decided(plan, 3).decided
    assert outcome is not None and outcome.kind == "no_desk" and not outcome.done
    assert outcome.status == "No desk for location 'resv' (library MAIN): add it to the Locations table"
    assert [(p.row, p.column, p.kind) for p in plan.problems] == [(3, "temp_location_code", "no_desk")]
    assert [r.row for r in plan.to_send] == [2]


def test_codes_match_whatever_their_case_and_spaces() -> None:
    shouted = [*A[:4], " MAIN ", "STACKS", ""]
    plan = make_plan(items_table([shouted]), locations_table(), DischargeOptions())
    assert (plan.rows[0].library, plan.rows[0].circ_desk) == ("MAIN", "DEFAULT_CIRC_DESK")


def test_same_item_twice_is_scanned_once() -> None:
    plan = make_plan(items_table([A, B, A, A]), locations_table(), DischargeOptions())
    assert [r.row for r in plan.to_send] == [2, 3]
    for row in (4, 5):
        outcome = decided(plan, row).decided
        assert outcome is not None and outcome.kind == "duplicate" and outcome.status == "Same item as row 2"


def test_barcode_only_rows_are_keyed_by_barcode() -> None:
    header = ["Barcode", "Library Code", "Location Code"]
    plan = make_plan(
        items_table([["0123456789", "MAIN", "stacks"], ["X9", "MAIN", "stacks"]], header),
        locations_table(),
        DischargeOptions(),
    )
    assert [r.key for r in plan.to_send] == ["barcode:0123456789", "barcode:X9"]
    assert plan.summary().barcode_only == 2
    assert "2 of them have only a barcode" in str(plan.summary())


@pytest.mark.parametrize("order", ["ids first", "barcode first"])
def test_a_barcode_row_for_an_item_another_row_has_by_ids_is_its_duplicate(order: str) -> None:
    barcode_row = ["", "", "", A[3], "MAIN", "stacks", ""]
    rows = [A, barcode_row, B] if order == "ids first" else [barcode_row, A, B]
    plan = make_plan(items_table(rows), locations_table(), DischargeOptions())
    ids_row, barcode_at = (2, 3) if order == "ids first" else (3, 2)
    outcome = decided(plan, barcode_at).decided
    assert outcome is not None and (outcome.kind, outcome.status) == (
        "duplicate",
        f"Same item as row {ids_row}",
    )
    assert sorted(r.row for r in plan.to_send) == [ids_row, 4]
    assert plan.summary().barcode_only == 0  # no lookup needed


def test_row_without_item_id_or_barcode_and_missing_holding_are_refused() -> None:
    no_id = ["", "", "", "", "MAIN", "stacks", ""]
    no_holding = [A[0], "", *A[2:]]
    plan = make_plan(items_table([no_id, no_holding]), locations_table(), DischargeOptions())
    first, second = (decided(plan, n).decided for n in (2, 3))
    assert first is not None and first.status == "Row 2 has no Item Id and no Barcode: fill one of them in"
    assert second is not None and second.kind == "refused"
    assert second.status == "Holding Id is empty in row 3: fill it in (export it with the Holding Id column)"


def test_rows_marked_done_in_the_file_are_skipped_keeping_their_status() -> None:
    header = [*HEADER, "done", "status"]
    rows = [[*A, "TRUE", "Returned; reshelve to Main stacks"], [*B, "", ""], [*C, "True", ""]]
    plan = make_plan(items_table(rows, header), locations_table(), DischargeOptions())
    assert [r.row for r in plan.to_send] == [3]
    assert decided(plan, 2).decided.status == "Returned; reshelve to Main stacks"
    assert decided(plan, 4).decided.status == "Done in an earlier run"
    assert {decided(plan, n).decided.kind for n in (2, 4)} == {"skipped_done"}
    assert all(decided(plan, n).decided.done for n in (2, 4))  # a rerun keeps the file's done=TRUE


def test_damaged_sample_refuses_each_damaged_row_with_row_column_and_fix(data_dir: Path) -> None:
    items = find_table(read_grid(data_dir / "items_excel_damaged.csv"), ITEM_COLUMNS)
    plan = make_plan(
        items, find_table(read_grid(data_dir / "locations.csv"), LOCATION_COLUMNS), DischargeOptions()
    )
    raw = pd.read_csv(
        data_dir / "items_excel_damaged.csv", dtype=str, encoding="cp1252", keep_default_na=False
    )
    raw.index = raw.index + 2  # CSV line of each record (header on line 1)
    ids = raw[["MMS Id", "Holding Id", "Item Id"]]
    intact = ids.apply(lambda col: col.str.fullmatch(r"\d{16,19}") & col.str.endswith("3681")).all(axis=1)
    blank = (raw == "").all(axis=1)
    assert sorted(r.row for r in plan.to_send) == sorted(raw.index[intact & ~blank])
    refused = {r.row: r.decided for r in plan.rows if r.decided is not None}
    assert sorted(refused) == sorted(raw.index[~intact & ~blank])
    assert all(o.kind == "refused" and not o.done for o in refused.values())
    # the wording: what Excel did, the row, the column, the value as shown, and the fix
    assert refused[2].status.startswith(
        "MMS Id in row 2 was turned into a number by Excel and is shown as 9.93547E+17, "
        "so its digits are lost: export"
    )
    assert refused[3].status.startswith(
        "MMS Id in row 3 was turned into a number by Excel and lost its last digits (990636224614163000)"
    )
    assert "export" in refused[3].status and "as Text" in refused[3].status
    # every damaged cell is listed for the Excel face, each naming its row and its column
    columns = {"mms_id": "MMS Id", "holding_id": "Holding Id", "item_id": "Item Id"}
    for problem in plan.problems:
        assert problem.message.startswith(f"{columns[problem.column]} in row {problem.row} ")
    assert {(p.row, p.column) for p in plan.problems} == {
        (row, key)
        for key, label in columns.items()
        for row in raw.index[~blank]
        if not (ids.loc[row, label].isdigit() and ids.loc[row, label].endswith("3681"))
    }
    summary = str(plan.summary())
    assert "24 rows ids damaged or missing (not sent): rows 2, 3, 5, 6, 8, …" in summary


def test_xlsx_export_gives_the_same_plan_as_the_csv(data_dir: Path) -> None:
    locations = find_table(read_grid(data_dir / "locations.csv"), LOCATION_COLUMNS)
    from_csv = make_plan(
        find_table(read_grid(data_dir / "items_to_discharge.csv"), ITEM_COLUMNS),
        locations,
        DischargeOptions(),
    )
    from_xlsx = make_plan(
        find_table(read_grid(data_dir / "items_to_discharge.xlsx"), ITEM_COLUMNS),
        locations,
        DischargeOptions(),
    )
    strip = [(r.key, r.mms_id, r.holding_id, r.library, r.circ_desk) for r in from_csv.rows]
    assert strip == [(r.key, r.mms_id, r.holding_id, r.library, r.circ_desk) for r in from_xlsx.rows]
    assert len(from_xlsx.to_send) == 300
    summary = from_xlsx.summary()
    assert sum(n for _, _, n in summary.by_desk) == 300
    assert ("MAIN", "RESERVES_DESK", 24) in summary.by_desk


def test_generated_items_are_valid_alma_ids() -> None:
    frame = make_items(400, seed=3)
    assert frame.equals(make_items(400, seed=3))
    for column, prefix in (("MMS Id", "99"), ("Holding Id", "22"), ("Item Id", "23")):
        values = frame[column]
        assert values.str.fullmatch(rf"{prefix}\d{{10,13}}3681").all()
        assert values.is_unique
    assert frame["Barcode"].is_unique
    items = find_table(read_grid(frame), ITEM_COLUMNS)
    desks = [[loc, lib, "D"] for lib, (locs, resv) in LIBRARIES.items() for loc in (*locs, resv)]
    locations = locations_table([["Location Code", "Library Code", "Circulation Desk"], *desks])
    plan = make_plan(items, locations, DischargeOptions())
    assert len(plan.to_send) == 400


def test_hidden_rows_are_left_alone_and_counted_unless_included() -> None:
    header = [*HEADER, "done", "status"]
    items = items_table([[*A, "", ""], [*B, "", "old words"], [*C, "", ""]], header)
    items.hidden = pd.Series([False, True, False], index=items.frame.index)  # the reader's flags
    plan = make_plan(items, locations_table(), DischargeOptions())
    assert [r.row for r in plan.to_send] == [2, 4]
    left = decided(plan, 3).decided
    assert left is not None and (left.kind, left.status, left.done) == ("hidden", "old words", False)
    assert left.left_alone and not left.failed
    assert (
        "1 row hidden by a filter or by hand was left alone (use --include-hidden to send them)"
        in plan.summary().lines()
    )
    everything = make_plan(items, locations_table(), DischargeOptions(include_hidden=True))
    assert [r.row for r in everything.to_send] == [2, 3, 4]


def test_rows_hidden_in_a_workbook_are_left_alone(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    sheet = book.active
    for values in (HEADER, A, B, C):
        sheet.append(values)
    sheet.row_dimensions[3].hidden = True  # B, hidden by hand (a filter hides rows the same way)
    book.save(tmp_path / "items.xlsx")
    items = find_table(read_grid(tmp_path / "items.xlsx"), ITEM_COLUMNS)
    plan = make_plan(items, locations_table(), DischargeOptions())
    assert [r.row for r in plan.to_send] == [2, 4]
    assert decided(plan, 3).decided.kind == "hidden"


def test_a_hidden_row_keeps_its_done_cell_and_its_problems_are_not_marked() -> None:
    header = [*HEADER, "done", "status"]
    damaged = ["9.93547E+17", *A[1:]]
    items = items_table([[*A, "x", "Returned; reshelve to Main stacks"], [*damaged, "", ""]], header)
    items.hidden = pd.Series([True, True], index=items.frame.index)
    plan = make_plan(items, locations_table(), DischargeOptions())
    first, second = (decided(plan, n).decided for n in (2, 3))
    assert (first.kind, first.done, first.status) == ("hidden", True, "Returned; reshelve to Main stacks")
    assert (second.kind, second.done) == ("hidden", False)
    assert plan.problems == [] and plan.to_send == []


def test_a_hidden_row_does_not_make_a_visible_one_a_duplicate() -> None:
    items = items_table([A, A])
    items.hidden = pd.Series([True, False], index=items.frame.index)
    plan = make_plan(items, locations_table(), DischargeOptions())
    assert [r.row for r in plan.to_send] == [3]


def test_rows_the_reader_found_damaged_are_refused_with_its_words() -> None:
    items = items_table([A, B])
    reader = "has one cell more than the header (column H: 'x'): …; the row is not sent until then"
    words = "Row 3 " + reader
    items.row_problems = pd.Series(["", reader], index=items.frame.index)
    plan = make_plan(items, locations_table(), DischargeOptions())
    refused = decided(plan, 3).decided
    assert refused is not None and (refused.kind, refused.status) == ("damaged_row", words)
    assert [(p.row, p.column, p.message) for p in plan.problems] == [(3, "", words)]
    assert [r.row for r in plan.to_send] == [2]


def test_options_carry_the_sheet_and_hidden_choice() -> None:
    options = DischargeOptions(sheet="Items", include_hidden=True)
    assert (options.sheet, options.include_hidden) == ("Items", True)
    assert (DischargeOptions().sheet, DischargeOptions().include_hidden) == (None, False)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"rate": 30}, "Alma allows 25 per institution"),
        ({"location_type": "temporary"}, "is not one of auto"),
    ],
)
def test_impossible_options_are_refused_in_plain_words(options: dict, words: str) -> None:
    with pytest.raises(InputError, match=words):
        DischargeOptions(**options)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "Returned; reshelve to Main stacks",
        "Returned (confirmed after an interrupted run); in transit to Law Library — set aside",
        "Was not on loan; nothing changed",
        "Done in an earlier run",
        "Same item as row 12",
        "Stopped before this row",
        "Stopped: Alma's daily API limit is nearly used up (900 calls left); run again after midnight",
        "Alma error 401689: Alma has no item with this barcode; check row 5",
        "Alma did not answer; this row will be checked (not re-sent) on the next run",
        "Could not reach Alma (the connection was refused); nothing was sent: run again to finish this row",
        "No desk for location 'resv' (library MAIN): add it to the Locations table",
        "Alma at alma.example.org could not be reached (the connection was refused); nothing was sent: run "
        "again to finish this row",
        "Lost contact with Alma at row 7; nothing after it was sent; run again to finish",
        "Row 2 has no Item Id and no Barcode: fill one of them in",
        "Row 9 has a value right of the header's last column (H9: 'x'): give that column a header or clear "
        "the cell; the row is not sent until then",
        "MMS Id is empty in row 3: fill it in (export it with the MMS Id column)",
        "MMS Id in row 2 was turned into a number by Excel and is shown as 9.93547E+17, so its digits are "
        "lost: x",
    ],
)
def test_every_status_we_write_is_ours(text: str) -> None:
    assert is_our_status(text)


@pytest.mark.parametrize(
    "text",
    [
        "Claims returned - see ticket 4711",
        "Returned to vendor",
        "Found in row 3 of shelf B",
        "lost",
        "Stopped",
    ],
)
def test_a_users_own_note_is_not_ours(text: str) -> None:
    assert not is_our_status(text)


def test_one_set_of_words_means_true_in_the_done_column() -> None:
    assert all(is_true_word(w) for w in ("TRUE", " y ", "x", "Done", "WAHR", "vrai", "1"))
    assert not any(is_true_word(w) for w in ("", "FALSE", "no", "0", None))
