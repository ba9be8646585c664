"""The Settings sheet: named cells read with safe defaults, and a message naming the cell to fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alma_tools.errors import InputError

#: the Settings sheet's workbook names and their defaults (used when a name is missing or its cell empty)
SETTING_DEFAULTS: dict[str, Any] = {
    "AlmaRegion": "na",
    "AlmaBaseUrl": "",
    "AlmaRate": 20.0,
    "InHouseUse": False,
    "LocationType": "auto",
}


@dataclass(frozen=True)
class Settings:
    """What the Settings sheet says (never the API key: that lives in the OS credential store)."""

    region: str
    base_url: str
    rate: float
    in_house_use: bool
    location_type: str


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


def read_settings(book: Any) -> Settings:
    """Read the Settings sheet's named cells, with safe defaults, and say which cell to fix if one is bad."""
    rate_value = _setting(book, "AlmaRate")
    try:
        rate = float(rate_value)
    except (TypeError, ValueError):
        rate = -1.0
    if not 0 < rate <= 25:
        raise InputError(
            f"Settings › AlmaRate is {rate_value!r}: give a number of calls per second from 1 to 25 "
            "(20 leaves room for your other systems)"
        )
    location_type = str(_setting(book, "LocationType")).strip().lower()
    if location_type not in ("auto", "temp", "perm"):
        raise InputError(
            f"Settings › LocationType is {location_type!r}: choose auto (the temporary location when "
            "there is one), temp or perm"
        )
    in_house = _setting(book, "InHouseUse")
    if isinstance(in_house, str):
        in_house = in_house.strip().lower() in ("true", "yes", "1", "wahr", "vrai")
    return Settings(
        region=str(_setting(book, "AlmaRegion")).strip().lower(),
        base_url=str(_setting(book, "AlmaBaseUrl")).strip(),
        rate=rate,
        in_house_use=bool(in_house),
        location_type=location_type,
    )
