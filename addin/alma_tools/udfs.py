"""Worksheet functions: ``=ALMA_CHECK_ID(cell)`` and ``=ALMA_CONCURRENCY(loans_range, [as_of])``.

Why these exist: staff paste exports and want to see, in the sheet, which id Excel has damaged and how busy
each volume is, without pressing a button. Both functions are thin faces over the same cores the command
line uses (:func:`alma_tools.ids.describe_damage`, :mod:`alma_tools.concurrency`), so a cell never disagrees
with ``alma-tools``.

How they reach Excel: the workbook's ``xlwings.conf`` lists ``UDF Modules = alma_tools.udfs``; the VBA
module ``xlwings_udfs`` with one wrapper per function is generated from this module at build time
(``xlwings.udfs.generate_vba_wrapper``). The cores are imported inside the functions so that generating
the wrappers (and the COM server's start-up import) only needs xlwings, not the whole product.

Errors: a user mistake (``AlmaToolsError``) becomes the message in the cell, never ``#VALUE!`` with a
traceback. Signature hints use only types xlwings has converters for (``Any``, ``str``, ``list``),
because xlwings turns a UDF's hints into conversion options. ``ALMA_CONCURRENCY`` spills through Excel's
native dynamic arrays (Excel 365/2021), which is why there is no ``expand=`` option: xlwings' legacy
expansion would fight with the spill.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import xlwings as xw

from alma_tools.cells import safe_text
from alma_tools.errors import AlmaToolsError, InputError


@xw.func(category="Alma Tools")
@xw.arg("cell", doc="The cell holding an Alma id (MMS Id, Holding Id, Item Id) or a barcode")
def ALMA_CHECK_ID(cell: Any) -> str:
    """Empty when the id is sound, else what Excel did to it (scientific notation, lost digits, ...)."""
    from alma_tools.ids import describe_damage

    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return ""
    return safe_text(describe_damage(cell))


@xw.func(category="Alma Tools")
@xw.arg("loans_range", ndim=2, doc="The loans export, header row included (title rows above it are fine)")
@xw.arg("as_of", doc="Optional: the end of the period (a date); default: now")
def ALMA_CONCURRENCY(loans_range: list, as_of: Any = None) -> list:
    """The per-volume concurrent-checkout table (with its header), spilling from the formula's cell."""
    from alma_tools.concurrency import compute, read_loans
    from alma_tools.sheets import frame_values

    try:
        moment = as_of_datetime(as_of)
        stats = compute(read_loans([list(row) for row in loans_range]), as_of=moment)
    except AlmaToolsError as error:
        return [[safe_text(str(error))]]
    return frame_values(stats.volumes, blank="")


def as_of_datetime(value: Any) -> dt.datetime | None:
    """Turn what a cell can hold (a date, an Excel serial number, ISO text) into the as-of moment; None
    when empty (now). The statistics' one rule (:func:`alma_tools.concurrency.core.as_of_moment`, which
    Settings › AsOf uses too); only the message is this function's own."""
    from alma_tools.concurrency.core import as_of_moment

    try:
        return as_of_moment(value)
    except InputError:
        raise InputError(
            f"as_of {value!r} is not a date: give a date cell, or leave it out to use today"
        ) from None
