"""The whole-column sweep against hand-worked answers and against the brute-force reference."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alma_tools.concurrency import CSV_COLUMNS, compute
from test_concurrency_reference import H, Loan, brute_force, loans_input

EPOCH = dt.datetime(1970, 1, 1)


def at(seconds: int) -> dt.datetime:
    return EPOCH + dt.timedelta(seconds=seconds)


def figures(loans: list[Loan], as_of: int, **kwargs) -> dict:
    """compute()'s volume table as {volume: row dict}."""
    stats = compute(loans_input(loans, **kwargs), as_of=at(as_of))
    return {row["MMS Id"]: row for row in stats.volumes.to_dict("records")}


def summary(row: dict) -> tuple:
    return (
        row["Copies"],
        row["Peak Out"],
        row["Concurrent Episodes"],
        round(row["Hours 2+ Out"], 6),
        row["All Copies Out Episodes"],
        round(row["Hours All Out"], 6),
    )


@pytest.mark.parametrize(
    "loans",
    [
        [("v", "a", 10 * H, 12 * H), ("v", "b", 11 * H, 13 * H)],
        [("v", "b", 11 * H, 13 * H), ("v", "a", 10 * H, 12 * H)],  # rows in the other order
        [("v", "a", 11 * H, 13 * H), ("v", "b", 10 * H, 12 * H)],  # the other copy first
    ],
)
def test_two_copies_overlapping_in_either_order(loans: list[Loan]) -> None:
    assert summary(figures(loans, 20 * H)["v"]) == (2, 2, 1, 1.0, 1, 1.0)


def test_three_copies_all_out() -> None:
    loans = [("v", "a", 9 * H, 12 * H), ("v", "b", 10 * H, 13 * H), ("v", "c", 11 * H, 14 * H)]
    assert summary(figures(loans, 20 * H)["v"]) == (3, 3, 1, 3.0, 1, 1.0)


def test_overlap_between_second_and_third_copy_only() -> None:
    loans = [("v", "a", 8 * H, 9 * H), ("v", "b", 10 * H, 12 * H), ("v", "c", 11 * H, 13 * H)]
    assert summary(figures(loans, 20 * H)["v"]) == (3, 2, 1, 1.0, 0, 0.0)


def test_same_second_hand_off_is_neither_gap_nor_overlap() -> None:
    # Two copies: b goes out the second a comes back: never two out.
    two = [("v", "a", 10 * H, 12 * H), ("v", "b", 12 * H, 14 * H)]
    assert summary(figures(two, 20 * H)["v"]) == (2, 1, 0, 0.0, 0, 0.0)
    # Three copies: two stay out across the hand-off at 12:00, one unbroken episode 11:00-13:00.
    three = [("v", "a", 10 * H, 12 * H), ("v", "b", 11 * H, 13 * H), ("v", "c", 12 * H, 14 * H)]
    stats = compute(loans_input(three), as_of=at(20 * H))
    assert summary(stats.volumes.iloc[0].to_dict()) == (3, 2, 1, 2.0, 0, 0.0)
    episode = stats.episodes.iloc[0]
    assert (episode["Start"], episode["End"], episode["Copies Out"]) == (at(11 * H), at(13 * H), 2)


def test_open_loan_is_out_until_as_of() -> None:
    loans = [("v", "a", 10 * H, None), ("v", "b", 11 * H, None)]
    stats = compute(loans_input(loans), as_of=at(15 * H))
    row = stats.volumes.iloc[0]
    assert summary(row.to_dict()) == (2, 2, 1, 4.0, 1, 4.0)
    assert row["Open Loans"] == 2
    assert stats.episodes["End"].tolist() == [at(15 * H), at(15 * H)]
    assert stats.as_of == at(15 * H)
    # the period is first loan to as-of: 5 hours, all out for 4 of them
    assert row["% of Period All Out"] == pytest.approx(80.0)


def test_single_copy_is_never_all_out() -> None:
    row = figures([("v", "a", 10 * H, 12 * H), ("v", "a", 13 * H, None)], 20 * H)["v"]
    assert summary(row) == (1, 1, 0, 0.0, 0, 0.0)
    assert row["Loans"] == 2
    assert row["Loans per Copy"] == 2.0


