"""The parts of an XLSX/XLSM package, read with the standard library: its sheets and which one to read,
its shared strings, a sheet's first rows, and whether a sheet's XML holds what a fast reader does not report.

Nothing here needs pandas or a spreadsheet library, so a large workbook can be opened and its parse started
on another core (:mod:`.xlsx_columns`) while the statistics' libraries are still loading.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from typing import Any

import defusedxml.ElementTree as ElementTree

from alma_tools.errors import InputError

_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_NS = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
#: what the sheet XML says that calamine and fastexcel do not: hidden rows, merges, formulas, error cells
#: (a bytes search for each is a memchr-speed scan; one regex alternation over 100 MB is many times slower)
SPECIAL_TOKENS = (b'hidden="', b"<mergeCell", b"<f", b't="e"')  # "<f": formulas (and filters)
_ROW, _CELL, _VALUE, _TEXT, _RUN, _INLINE, _ITEM, _SHEET_DATA = (
    f"{_MAIN_NS}{tag}" for tag in ("row", "c", "v", "t", "r", "is", "si", "sheetData")
)


@dataclass(frozen=True)
class SheetInfo:
    """One sheet of a workbook as workbook.xml lists it."""

    name: str
    part: str  # zip member of its XML, e.g. xl/worksheets/sheet1.xml ("" when the rels do not say)
    hidden: bool  # state="hidden" or "veryHidden"
    is_chart: bool


def workbook_sheets(archive: zipfile.ZipFile) -> tuple[list[SheetInfo], int]:
    """The sheets in workbook order, and the index of the active tab (``activeTab``, default 0)."""
    workbook_part = _workbook_part(archive)
    targets = {
        rel_id: (part, kind.endswith("/chartsheet"))
        for rel_id, kind, part in _workbook_relationships(archive, workbook_part)
    }
    root = ElementTree.fromstring(archive.read(workbook_part))
    sheets = []
    for element in root.iter(f"{_MAIN_NS}sheet"):
        part, is_chart = targets.get(element.get(f"{_REL_NS}id", ""), ("", False))
        state = element.get("state", "visible")
        sheets.append(SheetInfo(element.get("name", ""), part, state != "visible", is_chart))
    view = root.find(f"{_MAIN_NS}bookViews/{_MAIN_NS}workbookView")
    active = int(view.get("activeTab", "0")) if view is not None else 0
    return sheets, active


def choose_sheet(name: str, sheets: list[SheetInfo], active: int, wanted: str | None) -> SheetInfo:
    """The sheet named ``wanted``; else the active sheet when visible, else the first visible worksheet.

    A hidden sheet is read only when named. An unknown name, or a workbook with no visible worksheet,
    is an InputError listing the sheets.
    """
    listed = ", ".join(s.name + (" (hidden)" if s.hidden else "") for s in sheets)
    if wanted is not None:
        for info in sheets:
            if info.name == wanted:
                if info.is_chart:
                    raise InputError(
                        f"Sheet '{info.name}' in {name} is a chart, not a table: choose another sheet."
                    )
                return info
        raise InputError(f"{name} has no sheet named '{wanted}'. Its sheets are: {listed}.")
    if 0 <= active < len(sheets) and not sheets[active].hidden and not sheets[active].is_chart:
        return sheets[active]
    for info in sheets:
        if not info.hidden and not info.is_chart:
            return info
    raise InputError(
        f"{name} has no visible worksheet to read (its sheets are: {listed}): name the sheet to read "
        "(--sheet), or unhide it in Excel."
    )


def shared_strings_part(archive: zipfile.ZipFile) -> str:
    """The zip member of the workbook's shared strings ("" when it has none)."""
    for _, kind, part in _workbook_relationships(archive, _workbook_part(archive)):
        if kind.endswith("/sharedStrings"):
            return part
    return ""


def _workbook_part(archive: zipfile.ZipFile) -> str:
    """The zip member of workbook.xml, as the package's own relationships name it."""
    for rel in _relationships(archive, "_rels/.rels"):
        if rel.get("Type", "").endswith("/officeDocument"):
            return str(rel.get("Target", "xl/workbook.xml")).lstrip("/")
    return "xl/workbook.xml"


def _workbook_relationships(archive: zipfile.ZipFile, workbook_part: str) -> list[tuple[str, str, str]]:
    """(Id, Type, zip member) of each of the workbook's relationships (sheets, shared strings, styles)."""
    folder = workbook_part.rsplit("/", 1)[0] + "/" if "/" in workbook_part else ""
    found = []
    for rel in _relationships(archive, f"{folder}_rels/{workbook_part.rsplit('/', 1)[-1]}.rels"):
        target = rel.get("Target", "")
        part = target.lstrip("/") if target.startswith("/") else folder + target
        found.append((rel.get("Id", ""), rel.get("Type", ""), part))
    return found


