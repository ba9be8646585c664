"""The Locations table before any call: one place per location code, codes cleaned as in the items table,
and every missing desk or unknown library named by the dry run."""

from __future__ import annotations

from pathlib import Path

import pytest

from alma_tools.cli import main
from alma_tools.discharge import DischargeOptions, make_plan
from alma_tools.errors import InputError
from alma_tools.tables import ITEM_COLUMNS, LOCATION_COLUMNS, Table, find_table, read_grid
from fixtures_simulator import TEST_KEY
from samples import make_items

HEADER = ["MMS Id", "Holding Id", "Item Id", "Library Code", "Location Code"]
LOC_HEADER = ["Location Code", "Library Code", "Circulation Desk"]
DATA = Path(__file__).parent / "data"


def item(n: int, library: str = "MAIN", location: str = "stacks") -> list[str]:
    digits = f"{n:013d}"
    return [f"99{digits}3681", f"22{digits}3681", f"23{digits}3681", library, location]


def items_table(rows: list[list[object]]) -> Table:
    return find_table(read_grid([HEADER, *rows]), ITEM_COLUMNS)


def locations_table(rows: list[list[object]], name: str = "locations.csv") -> Table:
    return find_table(read_grid([LOC_HEADER, *rows], name=name), LOCATION_COLUMNS)


def plan_for(locations: list[list[object]], items: list[list[object]] | None = None):
    return make_plan(items_table(items or [item(1)]), locations_table(locations), DischargeOptions())


def test_one_code_with_two_desks_is_refused_naming_both_rows_and_desks() -> None:
    with pytest.raises(InputError) as caught:
        plan_for([["stacks", "MAIN", "DEFAULT_CIRC_DESK"], ["ref", "MAIN", "D"], ["STACKS", "MAIN", "OTHER"]])
    message = str(caught.value)
    assert "location 'stacks' in row 2 has desk 'DEFAULT_CIRC_DESK'" in message
    assert "'STACKS' in row 4 has desk 'OTHER'" in message
    assert "keep one line per location code" in message


def test_case_spaces_and_nbsp_do_not_hide_a_conflict_of_libraries() -> None:
    with pytest.raises(InputError, match=r"'stacks' in row 2 has library 'MAIN' but ' ?Stacks\xa0?' "):
        plan_for([["stacks", "MAIN", "D"], ["\xa0Stacks\xa0", "LAW", "D"]])


def test_identical_lines_are_fine() -> None:
    plan = plan_for([["stacks", "MAIN", "D"], ["STACKS ", "MAIN", "D"], ["stacks", "MAIN", "D"]])
    assert (plan.rows[0].library, plan.rows[0].circ_desk) == ("MAIN", "D")


def test_a_number_cell_is_the_code_the_items_table_would_read() -> None:
    # numbers as an XLSX reader gives them: 1030300.0 in the Locations table is the library 1030300
    plan = plan_for(
        [["k00040", 1030300.0, "D"]], [item(1, "1030300", "k00040"), item(2, 1030300.0, "k00040")]
    )
    assert [(r.library, r.circ_desk) for r in plan.rows] == [("1030300", "D"), ("1030300", "D")]


def test_a_text_decimal_code_is_refused_with_row_column_and_fix() -> None:
    with pytest.raises(InputError) as caught:
        plan_for([["stacks", "MAIN", "D"], ["k00040", "1030300.0", "D"]])
    assert str(caught.value) == (
        "The Locations table (locations.csv) has damaged codes: Library Code in row 3 of locations.csv "
        "is the text '1030300.0', a number saved with '.0': type the code as Alma has it (1030300) and "
        "run again"
    )


def test_the_summary_names_each_location_without_a_desk_with_counts_and_first_rows() -> None:
    rows = [item(n, "MAIN", "STACKS2" if n % 2 else "stacks") for n in range(1, 16)]
    rows.append(item(99, "MAIN", "stacks2 "))
    plan = plan_for([["stacks", "MAIN", "D"]], rows)
    lines = plan.summary().lines()
    assert (
        "STACKS2: 9 rows (rows 2, 4, 6, 8, 10, …) have no desk in locations.csv: add a line for it" in lines
    )
    assert plan.summary().to_send == 7


def test_the_summary_names_each_library_the_locations_table_does_not_have() -> None:
    plan = plan_for([["stacks", "MAIN", "D"]], [item(1), item(2, "LAW2"), item(3, "law2")])
    assert (
        "Library LAW2: 2 rows (rows 3, 4) name a library locations.csv does not have: check the Library "
        "Code, or add the library's locations"
    ) in plan.summary().lines()


def test_nothing_is_missing_when_every_row_has_its_desk() -> None:
    summary = plan_for([["stacks", "MAIN", "D"]], [item(1), item(2)]).summary()
    assert not summary.missing_desks and not summary.unknown_libraries
    assert not any("have no desk" in line for line in summary.lines())


def test_without_a_library_anywhere_a_row_with_ids_is_refused_and_a_barcode_row_asks_alma() -> None:
    header = ["Item Id", "MMS Id", "Holding Id", "Barcode", "Location Code"]
    ids = item(1)
    rows = [[ids[2], ids[0], ids[1], "", "stacks"], ["", "", "", "B7", "stacks"]]
    two_columns = find_table(
        read_grid([["location_code", "circ_desk"], ["stacks", "D"]], name="old.csv"), LOCATION_COLUMNS
    )
    plan = make_plan(find_table(read_grid([header, *rows]), ITEM_COLUMNS), two_columns, DischargeOptions())
    refused = plan.rows[0].decided
    assert refused is not None and refused.kind == "no_desk"
    assert refused.status == "Row 2 has no Library Code: fill it in (the scan-in is sent for a library)"
    asks = plan.rows[1]
    assert asks.decided is None and asks.lookup is not None and asks.lookup.needs_item
    assert asks.circ_desk == "D"


def test_the_corpus_locations_table_with_one_code_twice_is_refused_before_any_call() -> None:
    bad = Path(__file__).parent / "data" / "bad_input" / "locations_duplicate_and_blank_desk.csv"
    locations = find_table(read_grid(bad), LOCATION_COLUMNS)
    with pytest.raises(InputError) as caught:
        make_plan(items_table([item(1)]), locations, DischargeOptions())
    assert (
        "location 'stacks' in row 2 has desk 'DEFAULT_CIRC_DESK' but 'stacks' in row 4 has desk "
        "'RESERVES_DESK'"
    ) in str(caught.value)


@pytest.mark.parametrize("dry_run", [True, False])
def test_the_dry_run_and_the_real_run_both_name_the_missing_desk(
    dry_run: bool, simulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    frame = make_items(3, seed=31)
    frame["Temporary Location Code"] = ""
    frame.loc[[0, 2], "Location Code"] = "STACKS2"
    sim = simulator(items=frame)
    path = tmp_path / "items.csv"
    frame.to_csv(path, index=False)
    monkeypatch.setenv("ALMA_API_KEY", TEST_KEY)
    arguments = [
        "discharge",
        str(path),
        "--locations",
        str(DATA / "locations.csv"),
        "--base-url",
        sim.base_url,
    ]
    main([*arguments, "--dry-run"] if dry_run else arguments)
    printed = capsys.readouterr().out
    assert "STACKS2: 2 rows (rows 2, 4) have no desk in locations.csv: add a line for it" in printed
    assert ("Dry run" in printed) is dry_run
