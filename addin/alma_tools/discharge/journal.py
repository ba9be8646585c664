"""The run journal: what was sent and what came back, on disk before anything else happens.

A discharge must survive a crash, a kill or a closed laptop without scanning an item twice and without losing
what Alma answered (the old script lost whole batches). So the run folder ``<input stem>.alma-run/`` beside
the input holds:

- ``journal.jsonl``: a ``sent`` line written and fsync'd **before** each scan-in request, and an ``outcome``
  line fsync'd after it. A ``sent`` without a later ``outcome`` means "the request may have reached Alma": the
  next run reads the item's loans before deciding anything, and never re-sends blind.
- ``answers.jsonl``: every answer Alma gave (method, path without the key, status, body), for
  troubleshooting. The client strips the key before the hook sees the request.

Items are identified by their Item Id (or barcode), never by row number: people re-sort sheets between runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from alma_tools.discharge.outcomes import Outcome
from alma_tools.errors import AlmaToolsError, InputError

JOURNAL_NAME = "journal.jsonl"
ANSWERS_NAME = "answers.jsonl"


class JournalError(AlmaToolsError):
    """The journal cannot be written (disk full, folder made read-only): no scan may be sent without it."""


def run_folder_for(input_path: str | os.PathLike[str]) -> Path:
    """The run folder of an input file: ``<stem>.alma-run`` in the same folder."""
    path = Path(input_path)
    return path.with_name(f"{path.stem}.alma-run")


@dataclass(frozen=True)
class PastItem:
    """What earlier runs left for one item: its last outcome, and whether a scan was sent after it."""

    outcome: Outcome | None
    pending: bool  # a scan was sent and no outcome followed (timeout, crash, kill)


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


class Journal:
    """Append-only, fsync'd record of one input's runs; safe to use from many worker threads."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
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
    def for_input(cls, input_path: str | os.PathLike[str]) -> Journal:
        """The journal of an input file, in its run folder beside it."""
        return cls(run_folder_for(input_path))

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
        past: dict[str, PastItem] = {}
        for record in _read_lines(self.folder / JOURNAL_NAME):
            key = record.get("key")
            if not isinstance(key, str):
                continue
            before = past.get(key, PastItem(None, False))
            if record.get("event") == "sent":
                past[key] = PastItem(before.outcome, True)
            elif record.get("event") == "outcome":
                try:
                    outcome = Outcome.from_dict(record)
                except (KeyError, ValueError):
                    continue
                past[key] = PastItem(outcome, False)
        return past

    def past(self, key: str) -> PastItem | None:
        """What earlier runs (up to when this journal was opened) recorded for an item."""
        return self._past.get(key)

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

    def sent(self, key: str, row: int) -> None:
        """Record, durably, that a scan-in for ``key`` is about to be sent. Call before the request."""
        self._write({"event": "sent", "key": key, "row": row, "time": time.time()})

    def outcome(self, key: str, outcome: Outcome) -> None:
        """Record, durably, the outcome of an item."""
        self._write({"event": "outcome", "key": key, "time": time.time(), **outcome.to_dict()})

    def save_answer(self, record: Any) -> None:
        """``on_response`` hook of the client: keep every Alma answer (the client has removed the key)."""
        line = {
            "time": time.time(),
            "method": getattr(record, "method", None),
            "path": getattr(record, "path", None),
            "status": getattr(record, "status", None),
            "elapsed": getattr(record, "elapsed", None),
            "body": getattr(record, "body_text", None),
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
