"""Every status a discharge writes is one :func:`is_our_status` recognises, so a rerun never takes our own
column for the user's notes: a run over damaged rows, duplicates, barcodes, unknown items and faults."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd

from alma_tools.alma import AlmaClient
from alma_tools.alma.retry import RetryPolicy
from alma_tools.discharge import DischargeOptions, Journal, make_plan, run_plan
from alma_tools.discharge.outcomes import KIND_WORDS, KINDS, is_our_status
from alma_tools.tables import ITEM_COLUMNS, LOCATION_COLUMNS, find_table, read_grid
from fixtures_simulator import TEST_KEY
from samples import make_items

DATA = Path(__file__).parent / "data"
QUICK = RetryPolicy(server_backoff=0.01, server_backoff_max=0.05, connect_backoff=0.01, server_attempts=2)


def test_every_status_of_a_run_with_problems_and_faults_is_ours(simulator, tmp_path: Path) -> None:
    frame = make_items(30, seed=41)
    sim = simulator(items=frame, fault_rate=0.3, faults=("500", "503", "drop"), seed=3)
    rows = frame.copy()
    rows.loc[1, "MMS Id"] = "9.93547E+17"  # damaged by Excel
    rows.loc[2, "Holding Id"] = ""  # missing
    rows.loc[3, "Location Code"] = "nowhere"  # no desk
    rows.loc[4, "Item Id"] = "239999999999993681"  # Alma has no such item
    rows.loc[5, ["MMS Id", "Holding Id", "Item Id"]] = ""  # barcode only
    rows.loc[6, ["MMS Id", "Holding Id", "Item Id", "Barcode"]] = ""  # nothing to go by
    rows = pd.concat([rows, rows.iloc[[7]]], ignore_index=True)  # the same item twice
    items = find_table(read_grid(rows), ITEM_COLUMNS)
    locations = find_table(read_grid(DATA / "locations.csv"), LOCATION_COLUMNS)
    options = DischargeOptions(rate=25.0)
    plan = make_plan(items, locations, options)
    with (
        Journal(tmp_path / "run") as journal,
        AlmaClient(base_url=sim.base_url, api_key=TEST_KEY, rate=25.0, retry=QUICK) as alma,
    ):
        outcomes = list(run_plan(plan, alma, journal, options, threading.Event()))
    assert len(outcomes) == len(rows)
    kinds = {o.kind for o in outcomes}
    # what Alma answers depends on which requests the faults hit; the plan's kinds are always there
    assert {"refused", "no_desk", "duplicate"} <= kinds and len(kinds) >= 5
    strangers = [o.status for o in outcomes if not is_our_status(o.status)]
    assert strangers == []
    for problem in plan.problems:  # what "Check sheet" writes into the status column
        assert is_our_status(problem.message), problem.message


def test_every_kind_has_its_words() -> None:
    assert set(KIND_WORDS) == set(KINDS)
