"""One cell as text: how numbers, dates and booleans read, what is stripped, what messages show.

Ids are text from file to URL, so nothing here converts text to a number; a cell that already *is* a number
(from a workbook or a sheet) is written the way Excel shows it, so the id checks see what the user sees.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

#: characters stripped from both ends of a cell's text (Excel users paste NBSPs and thin spaces from the web)
STRIP_CHARS = " \t\r\n\u00a0\u2007\u202f\ufeff"

#: characters nobody sees on screen: zero-width space/joiners, word joiner, soft hyphen, BOM, NBSP and kin
INVISIBLE_CHARS = "\u200b\u200c\u200d\u2060\u00ad\ufeff\u00a0\u2007\u202f\u180e"
#: what :func:`visible` spells out: the invisible characters, control characters, line and paragraph
#: separators, direction marks, bidi embeddings and isolates, invisible operators
_SHOWN_RE = re.compile(
    f"[{INVISIBLE_CHARS}\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u2028\u2029"
    "\u200e\u200f\u202a-\u202e\u2061-\u2064\u2066-\u2069]"
)

_INT_TYPES = (int, np.integer)
_FLOAT_TYPES = (float, np.floating)


def visible(value: Any, limit: int | None = 60) -> str:
    """``value`` as a message shows it: invisible characters spelled out (``MMS Id<U+200B>``), long text cut.

    A header or code that "looks right" but is not recognised almost always holds a character nobody can
    see; naming it is what lets a person fix it.
    """
    text = "" if value is None else str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return _SHOWN_RE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def number_text(value: Any) -> str:
    """A number as Excel shows it in a cell formatted as General-without-exponent: 15 significant digits.

    Ids that went through Excel are floats; their digits past the 15th are noise, and Excel shows zeros
    there (``990636224614163000``), which is what the user sees and what the id checks recognise.
    """
    if isinstance(value, _INT_TYPES):
        return str(int(value))
    number = float(value)
    if not np.isfinite(number):
        return ""
    text = f"{number:.15g}"
    if "e" in text:
        text = format(Decimal(text), "f")
    return text


def other_text(value: Any) -> str:
    """Dates, times and booleans as a person would type them (ISO dates; TRUE/FALSE like Excel)."""
    if isinstance(value, bool | np.bool_):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def plain_text(value: Any) -> str:
    """One cell as stripped text for classifying its row ("" for empty)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return value.strip(STRIP_CHARS) if isinstance(value, str) else other_text(value)


def is_number(value: Any) -> bool:
    """True for a number cell (not a boolean, which Python counts as an int)."""
    return isinstance(value, _INT_TYPES + _FLOAT_TYPES) and not isinstance(value, bool | np.bool_)


def cell_text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Cells as clean text plus whether each cell was a number; whole-column, fast path for all-text columns.

    Text: None/NaN → "", spaces and NBSPs stripped at both ends, numbers as Excel shows them (see
    :func:`number_text`), TRUE/FALSE, ISO dates. ``was_number`` is True where the cell held a number, so
    :mod:`alma_tools.ids` can say "turned into a number by Excel".
    """
    was_number = pd.Series(False, index=values.index, dtype=bool)
    if values.dtype != object:
        values = values.astype(object)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):  # text and empty cells only
        stripped = [v.strip(STRIP_CHARS) if isinstance(v, str) else "" for v in values.to_numpy()]
        return pd.Series(stripped, index=values.index, dtype=object), was_number
    is_str = values.map(lambda v: isinstance(v, str)).astype(bool)
    text = pd.Series("", index=values.index, dtype=object)
    if is_str.any():
        text[is_str] = values[is_str].str.strip(STRIP_CHARS)
    rest = ~is_str & values.notna()
    if rest.any():
        others = values[rest]
        numeric = others.map(is_number).astype(bool)
        if numeric.any():
            text[numeric[numeric].index] = others[numeric].map(number_text)
            was_number[numeric[numeric].index] = True
        if (~numeric).any():
            text[numeric[~numeric].index] = others[~numeric].map(other_text).str.strip(STRIP_CHARS)
    return text.astype(object), was_number
