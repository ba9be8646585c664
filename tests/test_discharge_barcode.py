"""Barcode-only rows against the simulator over real sockets: two calls a row when the row has its library
and location (the ids come from the lookup's redirect), three when the item record must give them, and an
item named by ids in one row and by barcode in another scanned once."""

from __future__ import annotations

import pytest

from alma_tools.alma import AlmaClient
from alma_tools.alma.exceptions import AlmaError
from alma_tools.discharge.samples import make_items
from fixtures_simulator import TEST_KEY


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