def test_never_loaned_copy_from_items_export_raises_the_bar() -> None:
    loans = [("v", "a", 10 * H, 12 * H), ("v", "b", 11 * H, 13 * H)]
    row = figures(loans, 20 * H, items=[("v", "a"), ("v", "b"), ("v", "c")])["v"]
    assert summary(row) == (3, 2, 1, 1.0, 0, 0.0)


def test_lent_barcode_missing_from_items_export_is_a_copy_and_a_problem() -> None:
    loans = [("v", "a", 10 * H, 12 * H), ("v", "b", 11 * H, 13 * H)]
    stats = compute(loans_input(loans, items=[("v", "a")]), as_of=at(20 * H))
    assert stats.volumes.iloc[0]["Copies"] == 2
    assert stats.problems["Problem"].str.contains("barcode b was lent but is not in the items export").any()


def test_data_problems_are_listed_with_rows() -> None:
    loans = [
        ("v", "a", 10 * H, 12 * H),  # row 2
        ("v", "a", 11 * H, 13 * H),  # row 3: overlaps row 2, same copy
        ("v", "b", 30 * H, None),  # row 4: after as-of
    ]
    stats = compute(loans_input(loans), as_of=at(20 * H))
    problems = stats.problems.set_index("Row")
    assert "overlaps the loan in row 2 of the same barcode a" in problems.loc[3, "Problem"]
    assert "after the as-of" in problems.loc[4, "Problem"]
    row = stats.volumes.iloc[0]
    assert (row["Copies"], row["Loans"], row["Peak Out"]) == (1, 1, 1)


def test_returns_after_as_of_count_up_to_as_of() -> None:
    loans = [("v", "a", 10 * H, 30 * H), ("v", "b", 11 * H, 40 * H)]
    assert summary(figures(loans, 20 * H)["v"]) == (2, 2, 1, 9.0, 1, 9.0)


def test_csv_columns_come_first_and_volumes_rank_by_hours_all_out() -> None:
    loans = [
        ("small", "a", 0, 2 * H),
        ("small", "b", H, 2 * H),
        ("big", "a", 0, 5 * H),
        ("big", "b", 0, 5 * H),
        ("none", "a", 0, H),
    ]
    stats = compute(loans_input(loans), as_of=at(10 * H))
    assert tuple(stats.volumes.columns[: len(CSV_COLUMNS)]) == CSV_COLUMNS
    assert stats.volumes["MMS Id"].tolist() == ["big", "small", "none"]
    timeline = stats.timeline(stats.volumes.index[0])
    assert timeline["Copies Out"].tolist() == [2, 0]


# --- property: the fast sweep equals the brute force -------------------------------------------------------

MINUTE = 60
loan_strategy = st.tuples(
    st.sampled_from(["v1", "v2", "v3"]),
    st.sampled_from(["a", "b", "c", "d"]),
    st.integers(0, 60).map(lambda m: m * MINUTE),  # whole minutes: many same-second events
    st.one_of(st.none(), st.integers(0, 40).map(lambda m: m * MINUTE)),  # duration, or still out
)


@pytest.mark.slow
@settings(max_examples=250, deadline=None)
@given(st.lists(loan_strategy, min_size=1, max_size=40), st.integers(20, 70).map(lambda m: m * MINUTE))
def test_fast_sweep_equals_brute_force(raw: list, as_of: int) -> None:
    loans = [(v, b, s, None if d is None else s + d) for v, b, s, d in raw]
    expected = brute_force(loans, as_of)
    stats = compute(loans_input(loans), as_of=at(as_of))
    got = {row["MMS Id"]: row for row in stats.volumes.to_dict("records")}
    assert set(got) == set(expected)
    for volume, ref in expected.items():
        row = got[volume]
        assert (row["Copies"], row["Loans"], row["Peak Out"]) == (ref.copies, ref.loans, ref.peak)
        assert row["Concurrent Episodes"] == len(ref.concurrent)
        assert row["All Copies Out Episodes"] == len(ref.all_out)
        assert row["Hours 2+ Out"] == pytest.approx(ref.concurrent_hours)
        assert row["Hours All Out"] == pytest.approx(ref.all_out_hours)
        for kind, runs in (("2+ out", ref.concurrent), ("all out", ref.all_out)):
            mine = stats.episodes[(stats.episodes["MMS Id"] == volume) & (stats.episodes["Kind"] == kind)]
            assert list(zip(mine["Start"], mine["End"], mine["Copies Out"], strict=True)) == [
                (at(s), at(e), p) for s, e, p in runs
            ]


