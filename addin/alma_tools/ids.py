"""Checking Alma ids and barcodes for the damage Excel does, before any of them reaches the API.

An Alma id is a two-digit type prefix (99 bibliographic record, 22 holding, 23 item), a unique middle and the
institution's four-digit code at the end: 15 to 19 digits, more than Excel's 15 significant digits. When
someone opens an export in Excel and saves it, the ids become numbers: shown as ``9.93547E+17``, stored as
``990636224614163000`` (the institution code replaced by zeros, irrecoverably), or written back as
``993546848745263681.0``; barcodes lose their leading zeros. Sending such an id scans nothing, or worse the
wrong record, so every damaged cell is refused with the row, the column and the fix.

Decisions (each errs on the side of never refusing a sound id or a legitimate barcode):

* spaces at the ends are stripped silently (by :func:`alma_tools.tables.cell_text`); a space or NBSP
  *inside* an id is refused, because it usually means two ids pasted into one cell;
* a leading apostrophe is refused rather than removed: it shows the column went through a hand edit, and
  ids are never rewritten silently;
* length: Alma ids have 15–19 digits in practice; only fewer than 6 or more than 22 is refused (lenient);
* type prefix: a bibliographic id not starting with 99, a holding id not with 22 or an item id not with 23 is
  refused. Alma builds every id with its type prefix, so this cannot refuse a sound id, and it catches
  swapped columns cheaply;
* the 15-digit cut: more than 15 digits, only zeros after the 15th, and not ending with the institution
  code of the file (:func:`institution_suffix`). When the code is unknown, a 16-digit id ending in one
  zero is accepted (one sound id in ten ends so) unless the cell held a number;
* barcodes are free text (``303011kj0``, ``0447203478``). One is refused when it is in scientific notation,
  has a decimal ``.0`` or thousands separators, held a number of more than 15 digits, or looks like it lost
  its leading zeros: all digits, no leading zero, shorter than the file's barcodes that *do* start with a
  zero, fewer of them than of those, and not known to be a text cell (an XLSX text cell keeps its zeros).

Everything is whole-column (pandas string methods and regexes); only the rows refused get a Python-built
message. :func:`describe_damage` (the worksheet function ``=ALMA_CHECK_ID(cell)``) uses the same rules.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from alma_tools.tables import cell_text

Kind = Literal["mms", "holding", "item", "barcode", "any"]

#: type prefix Alma gives each kind of id
PREFIXES: dict[str, str] = {"mms": "99", "holding": "22", "item": "23"}
_KIND_NAMES = {"mms": "MMS ids", "holding": "holding ids", "item": "item ids"}
_PREFIX_NAMES = {"99": "an MMS id", "22": "a holding id", "23": "an item id"}

#: ids shorter or longer than this are refused (Alma's are 15–19 digits; leave room for other institutions)
MIN_DIGITS, MAX_DIGITS = 6, 22
#: Excel keeps this many significant digits of a number
EXCEL_DIGITS = 15

EXCEL_ERRORS = frozenset(
    {"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!", "#GETTING_DATA",
     "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!", "#UNKNOWN!"}
)  # fmt: skip

# [0-9], not \d: \d also matches Arabic-Indic and full-width digits, which Alma ids never contain.
_SCIENTIFIC = r"[+-]?[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]+"
_DECIMAL = r"[0-9]+[.,]0+"
_THOUSANDS = r"[0-9]{1,3}(?P<sep>[,.\u00a0\u202f' ])[0-9]{3}(?:(?P=sep)[0-9]{3})+"
_INNER_SPACE = r"[\s\u00a0\u2007\u202f]"  # ends are already stripped: any space is inside

#: short "what happened" sentences, one per kind of damage (the worksheet function shows these)
WHAT = {
    "excel_error": "The cell holds an Excel error, not an id: a formula failed.",
    "scientific": "Excel turned this into a number in scientific notation; its last digits are lost.",
    "cut": "Excel turned this into a number and replaced the digits after the 15th with zeros.",
    "decimal": "Saved as a decimal number (with '.0'); the digits may no longer be right.",
    "thousands": "Saved as a number with thousands separators.",
    "apostrophe": "Starts with an apostrophe, which is not part of an id.",
    "space": "Has a space inside; an id is one run of digits.",
    "not_digits": "Not an Alma id: ids are digits only.",
    "length": f"Too short or too long for an Alma id ({MIN_DIGITS}–{MAX_DIGITS} digits).",
    "prefix": "Starts with the wrong type prefix for this column (99 MMS, 22 holding, 23 item).",
    "zeros_lost": "Excel turned this barcode into a number and dropped its leading zeros.",
}

_REEXPORT = (
    "export the file from Alma again and open it with Alma Tools directly (or import the column as Text)"
)


def _classify(text: pd.Series, was_number: pd.Series | None, kind: Kind, suffix: str | None) -> pd.Series:
    """Damage code per cell ("" when sound), the first rule that applies in priority order; whole-column.

    Speed matters (100,000 rows): one regex pass splits the column into all-digit cells, which only need
    the length, prefix, cut and leading-zero rules, and the rest (usually few), which get the text rules.
    """
    codes = pd.Series("", index=text.index, dtype=object)
    numbered = (
        was_number.reindex(text.index).astype("boolean").fillna(False).astype(bool)
        if was_number is not None
        else pd.Series(False, index=text.index)
    )
    digits_only = text.str.fullmatch(r"[0-9]+").fillna(False).astype(bool)
    other = (text != "") & ~digits_only
    if other.any():
        codes[other] = _text_rules(text[other], kind)
    if digits_only.any():
        digits = text[digits_only]
        codes[digits_only] = _digit_rules(digits, numbered[digits_only], kind, suffix, was_number)
    return codes


def _text_rules(text: pd.Series, kind: Kind) -> np.ndarray:
    """Codes for cells that are not all digits: Excel's number formats, errors, apostrophes, spaces."""
    conditions: list[tuple[str, pd.Series]] = [
        ("excel_error", text.str.upper().isin(EXCEL_ERRORS)),
        ("scientific", text.str.fullmatch(_SCIENTIFIC)),
        ("apostrophe", text.str.startswith(("'", "\u2019"))),
        ("decimal", text.str.fullmatch(_DECIMAL)),
        ("thousands", text.str.fullmatch(_THOUSANDS)),
    ]
    if kind not in ("barcode", "any"):  # barcodes are free text; anything else is not an id
        conditions += [
            ("space", text.str.contains(_INNER_SPACE)),
            ("not_digits", pd.Series(True, index=text.index)),
        ]
    return _first_code(text.index, conditions)