def _relationships(archive: zipfile.ZipFile, part: str) -> list[Any]:
    """The Relationship elements of a rels part; none when the part is missing (calamine then refuses the
    workbook, and the message is the one for a damaged workbook)."""
    try:
        content = archive.read(part)
    except KeyError:
        return []
    return list(ElementTree.fromstring(content).iter(f"{_PKG_REL_NS}Relationship"))


def has_special_tokens(archive: zipfile.ZipFile, part: str) -> bool:
    """Whether the part holds any of :data:`SPECIAL_TOKENS`, searched a megabyte at a time as it is
    decompressed: each piece is searched for every token while it is in the processor's cache (a third
    less time than searching 100 MB four times), and the whole part is never held (its checksum is still
    checked at its end)."""
    with archive.open(part) as stream:
        tail = b""
        while piece := stream.read(1 << 20):
            window = tail + piece
            if any(token in window for token in SPECIAL_TOKENS):
                return True
            tail = window[-16:]  # a token cut between two pieces (the longest is 10 bytes)
    return False


def column_index(letters: bytes) -> int:
    """A cell reference's column letters as a 0-based index: ``b"A"`` 0, ``b"AB"`` 27."""
    index = 0
    for letter in letters:
        index = index * 26 + (letter - 64)
    return index - 1


def sheet_head(archive: zipfile.ZipFile, sheet: SheetInfo, rows: int) -> list[list[Any]]:
    """The sheet's first ``rows`` rows (row i = sheet row i + 1), parsed from the start of its XML only.

    Enough for finding the header: text (shared or inline), numbers as floats (date cells as their serial
    numbers), booleans, error text; empty cells None. The shared strings are read only as far as the head
    needs them.
    """
    cells: dict[tuple[int, int], Any] = {}  # (0-based row, 0-based column) -> value
    shared: dict[tuple[int, int], int] = {}  # cells holding a shared string: its index
    row, column = 0, -1
    with archive.open(sheet.part) as stream:
        for event, element in ElementTree.iterparse(stream, events=("start", "end")):
            if event == "start":
                if element.tag == _ROW:
                    row, column = int(element.get("r") or row + 1), -1
                    if row > rows:
                        break
                continue
            if element.tag == _CELL:
                reference = element.get("r")
                column = column_index(reference.rstrip("0123456789").encode()) if reference else column + 1
                kind, value = element.get("t", "n"), element.findtext(_VALUE)
                if kind == "s" and value:
                    shared[(row - 1, column)] = int(value)
                elif kind == "inlineStr":
                    box = element.find(_INLINE)
                    cells[(row - 1, column)] = _text_of(box) if box is not None else ""
                elif value is not None:
                    cells[(row - 1, column)] = _typed_value(kind, value)
            elif element.tag == _ROW:
                element.clear()
            elif element.tag == _SHEET_DATA:
                break
    if shared:
        strings = _shared_strings(archive, max(shared.values()))
        cells.update({at: strings[index] if index < len(strings) else "" for at, index in shared.items()})
    if not cells:
        return []
    height = max(r for r, _ in cells) + 1
    width = max(c for _, c in cells) + 1
    grid: list[list[Any]] = [[None] * width for _ in range(height)]
    for (r, c), value in cells.items():
        grid[r][c] = value
    return grid


def _typed_value(kind: str, value: str) -> Any:
    """A cell's saved value by its type attribute: boolean, number, or text (errors, formula strings)."""
    if kind == "b":
        return value.strip() == "1"
    if kind in ("n", ""):
        try:
            return float(value)
        except ValueError:
            return value
    return value  # "str" (a formula's text), "e" (an error such as #N/A), "d" (an ISO date)


def _shared_strings(archive: zipfile.ZipFile, last: int) -> list[str]:
    """The workbook's shared strings up to index ``last``, read no further than that."""
    part = shared_strings_part(archive)
    strings: list[str] = []
    if not part:
        return strings
    with archive.open(part) as stream:
        for _, element in ElementTree.iterparse(stream, events=("end",)):
            if element.tag == _ITEM:
                strings.append(_text_of(element))
                element.clear()
                if len(strings) > last:
                    break
    return strings


def _text_of(element: Any) -> str:
    """The text of a string item (``<si>`` or ``<is>``): plain or its runs joined; phonetic guides
    (``<rPh>``) left out."""
    parts = []
    for child in element:
        if child.tag == _TEXT:
            parts.append(child.text or "")
        elif child.tag == _RUN:
            parts.append(child.findtext(_TEXT) or "")
    return "".join(parts)