def test_weeks_at_capacity_cut_an_episode_at_monday_midnight() -> None:
    """Both copies out from Sunday noon to Tuesday noon: 12 h in one week, 36 h in the next."""
    from alma_tools.concurrency.core import weeks_at_capacity

    sunday_noon = int((dt.datetime(2025, 9, 7, 12) - EPOCH).total_seconds())
    loans = [("v", "a", sunday_noon, sunday_noon + 48 * H), ("v", "b", sunday_noon, sunday_noon + 48 * H)]
    stats = compute(loans_input(loans), as_of=dt.datetime(2025, 9, 20))
    hours, weeks = weeks_at_capacity(stats, stats.volumes.index)
    assert weeks == [dt.datetime(2025, 9, 1), dt.datetime(2025, 9, 8), dt.datetime(2025, 9, 15)]
    assert hours.iloc[0].tolist() == [12.0, 36.0, 0.0]
    assert hours.iloc[0].sum() == stats.volumes["Hours All Out"].iloc[0]


def test_an_as_of_weeks_after_the_export_is_stale_only_with_a_loan_still_out() -> None:
    """The one staleness rule every face words: more than 7 days after the latest loan or return, with a
    loan still out (it would run on to the as-of); the CLI and Excel add only their own fix."""
    from alma_tools.concurrency.core import STALE_AS_OF, stale_as_of

    start = int((dt.datetime(2025, 9, 1, 8) - EPOCH).total_seconds())
    latest = at(start + 72 * H)  # the last return
    loans = loans_input([("v", "a", start, start + 72 * H), ("w", "b", start, None), ("w", "c", start, None)])
    stale = stale_as_of(loans, compute(loans, as_of=latest + STALE_AS_OF + dt.timedelta(seconds=1)))
    assert stale is not None and (stale.still_out, stale.latest) == (2, latest)
    assert stale.warning("FIX") == (
        "2 loans without a return count as out until now (2025-09-11 08:00), but the latest loan or return "
        "in the export is 2025-09-04 08:00: if the export was made then, FIX"
    )
    assert stale_as_of(loans, compute(loans, as_of=latest + STALE_AS_OF)) is None  # a week: recent enough
    returned = loans_input([("v", "a", start, start + 72 * H)])
    assert stale_as_of(returned, compute(returned, as_of=dt.datetime(2026, 6, 1))) is None  # nothing runs on


def test_an_as_of_is_read_from_what_a_cell_or_setting_can_hold() -> None:
    """One reading for the worksheet function's as_of and Settings › AsOf; each words its own refusal."""
    from alma_tools.concurrency.core import as_of_moment
    from alma_tools.errors import InputError

    assert as_of_moment(dt.datetime(2026, 6, 30, 23, 59, tzinfo=dt.timezone.utc)) == dt.datetime(
        2026, 6, 30, 23, 59
    )
    assert as_of_moment(dt.date(2026, 6, 30)) == dt.datetime(2026, 6, 30)
    assert as_of_moment(46203.5) == dt.datetime(2026, 6, 30, 12)  # a serial: a date cell without a format
    assert as_of_moment(" 2026-06-30 23:59 ") == dt.datetime(2026, 6, 30, 23, 59)
    assert as_of_moment(None) is None and as_of_moment("  ") is None  # empty: now
    for bad in ("next week", True, 0, "30/06/2026"):
        with pytest.raises(InputError, match="is not a date"):
            as_of_moment(bad)