def _digit_rules(
    digits: pd.Series, numbered: pd.Series, kind: Kind, suffix: str | None, was_number: pd.Series | None
) -> np.ndarray:
    """Codes for all-digit cells: the 15-digit cut, length, type prefix, and lost leading zeros."""
    length = digits.str.len()
    tail_zero = pd.Series(False, index=digits.index)
    long = length > EXCEL_DIGITS
    if long.any():
        tail_zero[long] = digits[long].str.fullmatch(rf"[0-9]{{{EXCEL_DIGITS}}}0+").astype(bool)
    if kind == "barcode":  # a long all-digit barcode may legitimately end in zeros, unless it was a number
        cut = tail_zero & numbered
    elif suffix:
        cut = tail_zero & ~digits.str.endswith(suffix)
    else:  # one sound id in ten ends in a zero: with no institution code known, a single one is not proof
        cut = tail_zero & ((length > EXCEL_DIGITS + 1) | numbered)
    conditions: list[tuple[str, pd.Series]] = [("cut", cut)]
    if kind in PREFIXES:
        conditions += [
            ("length", (length < MIN_DIGITS) | (length > MAX_DIGITS)),
            ("prefix", ~digits.str.startswith(PREFIXES[kind])),
        ]
    elif kind == "barcode":
        maybe_number = (
            was_number.reindex(digits.index).astype("boolean").fillna(True).astype(bool)
            if was_number is not None
            else pd.Series(True, index=digits.index)
        )
        conditions.append(("zeros_lost", _zeros_lost(digits, length, maybe_number)))
    return _first_code(digits.index, conditions)


