"""Barcode-only rows against the simulator over real sockets: two calls a row when the row has its library
and location (the ids come from the lookup's redirect), three when the item record must give them, and an
item named by ids in one row and by barcode in another scanned once."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from alma_tools.alma import AlmaClient
from alma_tools.alma.exceptions import AlmaError
from alma_tools.discharge import DischargeOptions, Journal, Outcome, make_plan, run_plan
from alma_tools.tables import ITEM_COLUMNS, LOCATION_COLUMNS, find_table, read_grid
from fixtures_simulator import TEST_KEY
from samples import make_items

DATA = Path(__file__).parent / "data"


def test_the_ids_come_from_the_redirect_in_one_request(simulator) -> None:
    frame = make_items(3, seed=21)
    sim = simulator(items=frame)
    with AlmaClient(base_url=sim.base_url, api_key=TEST_KEY) as alma:
        before = sim.stats()["requests"]
        for _, row in frame.iterrows():
            ids = alma.item_ids_by_barcode(row["Barcode"])
            assert ids == (row["MMS Id"], row["Holding Id"], row["Item Id"])
        assert sim.stats()["requests"] - before == 3
        item = alma.item_by_barcode(frame.iloc[0]["Barcode"])  # the lookup followed: two requests
        assert item.item_id == frame.iloc[0]["Item Id"]
        assert sim.stats()["requests"] - before == 5


def test_an_unknown_barcode_is_alma_s_error(simulator) -> None:
    sim = simulator(items=make_items(2, seed=22))
    with AlmaClient(base_url=sim.base_url, api_key=TEST_KEY) as alma, pytest.raises(AlmaError) as caught:
        alma.item_ids_by_barcode("NOSUCH42")
    assert caught.value.code == "401689"


LOCATIONS = DATA / "locations.csv"


def plan_rows(frame: pd.DataFrame, **options: object):
    items = find_table(read_grid(frame), ITEM_COLUMNS)
    locations = find_table(read_grid(LOCATIONS), LOCATION_COLUMNS)
    return make_plan(items, locations, DischargeOptions(rate=25.0, **options))


def run(sim, plan) -> dict[int, Outcome]:
    with AlmaClient(base_url=sim.base_url, api_key=TEST_KEY, rate=25.0) as alma:
        outcomes = list(run_plan(plan, alma, None, DischargeOptions(rate=25.0), threading.Event()))
    rows = [o.row for o in outcomes]
    assert len(rows) == len(set(rows)) == len(plan.rows), "one outcome per row"
    return {o.row: o for o in outcomes}


def barcode_only(frame: pd.DataFrame, *, place: bool) -> pd.DataFrame:
    """The rows as a barcode export: with their library and location, or with the barcode alone."""
    columns = ["Barcode", "Library Code", "Location Code"] if place else ["Barcode"]
    return frame[columns].copy()


def test_fifty_barcode_rows_with_library_and_location_cost_two_calls_each(simulator) -> None:
    frame = make_items(50, seed=23)
    frame["Temporary Location Code"] = ""
    sim = simulator(items=frame)
    plan = plan_rows(barcode_only(frame, place=True))
    assert "50 of them have only a barcode (looked up first: two calls each)." in plan.summary().lines()
    before = sim.stats()["requests"]
    outcomes = run(sim, plan)
    assert sim.stats()["requests"] - before == 100
    assert all(o.done and o.status.startswith("Returned") for o in outcomes.values())
    assert sim.stats()["scans"] == {item_id: 1 for item_id in frame["Item Id"]}


def test_barcode_rows_without_a_place_take_it_from_the_item_record(simulator) -> None:
    frame = make_items(6, seed=24)
    sim = simulator(items=frame)
    plan = plan_rows(barcode_only(frame, place=False))
    assert [r.circ_desk for r in plan.to_send] == [""] * 6  # chosen at run time
    assert "three calls each" in str(plan.summary())
    before = sim.stats()["requests"]
    outcomes = run(sim, plan)
    assert sim.stats()["requests"] - before == 18
    assert all(o.done for o in outcomes.values()), outcomes
    assert sim.stats()["scans"] == {item_id: 1 for item_id in frame["Item Id"]}
    assert sim.stats()["in_house_uses"] == 0


def test_a_barcode_row_whose_item_is_not_on_loan_is_left_as_it_is(simulator) -> None:
    frame = make_items(2, seed=25)
    sim = simulator(items=frame)
    first = frame.iloc[0]
    with AlmaClient(base_url=sim.base_url, api_key=TEST_KEY) as alma:  # returned already
        alma.scan_in(
            first["MMS Id"],
            first["Holding Id"],
            first["Item Id"],
            library=first["Library Code"],
            circ_desk="DEFAULT_CIRC_DESK",
        )
    outcomes = run(sim, plan_rows(barcode_only(frame, place=False)))
    assert (outcomes[2].kind, outcomes[2].status) == ("not_on_loan", "Was not on loan; nothing changed")
    assert sim.stats()["scans"].get(first["Item Id"]) == 1  # only the scan made above


def test_the_same_item_by_ids_and_by_barcode_is_scanned_once(simulator) -> None:
    """The plan matches a barcode to a row that has it beside its ids; here the id rows lack it."""
    frame = make_items(4, seed=26)
    frame["Temporary Location Code"] = ""
    sim = simulator(items=frame)
    by_ids = frame.iloc[[0, 1]].assign(Barcode="")  # without their barcodes: only the run can match them
    by_barcode = barcode_only(frame.iloc[[2, 0, 3, 1]], place=True)  # rows 4-7: items 2, 0, 3, 1
    by_barcode.loc[by_barcode.index[3], ["Library Code", "Location Code"]] = ""  # row 7: the record's place
    rows = pd.concat([by_ids, by_barcode], ignore_index=True).fillna("")
    outcomes = run(sim, plan_rows(rows))
    assert (outcomes[5].kind, outcomes[5].status, outcomes[5].done) == (
        "duplicate",
        "Same item as row 2",
        False,
    )
    assert (outcomes[7].kind, outcomes[7].status) == ("duplicate", "Same item as row 3")
    assert all(outcomes[row].done for row in (2, 3, 4, 6))
    assert sim.stats()["scans"] == {item_id: 1 for item_id in frame["Item Id"]}


def test_the_barcode_row_first_in_the_file_still_leaves_the_scan_to_the_row_with_ids(simulator) -> None:
    frame = make_items(1, seed=27)
    frame["Temporary Location Code"] = ""
    sim = simulator(items=frame)
    by_ids = frame.assign(Barcode="")
    rows = pd.concat([barcode_only(frame, place=True), by_ids], ignore_index=True).fillna("")
    outcomes = run(sim, plan_rows(rows))
    assert (outcomes[2].kind, outcomes[2].status) == ("duplicate", "Same item as row 3")
    assert outcomes[3].done
    assert sim.stats()["scans"] == {frame.iloc[0]["Item Id"]: 1}


def test_a_barcode_row_whose_item_sits_where_no_desk_is_known_is_not_scanned(simulator, tmp_path) -> None:
    frame = make_items(3, seed=28)
    frame["Temporary Location Code"] = ""
    sim = simulator(items=frame)
    known = pd.read_csv(LOCATIONS, dtype=str)
    lacking = frame.iloc[0]["Location Code"]
    (tmp_path / "locations.csv").write_text(
        known[known["Location Code"] != lacking].to_csv(index=False), encoding="utf-8"
    )
    items = find_table(read_grid(barcode_only(frame, place=False)), ITEM_COLUMNS)
    locations = find_table(read_grid(tmp_path / "locations.csv"), LOCATION_COLUMNS)
    plan = make_plan(items, locations, DischargeOptions(rate=25.0))
    outcomes = run(sim, plan)
    assert outcomes[2].kind == "no_desk" and not outcomes[2].done
    assert outcomes[2].status == (
        f"No desk for location '{lacking}' (library {frame.iloc[0]['Library Code']}), where Alma has the "
        f"item with barcode {frame.iloc[0]['Barcode']}: add it to the Locations table"
    )
    assert frame.iloc[0]["Item Id"] not in sim.stats()["scans"]


def test_with_the_old_two_column_table_the_library_comes_from_the_item_record(simulator) -> None:
    frame = make_items(4, seed=29)
    frame["Temporary Location Code"] = ""
    frame = frame[frame["Location Code"].isin(pd.read_csv(DATA / "locations_to_circ.csv")["location_code"])]
    assert len(frame) >= 2
    sim = simulator(items=frame)
    items = find_table(read_grid(frame[["Barcode", "Location Code"]]), ITEM_COLUMNS)
    locations = find_table(read_grid(DATA / "locations_to_circ.csv"), LOCATION_COLUMNS)
    plan = make_plan(items, locations, DischargeOptions(rate=25.0))
    assert all(r.lookup is not None and r.lookup.needs_item for r in plan.to_send)
    before = sim.stats()["requests"]
    outcomes = run(sim, plan)
    assert sim.stats()["requests"] - before == 3 * len(frame)
    assert all(o.done for o in outcomes.values()), outcomes
    assert sim.stats()["scans"] == {item_id: 1 for item_id in frame["Item Id"]}


@pytest.mark.parametrize("place", [True, False])
def test_a_barcode_row_sent_before_a_kill_is_checked_not_scanned_again(simulator, tmp_path, place) -> None:
    frame = make_items(1, seed=30)
    frame["Temporary Location Code"] = ""
    sim = simulator(items=frame)
    first = frame.iloc[0]
    ids = (first["MMS Id"], first["Holding Id"], first["Item Id"])
    # the run that was killed: its sent line is on disk, and Alma carried the scan out
    with Journal(tmp_path / "run") as journal:
        journal.sent(f"barcode:{first['Barcode']}", 2, ids)
    with AlmaClient(base_url=sim.base_url, api_key=TEST_KEY) as alma:
        alma.scan_in(*ids, library=first["Library Code"], circ_desk="DEFAULT_CIRC_DESK")
    plan = plan_rows(barcode_only(frame, place=place))
    with (
        Journal(tmp_path / "run") as journal,
        AlmaClient(base_url=sim.base_url, api_key=TEST_KEY, rate=25.0) as alma,
    ):
        outcomes = list(run_plan(plan, alma, journal, DischargeOptions(rate=25.0), threading.Event()))
    assert len(outcomes) == 1 and outcomes[0].done
    assert outcomes[0].status.startswith("Returned (confirmed after an interrupted run)")
    assert sim.stats()["scans"] == {first["Item Id"]: 1}
