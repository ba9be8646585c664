"""The Settings sheet: named cells read with safe defaults, and a message naming the cell to fix.

The rules for what a setting may be live with the cores, not here: :class:`DischargeOptions` judges the
rate and the location type, the loans reader the date order, the statistics the as-of. This module only
reads the cells and puts the cell's name in front of the core's message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from alma_tools.concurrency.core import as_of_moment
from alma_tools.concurrency.loans import DATE_ORDERS
from alma_tools.discharge import DischargeOptions
from alma_tools.discharge.outcomes import is_true_word
from alma_tools.errors import InputError

#: the Settings sheet's workbook names and their defaults (used when a name is missing or its cell empty)
SETTING_DEFAULTS: dict[str, Any] = {
    "AlmaRegion": "na",
    "AlmaBaseUrl": "",
    "AlmaRate": 20.0,
    "InHouseUse": False,
    "LocationType": "auto",
    "DateOrder": "auto",
    "AsOf": "",
    "ItemsReportPath": "",
    "LoansReportPath": "",
}

_T = TypeVar("_T")


@dataclass(frozen=True)
class Settings:
    """What the Settings sheet says (never the API key: that lives in the OS credential store)."""

    region: str
    base_url: str
    options: DischargeOptions
    #: how the loans export writes text dates (``mdy``, ``dmy``, ``ymd``), None to decide from the file
    date_order: str | None = None

    @property
    def rate(self) -> float:
        return self.options.rate

    @property
    def in_house_use(self) -> bool:
        return self.options.register_in_house_use

    @property
    def location_type(self) -> str:
        return self.options.location_type

    def gateway(self) -> tuple[str | None, str | None]:
        """``(base_url, region)`` for the client: AlmaBaseUrl when given (the region is then unused)."""
        return (self.base_url, None) if self.base_url else (None, self.region)


def _setting(book: Any, name: str) -> Any:
    """The value of workbook name ``name``, or its default when the name is missing or its cell empty."""
    for defined in book.names:
        if defined.name.split("!")[-1] == name:
            try:
                value = defined.refers_to_range.value
            except Exception:  # a name pointing nowhere (#REF!) behaves like a missing one
                break
            if value not in (None, ""):
                return value
            break
    return SETTING_DEFAULTS[name]


def _judged(name: str, value: Any, judge: Callable[[], _T]) -> _T:
    """``judge()``, with its InputError put as "Settings › <name> is <value>: <the core's reason>"."""
    try:
        return judge()
    except InputError as error:
        raise InputError(f"Settings › {name} is {value!r}: {error}") from None


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(
            "give a number of calls per second, at most 25 (20 leaves room for others)"
        ) from None


def _date_order(value: Any) -> str | None:
    text = str(value).strip().lower()
    if text in ("", "auto"):
        return None
    if text not in DATE_ORDERS:
        raise InputError(f"choose auto, {', '.join(DATE_ORDERS)} (how the loans export writes dates)")
    return text


def _as_of(value: Any) -> dt.datetime | None:
    try:
        return as_of_moment(value)
    except InputError:
        raise InputError(
            "type the end of the period as a date, e.g. 2026-06-30 or 2026-06-30 23:59 (the date the "
            "export was made), or leave it empty to count up to now"
        ) from None


def read_report_path(book: Any, name: str) -> str:
    """Settings › ItemsReportPath or LoansReportPath: the Analytics report Fetch from Analytics reads."""
    return str(_setting(book, name)).strip()


def read_date_order(book: Any) -> str | None:
    """Settings › DateOrder alone (the statistics need only it and AsOf from the Settings sheet)."""
    value = _setting(book, "DateOrder")
    return _judged("DateOrder", value, lambda: _date_order(value))


def read_as_of(book: Any) -> dt.datetime | None:
    """Settings › AsOf: the end of the period, up to which Concurrent checkouts counts the loans still out;
    None (empty) for now. Not part of :func:`read_settings`: a discharge never needs it."""
    value = _setting(book, "AsOf")
    return _judged("AsOf", value, lambda: _as_of(value))


def read_settings(book: Any) -> Settings:
    """Read the Settings sheet's named cells, with safe defaults; the cores judge them, the cell is named."""
    rate_value = _setting(book, "AlmaRate")
    rate = _judged("AlmaRate", rate_value, lambda: _number(rate_value))
    location_type = str(_setting(book, "LocationType")).strip().lower()
    in_house = _setting(book, "InHouseUse")
    if isinstance(in_house, str):
        in_house = is_true_word(in_house)
    _judged("AlmaRate", rate_value, lambda: DischargeOptions(rate=rate))
    options = _judged(
        "LocationType",
        location_type,
        lambda: DischargeOptions(
            location_type=location_type, rate=rate, register_in_house_use=bool(in_house)
        ),
    )
    return Settings(
        region=str(_setting(book, "AlmaRegion")).strip().lower(),
        base_url=str(_setting(book, "AlmaBaseUrl")).strip(),
        options=options,
        date_order=read_date_order(book),
    )