def _first_code(index: pd.Index, conditions: list[tuple[str, pd.Series]]) -> np.ndarray:
    """The code of the first condition that holds for each cell, "" where none does."""
    masks = [mask.reindex(index).fillna(False).astype(bool).to_numpy() for _, mask in conditions]
    return np.select(masks, [code for code, _ in conditions], default="").astype(object)


def _zeros_lost(digits: pd.Series, length: pd.Series, maybe_number: pd.Series) -> pd.Series:
    """All-digit barcodes that look like they lost leading zeros, judged against the file's zero-led ones."""
    led = digits.str.startswith("0").astype(bool)
    none = pd.Series(False, index=digits.index)
    if not led.any():
        return none
    usual = int(length[led].mode().iloc[0])
    usual_count = int((led & (length == usual)).sum())
    candidate = ~led & (length < usual) & maybe_number
    if not candidate.any():
        return none
    per_length = length[candidate].value_counts()
    rare_lengths = per_length[per_length < usual_count].index
    return candidate & length.isin(rare_lengths)


def institution_suffix(*id_columns: pd.Series) -> str | None:
    """The four digits most ids of the file end with (the institution code); None without a majority.

    Only plausible ids count: digits only, 8–22 long, and not already cut by Excel (zeros after the 15th
    digit), so a badly damaged file cannot make ``3000`` look like the institution code.
    """
    texts = [cell_text(column)[0] for column in id_columns]
    if not texts:
        return None
    ids = pd.concat(texts, ignore_index=True)
    plausible = ids[ids.str.fullmatch(r"[0-9]{8,22}").fillna(False).astype(bool)]
    cut = (plausible.str.len() > EXCEL_DIGITS) & plausible.str.slice(EXCEL_DIGITS).str.fullmatch(
        r"0+"
    ).fillna(False).astype(bool)
    plausible = plausible[~cut]
    if plausible.empty:
        return None
    counts = plausible.str.slice(-4).value_counts()
    if counts.iloc[0] * 2 <= len(plausible):
        return None
    return str(counts.index[0])


def check_id_column(
    values: pd.Series,
    was_number: pd.Series | None,
    *,
    label: str,
    rows: pd.Series,
    kind: Kind,
    suffix: str | None,
) -> pd.Series:
    """Check a column of ids (as clean text): "" for each sound or blank cell, else that row's message.

    ``was_number`` says which cells held numbers (None, or <NA> cells, where nobody knows: CSV); ``rows``
    are the user-visible row numbers (same index); ``suffix`` the institution code from
    :func:`institution_suffix`.
    Blank cells pass: whether a blank is allowed is the caller's decision (a barcode may replace the ids).
    """
    text = values.fillna("").astype(object)
    if pd.api.types.infer_dtype(text, skipna=False) not in ("string", "empty"):
        text = text.map(str)  # a caller passed raw cells: compare their text, never crash
    codes = _classify(text, was_number, kind, suffix)
    messages = pd.Series("", index=text.index, dtype=object)
    flagged = codes[codes != ""]
    if flagged.empty:
        return messages
    context = _barcode_context(text) if kind == "barcode" else None
    values_at, rows_at = text[flagged.index], rows.reindex(flagged.index)
    messages.loc[flagged.index] = np.array(
        [
            _message(code, value, label, row, kind, suffix, context)
            for code, value, row in zip(flagged, values_at, rows_at, strict=True)
        ],
        dtype=object,
    )
    return messages


def _barcode_context(text: pd.Series) -> tuple[int, str] | None:
    """The usual length of zero-led barcodes in the file and one example, for the "leading zeros" message."""
    led = text[text.str.fullmatch(r"0[0-9]+").fillna(False).astype(bool)]
    if led.empty:
        return None
    usual = int(led.str.len().mode().iloc[0])
    return usual, str(led[led.str.len() == usual].iloc[0])


def _shown(value: str) -> str:
    """A cell value as quoted in a message: long values cut, so one message stays one line."""
    return value if len(value) <= 40 else value[:37] + "…"


