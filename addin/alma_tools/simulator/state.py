"""The simulator's world: items, loans, hold requests, desks, and the scan-in state machine.

Everything here is deterministic given the items, the locations and the seed, which is what lets the state
file be a plain log of scan-in requests: replaying the log against the same starting world rebuilds exactly
the state a killed simulator had (closed loans, in-house uses, scan counts). One lock guards the world; the
HTTP layer never touches it directly.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TextIO

import pandas as pd

from alma_tools.simulator import catalogue
from alma_tools.simulator.exports import ITEM_FIELDS, LOCATION_FIELDS

DEFAULT_DESK = "DEFAULT_CIRC_DESK"
#: the only hold-request type the simulator creates, as Alma names it in ``additional_info``
REQUEST_TYPE = "Patron physical item request"
_LAST_NAMES = (
    "Andersen",
    "Baker",
    "Chen",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Olsen",
    "Patel",
    "Rossi",
    "Silva",
    "Tanaka",
    "Weber",
)
_FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloe",
    "David",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kai",
    "Lena",
    "Mira",
    "Noah",
    "Omar",
    "Paula",
    "Rosa",
    "Sami",
    "Tara",
    "Yusuf",
)
_DIGITS = re.compile(r"[0-9]+")
#: scan-in parameters the state machine reads, and so the only ones the state file keeps
_LOGGED_PARAMS = ("op", "library", "circ_desk", "department", "register_in_house_use")


@dataclass
class Loan:
    """One loan of an item, as ``GET …/loans`` shows it."""

    loan_id: str
    user_id: str
    library: str
    circ_desk: str
    loan_date: str
    due_date: str
    loan_status: str = "ACTIVE"
    return_date: str | None = None
    return_library: str | None = None
    return_circ_desk: str | None = None


@dataclass
class HoldRequest:
    """A patron's hold request waiting for the item; fulfilled by the first scan-in."""

    request_id: str
    requester_name: str
    requester_id: str
    pickup_library: str
    waiting: bool = True


@dataclass
class Item:
    """One physical item with its holding and bib data and its circulation state."""

    mms_id: str
    holding_id: str
    item_id: str
    barcode: str
    title: str
    library: str
    location: str
    temp_library: str
    temp_location: str
    base_status: str = "0"
    process_type: str = "LOAN"
    requested: bool = False
    loans: list[Loan] = field(default_factory=list)
    request: HoldRequest | None = None
    in_house_uses: int = 0
    scans: int = 0

    @property
    def in_temp_location(self) -> bool:
        return bool(self.temp_location)

    @property
    def on_loan(self) -> bool:
        """True while the item has an active loan."""
        return any(loan.loan_status == "ACTIVE" for loan in self.loans)

    @property
    def current_library(self) -> str:
        """Where the item belongs now: the temporary library while it is in a temporary location."""
        return self.temp_library if self.in_temp_location else self.library

    @property
    def current_location(self) -> str:
        return self.temp_location if self.in_temp_location else self.location


@dataclass(frozen=True)
class ScanResult:
    """What a scan-in answered: an error (catalogue name and message fields) or the item and its info."""

    error: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    item: Item | None = None
    additional_info: str = ""


