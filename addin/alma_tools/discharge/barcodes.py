"""Barcode-only rows at run time: the item's ids from Alma's barcode lookup, and each item once per run.

A row with only a barcode needs its item's ids before the scan-in. When the row has its library and location
(its desk is known from the plan), one request gives them: Alma's lookup redirects to the item's own path,
and :meth:`~alma_tools.alma.AlmaClient.item_ids_by_barcode` reads the ids from that redirect without
following it, so the row costs two calls with its scan. Without them, the lookup is followed to the item
record, whose library and location choose the desk (three calls), and which shows whether the item is on
loan at all.

Once its ids are known, the row claims its Item Id in the run's
:class:`~alma_tools.discharge.plan.ItemClaims`: an item another row names (by ids, or by another barcode that
resolved first) is "Same item as row N", not scanned a second time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from alma_tools.alma.protocols import ScanClient
from alma_tools.discharge.outcomes import (
    NOT_ON_LOAN,
    Outcome,
    barcode_no_desk_status,
    outcome_from_item,
    same_item_status,
)
from alma_tools.discharge.plan import PlannedRow

Ids = tuple[str, str, str]


@dataclass(frozen=True)
class Resolved:
    """A barcode-only row ready to scan: ``prow`` carries the library and desk (from the item record when the
    row had none), ``ids`` the item's; ``loan_open`` is True when the item record was read and shows the
    loan still open (a scan of an interrupted run did not go through: no need to read the loans again)."""

    prow: PlannedRow
    ids: Ids
    loan_open: bool = False


def resolve_barcode_row(client: ScanClient, prow: PlannedRow, verify_first: bool) -> Resolved | Outcome:
    """The row's ids (and desk), or its outcome when it must not be scanned; Alma's errors propagate."""
    lookup = prow.lookup
    if lookup is not None and not lookup.needs_item:
        ids: Ids = client.item_ids_by_barcode(prow.barcode)
        taken = lookup.claims.claim(ids[2], prow.row)
        if taken is not None:
            return Outcome(prow.row, False, same_item_status(taken), "duplicate")
        return Resolved(prow, ids)
    item = client.item_by_barcode(prow.barcode)
    ids = (item.mms_id, item.holding_id, item.item_id)
    if lookup is not None:
        taken = lookup.claims.claim(item.item_id, prow.row)
        if taken is not None:
            return Outcome(prow.row, False, same_item_status(taken), "duplicate")
    if str(item.process_type or "").upper() != "LOAN":
        if verify_first:  # our scan of an interrupted run went through
            return outcome_from_item(prow.row, item, confirmed=True)
        return Outcome(prow.row, False, NOT_ON_LOAN, "not_on_loan")
    if lookup is None or (prow.circ_desk and prow.library):
        return Resolved(prow, ids, loan_open=True)
    location = prow.location or item.location
    found = lookup.desks.find(location, prow.library or item.library)
    if found is None:
        status = barcode_no_desk_status(prow.barcode, location, prow.library or item.library)
        return Outcome(prow.row, False, status, "no_desk")
    library, desk = found
    placed = dataclasses.replace(prow, library=library, circ_desk=desk, location=location)
    return Resolved(placed, ids, loan_open=True)
