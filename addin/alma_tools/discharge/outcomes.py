"""What happened to one row, in words library staff act on.

Every row of the input gets exactly one :class:`Outcome`: ``done`` is true only when Alma's answer shows the
loan closed, and ``status`` says in plain words what to do next (reshelve, set aside, fix the row). The
wording lives here, in one place, so the command line, the Excel face and the journal all say the same thing.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from alma_tools.alma.responses import Item
from alma_tools.words import counted

#: every kind an outcome can have (the faces filter and count on these)
KINDS = (
    "returned",
    "transit",
    "hold_shelf",
    "not_on_loan",
    "alma_error",
    "refused",
    "damaged_row",
    "duplicate",
    "no_desk",
    "skipped_done",
    "stopped",
    "unknown",
    "hidden",
)

#: kinds that are not failures: the row is done, or was deliberately left alone
SUCCESS_KINDS = frozenset(
    {"returned", "transit", "hold_shelf", "not_on_loan", "duplicate", "skipped_done", "hidden"}
)

#: kinds decided without calling Alma
DECIDED_KINDS = frozenset({"refused", "damaged_row", "duplicate", "no_desk", "skipped_done", "hidden"})

#: kinds whose row is left exactly as it is: the faces write nothing into its ``done`` or ``status``
LEFT_ALONE_KINDS = frozenset({"hidden"})

#: how each kind is named in a run's summary, in the order the summaries list them
KIND_WORDS = {
    "returned": "returned, reshelve",
    "transit": "returned, in transit (set aside)",
    "hold_shelf": "returned, on hold shelf (set aside)",
    "skipped_done": "done in an earlier run (skipped)",
    "not_on_loan": "not on loan (nothing changed)",
    "duplicate": "same item as an earlier row (scanned once)",
    "refused": "ids damaged or missing (not sent)",
    "damaged_row": "with a cell more than the header (not sent)",
    "no_desk": "no desk for the location (not sent)",
    "hidden": "hidden by a filter or by hand, left alone (use --include-hidden to send them)",
    "alma_error": "Alma error",
    "unknown": "no answer from Alma (checked on the next run)",
    "stopped": "stopped before sending",
}

#: what a ``done`` cell may hold to mean "true" (people type these; Excel writes TRUE, WAHR, VRAI)
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "x", "done", "wahr", "vrai"})
#: what a ``done`` cell may hold to mean "false" (Excel writes FALSE, FALSCH, FAUX)
FALSE_WORDS = frozenset({"false", "no", "n", "0", "falsch", "faux"})

STOPPED_BY_USER = "Stopped before this row"
DONE_EARLIER = "Done in an earlier run"
NOT_ON_LOAN = "Was not on loan; nothing changed"
NO_ANSWER = "Alma did not answer; this row will be checked (not re-sent) on the next run"


@dataclass(frozen=True)
class Outcome:
    """The result of one row: ``row`` is the row number the user sees (line in the CSV, row in the sheet)."""

    row: int
    done: bool
    status: str
    kind: str
    needs_person: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown outcome kind {self.kind!r}")

    @property
    def failed(self) -> bool:
        """True when the row still needs work (counts towards exit code 1)."""
        return self.kind not in SUCCESS_KINDS

    @property
    def left_alone(self) -> bool:
        """True when the faces must write nothing into the row (a row hidden by a filter or by hand)."""
        return self.kind in LEFT_ALONE_KINDS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        return cls(
            row=int(data["row"]),
            done=bool(data["done"]),
            status=str(data["status"]),
            kind=str(data["kind"]),
            needs_person=bool(data.get("needs_person", False)),
        )


def is_true_word(text: object) -> bool:
    """Whether a ``done`` cell's text means "true" (see :data:`TRUE_WORDS`; case and spaces ignored)."""
    return str(text if text is not None else "").strip().casefold() in TRUE_WORDS


def is_our_done(text: object) -> bool:
    """True when a ``done`` cell holds what Alma Tools writes (TRUE or nothing), or what Excel and people
    make of one (any of :data:`TRUE_WORDS` or :data:`FALSE_WORDS`)."""
    value = str(text if text is not None else "").strip().casefold()
    return not value or value in TRUE_WORDS or value in FALSE_WORDS


# -- statuses of rows decided before any call (the plan) ---------------------------------------------------


def row_problem_status(row: int, problem: str) -> str:
    """A row the reader found damaged: its words ("has one cell more than the header …") as a sentence."""
    text = problem.strip()
    return f"Row {row} {text}" if text[:1].islower() else text


def no_ids_status(row: int) -> str:
    return f"Row {row} has no Item Id and no Barcode: fill one of them in"


def empty_id_status(label: str, row: int) -> str:
    return f"{label} is empty in row {row}: fill it in (export it with the {label} column)"


def no_temp_location_status(row: int) -> str:
    return f"Row {row} has no Temporary Location Code: use location type auto or perm"


def no_location_status(row: int) -> str:
    return f"Row {row} has no Location Code: fill it in, the desk is chosen by location"


def no_library_status(row: int) -> str:
    return f"Row {row} has no Library Code: fill it in (the scan-in is sent for a library)"


def no_desk_status(location: str, library: str) -> str:
    return f"No desk for location '{location}' (library {library}): add it to the Locations table"


def same_item_status(first_row: int) -> str:
    return f"Same item as row {first_row}"


def conflicting_ids_status(item_id: str, row: int, other_row: int) -> str:
    """Two rows name one item under different MMS or Holding Ids: one is wrong, so neither is sent."""
    return (
        f"Item Id {item_id} in row {row} is also in row {other_row} under another MMS Id or Holding Id: one "
        "of the two rows is wrong (copied from another row?); correct it from Alma, then run again"
    )


def barcode_no_desk_status(barcode: str, location: str, library: str) -> str:
    """A barcode-only row whose item (as Alma has it) is in a location the Locations table lacks."""
    return (
        f"No desk for location '{location}' (library {library}), where Alma has the item with barcode "
        f"{barcode}: add it to the Locations table"
    )


def daily_limit_status(remaining: int | None) -> str:
    """Status of rows left unsent because the institution's daily quota is nearly used up."""
    left = "" if remaining is None else f" ({counted(remaining, 'call', 'calls')} left)"
    return (
        f"Stopped: Alma's daily API limit is nearly used up{left}; "
        "run again after midnight (institution time)"
    )


def outcome_from_item(row: int, item: Item, *, confirmed: bool = False) -> Outcome:
    """Word the answer of a scan-in (or of a re-read after an interrupted run) for one row.

    Alma's scan-in answer has no "was returned" message: the loan is closed when ``process_type`` is no longer
    ``LOAN``. What comes next for the item decides the words: reshelve it, or set it aside because it travels
    to another library or waits on the hold shelf for a request.
    """
    process = (item.process_type or "").upper()
    returned = "Returned (confirmed after an interrupted run)" if confirmed else "Returned"
    destination = (item.destination or "").strip()
    if process == "LOAN":
        return Outcome(
            row,
            False,
            "Alma answered but the item is still on loan; check it in Alma",
            "alma_error",
            needs_person=True,
        )
    if process == "TRANSIT":
        where = destination or item.library_desc or item.library or "its home library"
        return Outcome(
            row, True, f"{returned}; in transit to {where} — set aside", "transit", needs_person=True
        )
    if process == "HOLDSHELF":
        return Outcome(
            row, True, f"{returned}; on hold shelf for a request — set aside", "hold_shelf", needs_person=True
        )
    if process:
        # a work order or another process Alma started on scan-in: done, but a person must look
        what = destination or process.replace("_", " ").lower()
        return Outcome(row, True, f"{returned}; Alma now shows it as {what} — set aside", "transit", True)
    shelf = destination
    if shelf.lower().startswith("reshelve to "):
        shelf = shelf[len("reshelve to ") :].strip()
    shelf = shelf or item.location_desc or item.location or "its location"
    return Outcome(row, True, f"{returned}; reshelve to {shelf}", "returned")


#: plain words for Alma's error codes; ``{row}`` is the user's row number
_ALMA_ERRORS = {
    "40166411": "Alma has no item with this Item Id; check row {row}",
    "402203": "Alma has no record with this MMS Id; check row {row}",
    "402204": "the MMS Id is not a number; check row {row}",
    "401688": "Alma found no item with these MMS Id and Holding Id; check row {row}",
    "401689": "Alma has no item with this barcode; check row {row}",
    "40166415": "Alma needs a circulation desk for this scan; check the Locations table for row {row}",
    "401664": (
        "Alma needs the library for this scan; check the Library Code of row {row} and the Locations table"
    ),
    "UNAUTHORIZED": (
        "the API key may not scan items in: ask your Alma administrator for a key with Bibs read/write"
    ),
}


def alma_error_status(row: int, code: str | None, message: str | None) -> str:
    """Plain words for an Alma error answer, falling back to Alma's own message for codes not known here."""
    code = (code or "").strip()
    friendly = _ALMA_ERRORS.get(code)
    text = friendly.format(row=row) if friendly else (message or "no message").strip()
    return f"Alma error {code}: {text}" if code else f"Alma error: {text}"


#: the beginnings of every status Alma Tools writes, this version and earlier ones (a user's own note in a
#: ``status`` column matches none of them): used to tell our column from the user's before a run writes to it
_OUR_STATUS = re.compile(
    "|".join(
        (
            r"Returned( \(confirmed after an interrupted run\))?; ",
            r"Alma error\b",
            r"Alma answered but the item is still on loan",
            r"Alma did not answer; ",
            r"Alma refused the API key",
            r"Could not reach Alma\b",
            r"Alma at \S+ could not be reached\b",
            r"A secure connection to \S+ could not be made\b",
            r"Lost contact with Alma\b",
            r"Stopped( before this row$|: )",
            r"Unexpected problem \(",
            re.escape(DONE_EARLIER) + "$",
            re.escape(NOT_ON_LOAN) + "$",
            r"Same item as row \d+$",
            r"No desk for location '",
            r"Row \d+ ",  # a row refused whole (no ids, or a row the reader found damaged)
            r".*the row is not sent until then$",
            r"[^;:]{1,80} in row \d+\b.*: ",  # a refused cell: "<column> [is empty] in row <n> …: <fix>"
            r"Cannot write the run folder\b",
            r"The journal\b",
        )
    )
)


def is_our_status(text: object) -> bool:
    """True when a ``status`` cell holds a text Alma Tools writes (any version) or nothing at all.

    A ``status`` column with any other text is the user's own, and a run must not overwrite it.
    """
    value = "" if text is None else str(text).strip()
    return not value or _OUR_STATUS.match(value) is not None
