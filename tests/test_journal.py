"""The run journal on its own: which entries it trusts, when it is put away, what it keeps of each item."""

from __future__ import annotations

import json
from pathlib import Path

from alma_tools.discharge.journal import TRUST_HOURS, Journal, legacy_run_folder_for, run_folder_for
from alma_tools.discharge.outcomes import Outcome

HOUR = 3600.0
T0 = 1_800_000_000.0  # a fixed moment: the journal's clock is injected, nothing sleeps


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def returned(row: int) -> Outcome:
    return Outcome(row, True, "Returned; reshelve to Main stacks", "returned")


def test_run_folders_are_named_after_the_whole_file_name(tmp_path: Path) -> None:
    assert run_folder_for(tmp_path / "items.xlsx") == tmp_path / "items.xlsx.alma-run"
    assert run_folder_for(tmp_path / "items.csv") != run_folder_for(tmp_path / "items.xlsx")
    assert legacy_run_folder_for(tmp_path / "items.xlsx") == tmp_path / "items.alma-run"


def test_an_entry_is_trusted_only_while_recent_and_written_after_the_loan(tmp_path: Path) -> None:
    clock = Clock()
    with Journal(tmp_path / "run", clock=clock) as journal:
        journal.sent("23001", 2, ("99001", "22001", "23001"))
        journal.outcome("23001", returned(2))
    clock.now = T0 + (TRUST_HOURS - 1) * HOUR
    journal = Journal(tmp_path / "run", clock=clock)
    past = journal.past("23001")
    assert past is not None and past.outcome == returned(2) and not past.pending
    assert past.ids == ("99001", "22001", "23001")  # a barcode row's item can be checked by its loans
    assert journal.trust(past)
    assert journal.trust(past, loaned=T0 - HOUR)  # the loan began before the scan: the same loan
    assert not journal.trust(past, loaned=T0 + HOUR)  # lent again after the scan: a new loan
    clock.now = T0 + (TRUST_HOURS + 1) * HOUR
    assert not journal.trust(past)  # "the next day": the item's loans are read first
    journal.close()


def test_an_old_stem_named_folder_is_read_never_trusted_never_written(tmp_path: Path) -> None:
    legacy = tmp_path / "items.alma-run"
    legacy.mkdir()
    line = {"event": "outcome", "key": "23001", "row": 2, "time": T0, **returned(2).to_dict()}
    (legacy / "journal.jsonl").write_text(json.dumps(line) + "\n")
    before = (legacy / "journal.jsonl").read_bytes()
    with Journal.for_input(tmp_path / "items.csv", clock=Clock()) as journal:
        past = journal.past("23001")
        assert past is not None and past.legacy and not journal.trust(past)
        journal.sent("23002", 3)
    assert (legacy / "journal.jsonl").read_bytes() == before
    assert (tmp_path / "items.csv.alma-run" / "journal.jsonl").exists()


def test_finish_puts_the_run_away_unless_an_item_it_did_not_work_on_is_unsettled(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    with Journal(folder, clock=Clock()) as journal:
        journal.sent("23001", 2)  # a kill: no outcome
        journal.sent("23002", 3)
        journal.outcome("23002", returned(3))
    kept = Journal(folder, clock=Clock())
    assert not kept.finish(["23002"])  # 23001 is still unsettled and this run did not check it
    assert (folder / "journal.jsonl").exists()
    done = Journal(folder, clock=Clock())
    assert done.finish(["23001", "23002"])
    assert not (folder / "journal.jsonl").exists()
    (finished,) = (folder / "finished").iterdir()
    assert (finished / "journal.jsonl").read_text().count('"event"') == 3
    assert Journal(folder, clock=Clock()).past("23002") is None  # never used to skip a row again


def test_a_line_torn_by_a_kill_is_ignored_and_closed(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    with Journal(folder, clock=Clock()) as journal:
        journal.sent("23001", 2)
    with (folder / "journal.jsonl").open("ab") as handle:
        handle.write(b'{"event": "outcome", "key": "23001", "ro')  # killed mid-write
    with Journal(folder, clock=Clock()) as journal:
        assert journal.past("23001").pending
        journal.outcome("23001", returned(2))
    assert not Journal(folder, clock=Clock()).past("23001").pending