class World:
    """Items, desks and the scan-in state machine, with an optional append-only log replayed on start."""

    def __init__(
        self,
        items: pd.DataFrame,
        locations: pd.DataFrame | None,
        *,
        seed: int = 0,
        request_share: float = 0.05,
        state_file: str | os.PathLike | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.items: dict[str, Item] = {}
        self.by_barcode: dict[str, str] = {}
        self.mms_ids: set[str] = set()
        self.scans: Counter[str] = Counter()
        self.in_house_uses = 0
        self.skipped_rows = 0
        self.desks: set[tuple[str, str]] = set()
        self.location_library: dict[str, str] = {}
        self._load_locations(locations)
        self._load_items(items, random.Random(seed), request_share)
        self._state_path = Path(state_file) if state_file else None
        self._log: TextIO | None = None
        self._replay()
        self.open_log()

    # -- building the starting world ----------

    def _load_locations(self, locations: pd.DataFrame | None) -> None:
        """Desks per library from the locations table; every library also gets ``DEFAULT_CIRC_DESK``.

        The old two-column form (``location_code, circ_desk``) names no library: its desks belong to the
        libraries of the items shelved in that location, known only once the items are read.
        """
        self._unplaced_desks: list[tuple[str, str]] = []
        if locations is None:
            return
        frame = locations[list(LOCATION_FIELDS)]
        for location, library, desk in frame.itertuples(index=False):
            if library and desk:
                self.desks.add((library, desk))
            elif location and desk:
                self._unplaced_desks.append((location, desk))
            if library and location:
                self.location_library.setdefault(location, library)

    def _load_items(self, items: pd.DataFrame, rng: random.Random, request_share: float) -> None:
        """Every usable row becomes an item on loan; a seeded share also gets a waiting hold request."""
        frame = items[list(ITEM_FIELDS)]
        usable = (
            frame["mms_id"].str.fullmatch(_DIGITS)
            & frame["holding_id"].str.fullmatch(_DIGITS)
            & frame["item_id"].str.fullmatch(_DIGITS)
            & ~frame["item_id"].duplicated()
            & (frame["library"] != "")
        )
        self.skipped_rows = int((~usable).sum())
        frame = frame[usable]
        loan_days: dict[str, str] = {}
        rows: list[dict[str, str]] = frame.to_dict("records")
        for row in rows:
            temp_library = ""
            if row["temp_location"]:
                temp_library = row["temp_library"] or self.location_library.get(
                    row["temp_location"], row["library"]
                )
            item = Item(
                mms_id=row["mms_id"],
                holding_id=row["holding_id"],
                item_id=row["item_id"],
                barcode=row["barcode"],
                title=row["title"],
                library=row["library"],
                location=row["location"],
                temp_library=temp_library,
                temp_location=row["temp_location"],
            )
            self.items[item.item_id] = item
            if item.barcode:
                self.by_barcode.setdefault(item.barcode, item.item_id)
            self.mms_ids.add(item.mms_id)
            loan_days[item.item_id] = row["loan_date"]
        seen = {i.library for i in self.items.values()} | {i.temp_library for i in self.items.values()}
        for location, desk in self._unplaced_desks:
            self.desks |= {
                (i.current_library, desk) for i in self.items.values() if i.current_location == location
            }
        libraries = sorted((seen | {library for library, _ in self.desks}) - {""})
        self.desks |= {(library, DEFAULT_DESK) for library in libraries}
        self.libraries = set(libraries)
        for number, item in enumerate(self.items.values(), start=1):
            loan_day = _parse_day(loan_days[item.item_id]) or datetime(2026, 9, 1, tzinfo=timezone.utc)
            loan_day += timedelta(hours=9, minutes=rng.randrange(600))
            item.loans.append(
                Loan(
                    loan_id=f"{7000000000000 + number}{item.item_id[-4:]}",
                    user_id=f"U{rng.randrange(10**7):07d}",
                    library=item.current_library,
                    circ_desk=DEFAULT_DESK,
                    loan_date=_stamp(loan_day),
                    due_date=_stamp(loan_day + timedelta(days=28)).replace(".000Z", "Z"),
                )
            )
            if rng.random() < request_share:
                others = [library for library in libraries if library != item.current_library]
                pickup = rng.choice(others) if others and rng.random() < 0.5 else item.current_library
                item.request = HoldRequest(
                    request_id=f"{8000000000000 + number}{item.item_id[-4:]}",
                    requester_name=f"{rng.choice(_LAST_NAMES)}, {rng.choice(_FIRST_NAMES)}",
                    requester_id=f"P{rng.randrange(10**6):06d}",
                    pickup_library=pickup,
                )
                item.requested = True

    # -- the state machine ----------

    def scan_in(
        self, mms_id: str, holding_id: str, item_pid: str, params: dict[str, str], at: datetime | None = None
    ) -> ScanResult:
        """Validate a scan-in like Alma does, apply its effect, log it, and say what Alma would answer."""
        at = at or datetime.now(timezone.utc)
        with self.lock:
            self.scans[item_pid] += 1
            result = self._scan(mms_id, holding_id, item_pid, params, at)
            if self._log:
                record = {
                    "op": "scan",
                    "mms_id": mms_id,
                    "holding_id": holding_id,
                    "item_pid": item_pid,
                    # only what the state machine reads: never the key a client put in the query string
                    "params": {name: params[name] for name in _LOGGED_PARAMS if name in params},
                    "at": at.isoformat(),
                }
                self._log.write(json.dumps(record) + "\n")
                self._log.flush()
                os.fsync(self._log.fileno())
            return result

    def _scan(
        self, mms_id: str, holding_id: str, item_pid: str, params: dict[str, str], at: datetime
    ) -> ScanResult:
        op = params.get("op", "")
        library = params.get("library", "")
        desk = params.get("circ_desk", "")
        department = params.get("department", "")
        if not op:
            return ScanResult("missing_op")
        if op != "scan":
            return ScanResult("bad_op", {"op": op})
        if not library:
            return ScanResult("missing_library")
        if not desk and not department:
            return ScanResult("missing_desk")
        if not _DIGITS.fullmatch(mms_id):
            return ScanResult("mms_not_numeric", {"mms_id": mms_id})
        if mms_id not in self.mms_ids:
            return ScanResult("mms_unknown", {"mms_id": mms_id})
        item = self.items.get(item_pid)
        if item is None or item.mms_id != mms_id or item.holding_id != holding_id:
            return ScanResult("item_pid", {"item_pid": item_pid})
        if library not in self.libraries:
            return ScanResult("unknown_library", {"library": library})
        if not desk:
            return ScanResult("department")  # the simulated institution has no work-order departments
        if (library, desk) not in self.desks:
            return ScanResult("desk_not_in_library", {"circ_desk": desk})
        info = self._apply(
            item, library, desk, params.get("register_in_house_use", "true").lower() != "false", at
        )
        item.scans += 1
        return ScanResult(item=copy.deepcopy(item), additional_info=info)

    def _apply(self, item: Item, library: str, desk: str, in_house: bool, at: datetime) -> str:
        """Change the item as a scan-in at ``library``/``desk`` does; return Alma's ``additional_info``."""
        was_on_loan = item.on_loan
        for loan in item.loans:
            if loan.loan_status == "ACTIVE":
                loan.loan_status = "COMPLETE"
                loan.return_date = _stamp(at)
                loan.return_library = library
                loan.return_circ_desk = desk
        requester = requester_id = ""
        request = item.request if item.request and item.request.waiting else None
        if request:
            request.waiting = False
            requester, requester_id = request.requester_name, request.requester_id
            kind, queue = REQUEST_TYPE, 1
            item.requested = True
            if library == request.pickup_library:
                item.base_status, item.process_type, destination = "1", "HOLDSHELF", "On Hold Shelf"
            else:
                item.base_status, item.process_type = "0", "TRANSIT"
                destination = catalogue.library_description(request.pickup_library)
        elif library == item.current_library:
            item.base_status, item.process_type, item.requested = "1", "", False
            destination = "Reshelve to " + catalogue.location_description(
                item.current_library, item.current_location
            )
            kind, queue = "", 0
        else:
            item.base_status, item.process_type, item.requested = "0", "TRANSIT", False
            destination = catalogue.library_description(item.current_library)
            kind, queue = "Transit for reshelving", 1
        if not was_on_loan and in_house:
            item.in_house_uses += 1
            self.in_house_uses += 1
        return (
            f"Item's destination is: {destination}. Request/Process Type: {kind}. Requester: {requester}. "
            f"Requester ID: {requester_id}. Place in Queue: {queue}"
        )

    # -- persistence ----------

    def _replay(self) -> None:
        """Re-run every logged scan-in; a line torn by a kill mid-write is ignored."""
        if not self._state_path or not self._state_path.exists():
            return
        with open(self._state_path, encoding="utf-8") as log:
            for line in log:
                try:
                    record = json.loads(line)
                    at = datetime.fromisoformat(record["at"])
                except (ValueError, KeyError):
                    continue
                if record.get("op") == "scan":
                    self.scans[record["item_pid"]] += 1
                    self._scan(
                        record["mms_id"], record["holding_id"], record["item_pid"], record["params"], at
                    )

    def open_log(self) -> None:
        """Append applied scans to the state file from now on (again after :meth:`close`)."""
        with self.lock:
            if self._state_path and self._log is None:
                self._log = open(self._state_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def close(self) -> None:
        with self.lock:
            if self._log:
                self._log.close()
                self._log = None

    # -- read access ----------

    def snapshot(self, item_id: str) -> Item | None:
        """A copy of one item, safe to read while the server keeps running."""
        with self.lock:
            item = self.items.get(item_id)
            return copy.deepcopy(item) if item else None

    def snapshot_all(self) -> dict[str, Item]:
        """Copies of every item, by item id."""
        with self.lock:
            return copy.deepcopy(self.items)

    def lookup(self, mms_id: str, holding_id: str, item_pid: str) -> Item | None:
        """A copy of the item at this path, or None when the ids do not name one item together."""
        with self.lock:
            item = self.items.get(item_pid)
            if item is None or item.mms_id != mms_id or item.holding_id != holding_id:
                return None
            return copy.deepcopy(item)

    def user_loans(self, user_id: str) -> list[tuple[Item, Loan]] | None:
        """Copies of every loan of a user with its item (None when no loan ever named that user)."""
        with self.lock:
            found = [
                (copy.deepcopy(item), copy.deepcopy(loan))
                for item in self.items.values()
                for loan in item.loans
                if loan.user_id == user_id
            ]
        return found or None

    def open_loans(self) -> int:
        with self.lock:
            return sum(item.on_loan for item in self.items.values())

    def status_counts(self) -> dict[str, int]:
        """Items per process type ("" = in place), for the stats endpoint."""
        with self.lock:
            return dict(Counter(item.process_type or "IN_PLACE" for item in self.items.values()))


def _parse_day(text: str) -> datetime | None:
    try:
        return datetime.strptime(text[:10], "%Y-%m-%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _stamp(moment: datetime) -> str:
    """Alma's loan timestamp format: UTC with milliseconds and ``Z``."""
    return (
        moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )
