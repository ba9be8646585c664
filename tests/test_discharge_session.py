"""The run service over real sockets: a journal belongs to one run, and is trusted only for the same loan."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from alma_tools.alma import AlmaClient
from alma_tools.discharge import DischargeOptions
from alma_tools.discharge.journal import TRUST_HOURS
from alma_tools.discharge.results import ResultsFile, ResultsWriter, original_copy_path
from alma_tools.discharge.session import DischargeSession, RunReport
from alma_tools.simulator import Simulator
from harness import write_items_csv
from samples import make_items

CANARY = "canary-KEY-session-5e55104-do-not-log"
DATA = Path(__file__).parent / "data"
RATE = 25.0


def discharge(
    sim: Simulator,
    items: Path,
    *,
    clock: Callable[[], float] = time.time,
    stop_after: int | None = None,
) -> RunReport:
    """One run through the session, as the command line makes it: the file sink, the one client."""
    options = DischargeOptions(rate=RATE)
    session = DischargeSession.from_files(items, DATA / "locations.csv", options, clock=clock)
    stop = threading.Event()

    def progress(finished: int, total: int) -> None:
        if stop_after is not None and finished >= stop_after:
            stop.set()

    return session.run(
        lambda: ResultsWriter(ResultsFile(items, session.items)),
        lambda on_response: AlmaClient(
            base_url=sim.base_url, api_key=CANARY, rate=RATE, on_response=on_response
        ),
        stop=stop,
        progress=progress,
    )


def results(items: Path) -> pd.DataFrame:
    return pd.read_csv(items, dtype=str, encoding="utf-8-sig", keep_default_na=False)


def run_folder(items: Path) -> Path:
    return items.with_name(f"{items.name}.alma-run")


def test_week_two_a_fresh_export_under_the_same_name_is_scanned_again_once(simulator, tmp_path: Path) -> None:
    frame = make_items(40, seed=21)
    week_one = simulator(items=frame, api_keys=(CANARY,))
    items = write_items_csv(tmp_path, frame)
    first = discharge(week_one, items)
    assert first.exit_code == 0 and first.finished
    assert week_one.stats()["scans"] == {item_id: 1 for item_id in frame["Item Id"]}
    folder = run_folder(items)
    assert not (folder / "journal.jsonl").exists()  # the run is over: its journal put away
    assert len(list((folder / "finished").iterdir())) == 1

    # a week later: the same items on loan again, a fresh export saved under the same name
    week_two = simulator(items=frame, api_keys=(CANARY,))
    fresh = frame.copy()
    fresh["Title"] = fresh["Title"] + " (week two)"
    write_items_csv(tmp_path, fresh)
    export = items.read_bytes()
    second = discharge(week_two, items)
    assert second.exit_code == 0 and second.finished
    assert original_copy_path(items).read_bytes() == export  # the untouched copy is this week's export
    assert week_two.stats()["scans"] == {item_id: 1 for item_id in frame["Item Id"]}
    assert second.counts["skipped_done"] == 0
    assert (results(items)["done"] == "TRUE").all()
    assert week_two.stats()["open_loans"] == 0
    assert len(list((folder / "finished").iterdir())) == 2


def test_an_unfinished_run_trusts_an_entry_only_for_the_same_loan(simulator, tmp_path: Path) -> None:
    """Entries of a run whose results were not written settle rows of the same loan only."""
    frame = make_items(30, seed=22)
    week_one = simulator(items=frame, api_keys=(CANARY,))
    items = write_items_csv(tmp_path, frame)
    items.chmod(0o444)  # the results cannot be written: the run stays unfinished, its journal kept
    first = discharge(week_one, items)
    assert first.exit_code == 1 and not first.finished and (run_folder(items) / "journal.jsonl").exists()
    items.chmod(0o644)

    # the items are lent again; the fresh export's first ten rows show loans begun after the scans
    week_two = simulator(items=frame, api_keys=(CANARY,))
    fresh = frame.copy()
    tomorrow = (pd.Timestamp.now() + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    fresh.loc[:9, "Loan Date"] = tomorrow
    write_items_csv(tmp_path, fresh)
    second = discharge(week_two, items)
    relent = set(frame["Item Id"][:10])
    assert week_two.stats()["scans"] == {item_id: 1 for item_id in relent}
    assert week_two.stats()["by_endpoint"]["loans"] == 10  # one read each, then the scan
    assert second.counts["skipped_done"] == 20  # the same loans, settled by the journal without a call
    assert second.finished


@pytest.mark.parametrize("hours_ago", [TRUST_HOURS - 1, TRUST_HOURS + 1])
def test_a_stopped_run_resumed_later_reads_the_loans_of_entries_older_than_12_hours(
    simulator, tmp_path: Path, hours_ago: float
) -> None:
    frame = make_items(80, seed=23)
    sim = simulator(items=frame, api_keys=(CANARY,))
    items = write_items_csv(tmp_path, frame)
    items.chmod(0o444)  # as when Excel could not take the results: only the journal knows what was done
    earlier = time.time() - hours_ago * 3600
    first = discharge(sim, items, clock=lambda: time.time() - hours_ago * 3600, stop_after=10)
    items.chmod(0o644)
    done_first = sum(first.counts[k] for k in ("returned", "transit", "hold_shelf"))
    assert first.counts["stopped"] and done_first >= 10 and not first.finished, first.counts
    lines = (run_folder(items) / "journal.jsonl").read_text().splitlines()
    assert all(json.loads(line)["time"] <= earlier + 60 for line in lines)  # the journal's own clock

    loans_before = sim.stats()["by_endpoint"].get("loans", 0)
    second = discharge(sim, items)
    assert second.exit_code == 0 and second.finished
    assert sim.stats()["scans"] == {item_id: 1 for item_id in frame["Item Id"]}  # never twice
    loans_read = sim.stats()["by_endpoint"].get("loans", 0) - loans_before
    assert second.counts["skipped_done"] == done_first
    assert loans_read == (done_first if hours_ago > TRUST_HOURS else 0)
    assert (results(items)["done"] == "TRUE").all()


def test_an_old_stem_named_run_folder_is_read_with_the_loan_check_and_put_away(
    simulator, tmp_path: Path
) -> None:
    frame = make_items(12, seed=24)
    sim = simulator(items=frame, api_keys=(CANARY,))  # every item on loan
    items = write_items_csv(tmp_path, frame)
    legacy = tmp_path / "items.alma-run"  # an earlier version's run folder, shared by items.csv and .xlsx
    legacy.mkdir()
    now = time.time()
    old = [
        {
            "event": "outcome",
            "key": key,
            "row": 2,
            "time": now,
            "done": True,
            "status": "old",
            "kind": "returned",
        }
        for key in frame["Item Id"][1:]
    ] + [{"event": "sent", "key": frame["Item Id"][0], "row": 2, "time": now}]
    (legacy / "journal.jsonl").write_text("".join(json.dumps(line) + "\n" for line in old))

    report = discharge(sim, items)
    assert report.exit_code == 0 and report.counts["skipped_done"] == 0
    assert sim.stats()["scans"] == {item_id: 1 for item_id in frame["Item Id"]}
    assert sim.stats()["by_endpoint"]["loans"] == 12  # every old entry checked against Alma first
    assert not results(items)["status"].eq("old").any()
    assert not (legacy / "journal.jsonl").exists()  # settled: put away under its own finished/
    assert len(list((legacy / "finished").iterdir())) == 1


def test_answers_the_run_could_not_keep_are_counted_in_the_summary(simulator, tmp_path: Path) -> None:
    frame = make_items(6, seed=31)
    sim = simulator(items=frame, api_keys=(CANARY,))
    items = write_items_csv(tmp_path, frame)
    session = DischargeSession.from_files(items, DATA / "locations.csv", DischargeOptions(rate=RATE))

    def client_with_a_failing_answers_file(on_response: Callable[..., None]) -> AlmaClient:
        journal = on_response.__self__  # the hook is the journal's bound save_answer
        journal._answers.close()  # answers.jsonl can no longer be written (as on a full disk)
        return AlmaClient(base_url=sim.base_url, api_key=CANARY, rate=RATE, on_response=on_response)

    report = session.run(
        lambda: ResultsWriter(ResultsFile(items, session.items)), client_with_a_failing_answers_file
    )
    assert report.exit_code == 0 and sum(report.counts.values()) == 6
    answered = sim.stats()["requests"]
    assert f"{answered:,} of Alma's answers could not be kept in answers.jsonl" in str(report)
    assert results(items)["status"].str.len().gt(0).all()  # the results are complete all the same