def _message(
    code: str,
    value: str,
    label: str,
    row: Any,
    kind: Kind,
    suffix: str | None,
    context: tuple[int, str] | None,
) -> str:
    """The message for one refused cell: what happened, in which row and column, and the fix."""
    where = f"{label} in row {row}"
    shown = _shown(value)
    if code == "excel_error":
        return (
            f"{where} holds the Excel error {shown} instead of a value: a formula failed (for example a "
            "lookup that found nothing); put the value itself in the cell"
        )
    if code == "scientific":
        return (
            f"{where} was turned into a number by Excel and is shown as {shown}, so its digits are lost: "
            f"{_REEXPORT}"
        )
    if code == "cut":
        ending = f" (the ids of this file end in {suffix})" if suffix and kind != "barcode" else ""
        return (
            f"{where} was turned into a number by Excel and lost its last digits ({shown}){ending}: "
            f"{_REEXPORT}"
        )
    if code == "decimal":
        return (
            f"{where} was saved as a decimal number ({shown}), so its digits may no longer be right: "
            f"{_REEXPORT}"
        )
    if code == "thousands":
        return (
            f"{where} has thousands separators ({shown}): the column was formatted as a number; "
            f"{_REEXPORT}, or format the column as Text and type the value without separators"
        )
    if code == "apostrophe":
        return f"{where} starts with an apostrophe ({shown}): remove the apostrophe so only the id remains"
    if code == "space":
        return (
            f"{where} has a space inside ({shown}): an Alma id is one run of digits; remove the space, or "
            "put each id in its own row if two were pasted together"
        )
    if code == "not_digits":
        return f"{where} is not an Alma id ({shown}): Alma ids are digits only; check the column holds ids"
    if code == "length":
        return (
            f"{where} has {len(value)} characters ({shown}), "
            f"too {'few' if len(value) < MIN_DIGITS else 'many'} for an Alma id (usually 15 to 19 digits): "
            "check that the right column was exported"
        )
    if code == "prefix":
        expected = PREFIXES[kind]
        looks = _PREFIX_NAMES.get(value[:2])
        hint = (
            f"it looks like {looks}: are the columns swapped?"
            if looks
            else f"check that the column holds {_KIND_NAMES[kind]}"
        )
        return f"{where} ({shown}) does not start with {expected} as {_KIND_NAMES[kind]} do: {hint}"
    if code == "zeros_lost":
        usual, example = context if context else (len(value) + 1, "0" + value)
        padded = value.rjust(usual, "0")
        return (
            f"{where} ({shown}) looks like Excel turned it into a number and dropped its leading zeros: "
            f"other barcodes in this file have {usual} digits starting with 0 (like {example}); "
            f"{_REEXPORT}, or type the barcode as it is on the item (perhaps {padded})"
        )
    raise ValueError(f"unknown damage code {code!r}")  # a programming error, not a user's


def damage_codes(
    values: pd.Series, was_number: pd.Series | None, *, kind: Kind, suffix: str | None
) -> pd.Series:
    """The kind of damage of each cell ("" when sound; else a key of :data:`WHAT`, e.g. ``zeros_lost``).

    The same rules as :func:`check_id_column`, for a caller that treats kinds differently (the statistics
    count an items row whose barcode only lost its leading zeros as the copy it still is).
    """
    return _classify(values.fillna("").astype(object).map(str), was_number, kind, suffix)


def describe_damage(value: Any, kind: Kind = "any") -> str:
    """What Excel did to one cell, in one short sentence ("" when the value looks sound).

    For the worksheet function ``=ALMA_CHECK_ID(cell)``: the same rules as :func:`check_id_column`, on one
    value, without the file's context (no institution code, no barcode comparison). ``kind`` "any" (for a
    cell that may hold an id or a barcode) applies only what no sound id or barcode can show: Excel
    errors, scientific notation, ``.0``, thousands separators, an apostrophe and the 15-digit cut.
    """
    text, was_number = cell_text(pd.Series([value], dtype=object))
    code = _classify(text, was_number, kind, None).iloc[0]
    return WHAT[code] if code else ""
