"""The run journal: what was sent and what came back, on disk before anything else happens.

A discharge must survive a crash, a kill or a closed laptop without scanning an item twice and without losing
what Alma answered. So the run folder ``<input file name>.alma-run/`` beside the input (``items.xlsx`` ->
``items.xlsx.alma-run``) holds:

- ``journal.jsonl``: a ``sent`` line written and fsync'd **before** each scan-in request (with the item's
  ids), and an ``outcome`` line fsync'd after it. A ``sent`` without a later ``outcome`` means "the request
  may have reached Alma": the next run reads the item's loans before deciding anything, and never re-sends
  blind.
- ``answers.jsonl``: every answer Alma gave (method, path without the key, status, body), for
  troubleshooting. The client strips the key before the hook sees the request.

A journal belongs to **one run**: once a run has settled every row (none pending, unknown or stopped) and its
results are written, :meth:`Journal.finish` moves both files under ``finished/<timestamp>/`` in the run
folder, where they are kept for troubleshooting and never read again. While a run is unfinished, an entry
settles a row only for the same loan (:meth:`Journal.trust`): an entry older than :data:`TRUST_HOURS`, or one
written before the row's loan date, makes the run read the item's loans first.

A run folder of an older version is named after the stem (``items.alma-run``, shared by ``items.csv`` and
``items.xlsx``): it is read as evidence of an unfinished run whose every entry needs the loan check (pending
ones are verified as always), never written, and moved to its own ``finished/`` when this run has settled
every item it had pending.

Items are identified by their Item Id (or barcode), never by row number: people re-sort sheets between runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from alma_tools import files
from alma_tools.alma.responses import ResponseRecord
from alma_tools.discharge.outcomes import Outcome
from alma_tools.errors import AlmaToolsError, InputError

JOURNAL_NAME = "journal.jsonl"
ANSWERS_NAME = "answers.jsonl"
FINISHED_NAME = "finished"
RUN_SUFFIX = ".alma-run"
#: an entry older than this may belong to an earlier loan of the item: its loans are read before skipping
TRUST_HOURS = 12.0


class JournalError(AlmaToolsError):
    """The journal cannot be written (disk full, folder made read-only): no scan may be sent without it."""


def run_folder_for(input_path: str | os.PathLike[str]) -> Path:
    """The run folder of an input file: ``<file name>.alma-run`` in the same folder."""
    path = Path(input_path)
    return path.with_name(f"{path.name}{RUN_SUFFIX}")


def legacy_run_folder_for(input_path: str | os.PathLike[str]) -> Path:
    """Where versions before the run-scoped journal kept the run folder: ``<stem>.alma-run``."""
    path = Path(input_path)
    return path.with_name(f"{path.stem}{RUN_SUFFIX}")


@dataclass(frozen=True)
class PastItem:
    """What this run left for one item so far: its last outcome, whether a scan was sent after it, when
    the last line was written (epoch seconds), the item's ids when known, and whether it comes from an old
    run folder (always checked against the item's loans)."""

    outcome: Outcome | None
    pending: bool  # a scan was sent and no outcome followed (timeout, crash, kill)
    time: float = 0.0
    ids: tuple[str, str, str] | None = None
    legacy: bool = False


def _ids(record: dict[str, Any]) -> tuple[str, str, str] | None:
    ids = record.get("ids")
    if isinstance(ids, list) and len(ids) == 3 and all(isinstance(i, str) and i for i in ids):
        return (ids[0], ids[1], ids[2])
    return None


def _time(record: dict[str, Any]) -> float:
    value = record.get("time")
    return float(value) if isinstance(value, int | float) else 0.0


def load_entries(path: Path, *, legacy: bool = False) -> dict[str, PastItem]:
    """The last state of each item in a journal file (a missing file holds none)."""
    past: dict[str, PastItem] = {}
    for record in _read_lines(path):
        key = record.get("key")
        if not isinstance(key, str):
            continue
        before = past.get(key, PastItem(None, False, legacy=legacy))
        ids = _ids(record) or before.ids
        if record.get("event") == "sent":
            past[key] = PastItem(before.outcome, True, _time(record), ids, legacy)
        elif record.get("event") == "outcome":
            try:
                outcome = Outcome.from_dict(record)
            except (KeyError, ValueError):
                continue
            past[key] = PastItem(outcome, False, _time(record), ids, legacy)
    return past


def _read_lines(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file, ignoring a last line torn by a kill mid-write."""
    if not path.is_file():
        return []  # nothing yet (a device or a folder under that name holds no journal: never read those)
    records = []
    with path.open("rb") as handle:
        for raw in handle:
            try:
                records.append(json.loads(raw))
            except ValueError:
                continue  # only a torn line (kill during write) can fail; it holds nothing committed
    return records


def _unsettled(past: PastItem) -> bool:
    return past.pending or (past.outcome is not None and past.outcome.kind == "unknown")


def _archive(folder: Path, now: float) -> Path | None:
    """Move a run folder's journal and answers into ``finished/<timestamp>/`` (journal first: once it is
    gone, the run is over, whatever happens to the answers' move)."""
    journal = folder / JOURNAL_NAME
    if not journal.is_file():
        return None
    stamp = time.strftime("%Y-%m-%dT%H%M%S", time.localtime(now))
    target = folder / FINISHED_NAME / stamp
    suffix = 1
    while target.exists():
        suffix += 1
        target = folder / FINISHED_NAME / f"{stamp}-{suffix}"
    try:
        target.mkdir(parents=True)
        os.replace(journal, target / JOURNAL_NAME)
        files.sync_folder(folder)
        answers = folder / ANSWERS_NAME
        if answers.is_file():
            os.replace(answers, target / ANSWERS_NAME)
    except OSError as error:
        raise JournalError(
            f"The run is complete, but its journal in {folder} could not be put away "
            f"({error.strerror or error}); move {journal.name} out of that folder before the next run"
        ) from None
    return target


class Journal:
    """Append-only, fsync'd record of one run of one input; safe to use from many worker threads.

    ``clock`` gives the time written into each line and against which :meth:`trust` ages entries (tests pass
    their own). ``legacy``: an old run folder whose entries are read too (see the module's docstring).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        legacy: str | os.PathLike[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = Path(folder)
        self.clock = clock
        self.legacy = Path(legacy) if legacy is not None and Path(legacy) != self.folder else None
        self._unsettled_at_open: dict[str, set[str]] = {"run": set(), "legacy": set()}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._journal = self._open_append(self.folder / JOURNAL_NAME)
            self._answers = self._open_append(self.folder / ANSWERS_NAME)
        except OSError as error:
            raise InputError(
                f"Cannot write the run folder {self.folder} ({error.strerror or error}): "
                "put the file in a folder you can write to"
            ) from None
        self._lock = threading.Lock()
        self._answers_lock = threading.Lock()
        self.answers_lost = 0
        self._past = self._load()

    @classmethod
    def for_input(
        cls, input_path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> Journal:
        """The journal of an input file, in its run folder beside it (an old stem-named folder read too)."""
        return cls(run_folder_for(input_path), legacy=legacy_run_folder_for(input_path), clock=clock)

    @staticmethod
    def _open_append(path: Path) -> IO[bytes]:
        handle = path.open("ab")
        if handle.tell() > 0:
            with path.open("rb") as check:
                check.seek(-1, os.SEEK_END)
                if check.read(1) != b"\n":
                    handle.write(b"\n")  # close a line torn by a kill so the next record parses
        return handle

    def _load(self) -> dict[str, PastItem]:
        """This run's entries, over an old run folder's (which only ever lead to a check with Alma)."""
        legacy: dict[str, PastItem] = {}
        if self.legacy is not None:
            legacy = load_entries(self.legacy / JOURNAL_NAME, legacy=True)
        own = load_entries(self.folder / JOURNAL_NAME)
        self._unsettled_at_open = {
            "run": {key for key, past in own.items() if _unsettled(past)},
            "legacy": {key for key, past in legacy.items() if _unsettled(past)},
        }
        return {**legacy, **own}

    def past(self, key: str) -> PastItem | None:
        """What this run (up to when this journal was opened) recorded for an item."""
        return self._past.get(key)

    def trust(self, past: PastItem, loaned: float | None = None) -> bool:
        """May ``past`` settle its row without a call? Only when it surely belongs to the row's loan.

        ``loaned``: the latest moment of the row's Loan Date (epoch seconds), when the row has one. An entry
        from an old run folder, one older than :data:`TRUST_HOURS`, or one written before the loan, is not
        trusted: the item's loans are read first.
        """
        if past.legacy or past.time <= 0:
            return False
        if self.clock() - past.time > TRUST_HOURS * 3600:
            return False
        return loaned is None or loaned < past.time

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
        try:
            with self._lock:
                self._journal.write(line)
                self._journal.flush()
            # outside the lock: the line is in the file, and this returns once it (and any line written
            # before it) is on disk; threads fsync side by side instead of queueing 5-20 ms each for the lock
            os.fsync(self._journal.fileno())
        except (OSError, ValueError) as error:  # ValueError: written after close
            reason = getattr(error, "strerror", None) or str(error)
            raise JournalError(
                f"Stopped: the run folder {self.folder} cannot be written ({reason}); free some disk "
                "space (or make the folder writable) and run again"
            ) from None

    def sent(self, key: str, row: int, ids: tuple[str, str, str] | None = None) -> None:
        """Record, durably, that a scan-in for ``key`` is about to be sent. Call before the request."""
        record: dict[str, Any] = {"event": "sent", "key": key, "row": row, "time": self.clock()}
        if ids is not None:
            record["ids"] = list(ids)
        self._write(record)

    def outcome(self, key: str, outcome: Outcome) -> None:
        """Record, durably, the outcome of an item."""
        self._write({"event": "outcome", "key": key, "time": self.clock(), **outcome.to_dict()})

    def save_answer(self, record: ResponseRecord) -> None:
        """``on_response`` hook of the client: keep every Alma answer (the client has removed the key)."""
        line = {
            "time": self.clock(),
            "method": record.method,
            "path": record.path,
            "status": record.status,
            "elapsed": record.elapsed,
            "body": record.body_text,
        }
        data = json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n"
        with self._answers_lock:
            try:
                self._answers.write(data)
                self._answers.flush()
            except (OSError, ValueError):
                # the answers are for troubleshooting only: a full disk must not fail the request that
                # brought them (the journal, which the run needs, stops the run on its own next write)
                self.answers_lost += 1

    def finish(self, settled: Iterable[str] = ()) -> bool:
        """End the run: move its files under ``finished/<timestamp>/``; they never settle a row again.

        Call only when every row of the run is settled and its results are written. ``settled``: the keys
        this run worked on; a folder holding an item left unsettled that this run did not work on (a row
        deleted from the file meanwhile) is kept, so that item is still checked before it is scanned again.
        Returns True when this run's own journal was put away.
        """
        self.close()
        worked = set(settled)
        finished = False
        if not self._unsettled_at_open["run"] - worked:
            _archive(self.folder, self.clock())
            finished = True
        if self.legacy is not None and not self._unsettled_at_open["legacy"] - worked:
            _archive(self.legacy, self.clock())
        return finished

    def close(self) -> None:
        for handle in (self._journal, self._answers):
            if handle.closed:
                continue
            # a failure here was reported when the write failed; the lines before it are safe on disk
            with contextlib.suppress(OSError):
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(OSError):
                handle.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
