"""What the discharge run needs of an Alma client, as types: :class:`ScanClient` and :data:`ClientFactory`.

:class:`~alma_tools.alma.sessions.AlmaClient` is the one implementation; the run is typed on the protocol so
that it depends on these few operations only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from alma_tools.alma.responses import Item, Loan, ResponseRecord
from alma_tools.alma.retry import RetryPolicy

#: the hook that receives every answer (the run journal's ``save_answer``)
OnResponse = Callable[[ResponseRecord], None]


class ScanClient(Protocol):
    """The Alma operations a discharge run makes, and the settings its preflight shortens."""

    base_url: str
    timeout: float | tuple[float, float]
    retry: RetryPolicy

    def scan_in(
        self,
        mms_id: str,
        holding_id: str,
        item_id: str,
        *,
        library: str,
        circ_desk: str,
        register_in_house_use: bool = False,
        done: bool | None = None,
        auto_print_slip: bool | None = None,
        place_on_hold_shelf: bool | None = None,
    ) -> Item: ...

    def item_by_barcode(self, barcode: str) -> Item: ...

    def item_ids_by_barcode(self, barcode: str) -> tuple[str, str, str]: ...

    def get_item(self, mms_id: str, holding_id: str, item_id: str) -> Item: ...

    def item_loans(self, mms_id: str, holding_id: str, item_id: str) -> list[Loan]: ...

    def test_key(self, write: bool = False) -> None: ...

    def close(self) -> None: ...


#: ``make_client(on_response)``: the run's client, built once the run's journal can take its answers
ClientFactory = Callable[[OnResponse | None], ScanClient]
