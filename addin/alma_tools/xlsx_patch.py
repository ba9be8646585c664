"""Changing a few cells of one worksheet in an ``.xlsx``/``.xlsm`` without loading and saving the workbook.

Loading a workbook with openpyxl and saving it again drops what openpyxl does not model (pictures without
Pillow, the saved values of formulas, some extensions) and costs seconds for a large sheet. A workbook is a
zip of XML parts, so this module changes only the one worksheet part: the cells it is given (replaced or
added in their rows, in column order), the ``spans`` hint of those rows, the sheet's ``<dimension>``, and
widths for new columns. Every other part — styles, shared strings, pictures, charts, tables, comments, the
VBA project — is copied byte for byte, in the same order, with the same zip entry settings.

Text is written as inline strings (``t="inlineStr"``), so the shared-strings part is never touched, and
inline text is never read as a formula by Excel. The worksheet XML is patched as text, one row at a time, so
a 20,000-row sheet costs a fraction of a second: rows without a change are copied as they are.
"""

from __future__ import annotations

import functools
import io
import posixpath
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape

_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_WORKSHEET_TYPE = _REL_NS + "/worksheet"
_XML_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class WorkbookShapeError(ValueError):
    """The workbook's parts are not where or what the Open XML format says (a damaged or odd file)."""


def column_number(letters: str) -> int:
    """1-based column of Excel letters (``A`` → 1, ``AA`` → 27)."""
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


def column_letters(number: int) -> str:
    """Excel letters of a 1-based column (1 → ``A``, 27 → ``AA``)."""
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


_ATTRIBUTE_RES: dict[str, re.Pattern[str]] = {}


def _attribute(tag: str, name: str) -> str | None:
    """The value of attribute ``name`` in one start tag (None when absent)."""
    pattern = _ATTRIBUTE_RES.get(name)
    if pattern is None:
        pattern = _ATTRIBUTE_RES[name] = re.compile(rf"""\s{name}\s*=\s*(?:"([^"]*)"|'([^']*)')""")
    match = pattern.search(tag)
    if match is None:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def _unescape(text: str) -> str:
    """XML entities (and Excel's ``_xHHHH_`` escapes) of a text node back to characters."""
    text = re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"&#x([0-9A-Fa-f]+);", lambda m: chr(int(m.group(1), 16)), text)
    text = re.sub(r"&#([0-9]+);", lambda m: chr(int(m.group(1))), text)
    return (
        text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


def _text_of(fragment: str, prefix: str) -> str:
    """The text of a shared or inline string item: its ``<t>`` runs, without phonetic (``<rPh>``) runs."""
    fragment = re.sub(rf"<{prefix}rPh\b.*?</{prefix}rPh>", "", fragment, flags=re.S)
    return "".join(_unescape(t) for t in re.findall(rf"<{prefix}t\b[^>]*>(.*?)</{prefix}t>", fragment, re.S))


@functools.lru_cache(maxsize=4096)
def _escaped(text: str) -> str:
    """``text`` for an XML text node: entities, and control characters as Excel's ``_xHHHH_``."""
    return _XML_CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", escape(text))


def inline_string_cell(ref: str, text: str, style: str | None = None, p: str = "") -> str:
    """A ``<c>`` holding ``text`` as an inline string (``p``: the sheet's namespace prefix, ``x:`` or "")."""
    space = ' xml:space="preserve"' if text != text.strip() else ""
    styled = f' s="{style}"' if style else ""
    return f'<{p}c r="{ref}"{styled} t="inlineStr"><{p}is><{p}t{space}>{_escaped(text)}</{p}t></{p}is></{p}c>'


def boolean_cell(ref: str, value: bool, style: str | None = None, p: str = "") -> str:
    """A ``<c>`` holding TRUE or FALSE."""
    styled = f' s="{style}"' if style else ""
    return f'<{p}c r="{ref}"{styled} t="b"><{p}v>{int(value)}</{p}v></{p}c>'


def empty_cell(ref: str, style: str | None = None, p: str = "") -> str:
    """An empty cell: nothing at all, or a styled empty ``<c>`` when the cell had a style to keep."""
    return f'<{p}c r="{ref}" s="{style}"/>' if style else ""


@dataclass(frozen=True)
class Text:
    """A text cell to write; ``style`` (a cell format index) replaces the old cell's when given."""

    text: str
    style: str | None = None


@dataclass(frozen=True)
class Flag:
    """TRUE, or an empty cell for False (as a person leaves a check column)."""

    value: bool


def cell_xml(ref: str, value: Text | Flag, old_style: str | None, p: str = "") -> str:
    """The ``<c>`` element for one new value at ``ref``, keeping the old cell's style unless told."""
    if isinstance(value, Text):
        return inline_string_cell(ref, value.text, value.style or old_style, p)
    return boolean_cell(ref, True, old_style, p) if value.value else empty_cell(ref, old_style, p)


@dataclass
class _Cell:
    column: int
    start: int
    end: int
    style: str | None


class SheetXml:
    """One worksheet part as text, with what the writer needs to know: the prefix, rows, header cells."""

    def __init__(self, xml: bytes) -> None:
        self.text = xml.decode("utf-8")
        root = re.search(r"<(\w+:)?worksheet\b", self.text)
        if root is None:
            raise WorkbookShapeError("the sheet part has no <worksheet> element")
        self.prefix = root.group(1) or ""
        p = re.escape(self.prefix)
        self._row_re = re.compile(rf"<{p}row\b([^>]*?)(/>|>(.*?)</{p}row>)", re.S)
        self._cell_re = re.compile(rf"<{p}c\b([^>]*?)(?:/>|>(.*?)</{p}c>)", re.S)
        data = re.search(rf"<{p}sheetData\b[^>]*?(/>|>)", self.text)
        if data is None:
            raise WorkbookShapeError("the sheet part has no <sheetData>")
        self.data_start = data.end()
        self.data_empty = data.group(1) == "/>"
        close = self.text.find(f"</{self.prefix}sheetData>", self.data_start)
        self.data_end = self.data_start if self.data_empty else close
        self._rows: list[tuple[int, re.Match[str]]] | None = None
        self._ref_re = re.compile(rf'<{p}c\s[^>]*?\br="([A-Z]+)[0-9]+"')

    def rows(self) -> list[tuple[int, re.Match[str]]]:
        """Every ``<row>`` with its number (rows without ``r`` follow the one before); found once."""
        if self._rows is None:
            found: list[tuple[int, re.Match[str]]] = []
            number = 0
            for match in self._row_re.finditer(self.text, self.data_start, self.data_end):
                r = _attribute(match.group(1), "r")
                number = int(r) if r else number + 1
                found.append((number, match))
            self._rows = found
        return self._rows

    def cells(self, row: re.Match[str]) -> list[_Cell]:
        """The cells of one row with their columns and styles (cells without ``r`` follow the one before)."""
        body = row.group(3)
        if not body:
            return []
        offset = row.start(3)
        cells: list[_Cell] = []
        column = 0
        for match in self._cell_re.finditer(body):
            tag = match.group(1)
            ref = _attribute(tag, "r")
            column = column_number(re.sub(r"[^A-Z]", "", ref)) if ref else column + 1
            cells.append(_Cell(column, offset + match.start(), offset + match.end(), _attribute(tag, "s")))
        return cells

    def last_column(self, row: re.Match[str]) -> int | None:
        """The column of the row's last cell (0 for a row without cells; None when a cell has no ``r``)."""
        body = row.group(3)
        if not body:
            return 0
        at = body.rfind(f"<{self.prefix}c ")
        if at < 0:
            return 0 if f"<{self.prefix}c>" not in body and f"<{self.prefix}c/>" not in body else None
        match = self._ref_re.match(body, at)
        return column_number(match.group(1)) if match else None

    def max_column(self) -> int:
        """The right-most column holding a cell anywhere in the sheet (0 for an empty sheet)."""
        p = re.escape(self.prefix)
        data = self.text[self.data_start : self.data_end]
        letters = re.findall(rf'<{p}c\b[^>]*?\sr="([A-Z]+)[0-9]+"', data)
        widest = max(map(column_number, set(letters)), default=0)
        if len(re.findall(rf"<{p}c[\s>/]", data)) > len(letters):  # some cells without r: count them
            widest = max([widest, *(self.cells(row)[-1].column for _, row in self.rows() if self.cells(row))])
        return widest

    def row_values(self, number: int, shared: list[str] | None) -> dict[int, str]:
        """The text of each cell of row ``number`` (numbers as written, shared strings resolved)."""
        for found, row in self.rows():
            if found == number:
                return {
                    cell.column: self._value(self.text[cell.start : cell.end], shared)
                    for cell in self.cells(row)
                }
        return {}

    def _value(self, cell: str, shared: list[str] | None) -> str:
        kind = _attribute(cell[: cell.find(">") + 1], "t")
        if kind == "inlineStr":
            return _text_of(cell, self.prefix)
        value = re.search(rf"<{self.prefix}v>(.*?)</{self.prefix}v>", cell, re.S)
        if value is None:
            return ""
        if kind == "s":
            index = int(value.group(1))
            return shared[index] if shared and index < len(shared) else ""
        return _unescape(value.group(1))


def patch_sheet(
    sheet: SheetXml,
    changes: Mapping[int, Mapping[int, Text | Flag]],
    widths: Mapping[int, float] | None = None,
) -> bytes:
    """The sheet's XML with ``changes`` applied: ``{row: {column: maker}}``, both 1-based.

    Each value is a :class:`Text` or a :class:`Flag`. Rows the changes name must exist (the reader found
    them there). ``widths`` gives new columns a width when no
    ``<col>`` range covers them yet.
    """
    text = sheet.text
    pieces: list[str] = []
    position = 0
    missing = set(changes)
    widest = 0
    for number, row in sheet.rows():
        row_changes = changes.get(number)
        if not row_changes:
            continue
        missing.discard(number)
        pieces.append(text[position : row.start()])
        pieces.append(_patched_row(sheet, row, number, row_changes))
        position = row.end()
        widest = max(widest, max(row_changes))
    if missing:
        raise WorkbookShapeError(f"rows {sorted(missing)[:5]} are not in the sheet any more")
    pieces.append(text[position:])
    patched = "".join(pieces)
    if widest:
        patched = _widen_dimension(patched, sheet.prefix, widest)
    if widths:
        patched = _add_widths(patched, sheet.prefix, widths)
    return patched.encode("utf-8")


def _patched_row(
    sheet: SheetXml, row: re.Match[str], number: int, row_changes: Mapping[int, Text | Flag]
) -> str:
    """One ``<row>`` with its changed cells replaced or inserted in column order; other cells as they were."""
    text = sheet.text
    pending = sorted(row_changes.items())
    last = sheet.last_column(row)
    if last is not None and last < pending[0][0] and row.group(3) is not None:
        # the usual case: every new cell goes right of the row's last cell
        new = "".join(
            cell_xml(f"{column_letters(column)}{number}", value, None, sheet.prefix)
            for column, value in pending
        )
        start_tag = _widen_spans(row.group(1), pending[-1][0])
        return f"<{sheet.prefix}row{start_tag}>{row.group(3)}{new}</{sheet.prefix}row>"
    out: list[str] = []
    cursor = row.start(3) if row.group(3) is not None else None
    index = 0

    def make(column: int, style: str | None) -> str:
        return cell_xml(f"{column_letters(column)}{number}", pending[index][1], style, sheet.prefix)

    for cell in sheet.cells(row):
        while index < len(pending) and pending[index][0] < cell.column:
            out.append(make(pending[index][0], None))
            index += 1
        if index < len(pending) and pending[index][0] == cell.column:
            out.append(text[cursor : cell.start])  # the space between cells, if any
            out.append(make(cell.column, cell.style))
            index += 1
        else:
            out.append(text[cursor : cell.end])
        cursor = cell.end
    if cursor is not None:
        out.append(text[cursor : row.end(3)])
    while index < len(pending):
        out.append(make(pending[index][0], None))
        index += 1
    start_tag = _widen_spans(row.group(1), max(row_changes))
    return f"<{sheet.prefix}row{start_tag}>{''.join(out)}</{sheet.prefix}row>"


def _widen_spans(attributes: str, last: int) -> str:
    """A row's ``spans="1:4"`` hint widened to reach column ``last`` (Excel trusts the hint when loading)."""
    if "spans" not in attributes:
        return attributes

    def widen(match: re.Match[str]) -> str:
        first, end = match.group(1), int(match.group(2))
        return f'spans="{first}:{max(end, last)}"'

    return re.sub(r'spans="(\d+):(\d+)"', widen, attributes, count=1)


def _widen_dimension(text: str, prefix: str, last: int) -> str:
    """``<dimension ref="A1:D20">`` widened to column ``last`` (a one-cell ref becomes a range)."""
    p = re.escape(prefix)

    def widen(match: re.Match[str]) -> str:
        ref = match.group(2)
        first, _, end = ref.partition(":")
        end = end or first
        letters, digits = re.match(r"([A-Z]*)([0-9]*)", end).groups()  # type: ignore[union-attr]
        if letters and column_number(letters) >= last:
            return match.group(0)
        return f'{match.group(1)}{first}:{column_letters(last)}{digits}"'

    return re.sub(rf'(<{p}dimension\b[^>]*?\sref=")([^"]*)"', widen, text, count=1)


def _add_widths(text: str, prefix: str, widths: Mapping[int, float]) -> str:
    """Give the new columns a width, unless a ``<col>`` range already covers one of them (then leave all)."""
    p = re.escape(prefix)
    block = re.search(rf"<{p}cols\b[^>]*>(.*?)</{p}cols>", text, re.S)
    ranges = []
    if block:
        for tag in re.findall(rf"<{p}col\b[^>]*>", block.group(1)):
            low, high = _attribute(tag, "min"), _attribute(tag, "max")
            if low and high:
                ranges.append((int(low), int(high)))
    if any(low <= column <= high for column in widths for low, high in ranges):
        return text
    new = "".join(
        f'<{prefix}col min="{c}" max="{c}" width="{w:g}" customWidth="1"/>' for c, w in sorted(widths.items())
    )
    if block:
        return text[: block.end(1)] + new + text[block.end(1) :]  # after the others: ranges stay in order
    data = re.search(rf"<{p}sheetData\b", text)
    assert data is not None  # SheetXml checked it
    return text[: data.start()] + f"<{prefix}cols>{new}</{prefix}cols>" + text[data.start() :]


class Workbook:
    """An ``.xlsx``/``.xlsm`` held in memory: find a worksheet part, replace it, write the zip again."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(raw))
            self.members = self.archive.infolist()
        except (zipfile.BadZipFile, OSError) as error:
            raise WorkbookShapeError(f"not a readable workbook ({error})") from None
        self._names = {info.filename for info in self.members}

    def read(self, member: str) -> bytes:
        try:
            return self.archive.read(member)
        except (KeyError, zipfile.BadZipFile, OSError) as error:
            raise WorkbookShapeError(f"the part {member} cannot be read ({error})") from None

    def sheet_member(self, sheet: str | None) -> tuple[str, str]:
        """The zip member and name of the worksheet called ``sheet`` (default: the first worksheet)."""
        workbook_xml = self.read("xl/workbook.xml").decode("utf-8")
        rels_xml = self.read("xl/_rels/workbook.xml.rels").decode("utf-8")
        targets: dict[str, str] = {}
        for tag in re.findall(r"<(?:\w+:)?Relationship\b[^>]*>", rels_xml):
            if (_attribute(tag, "Type") or "") == _WORKSHEET_TYPE:
                target = _attribute(tag, "Target") or ""
                full = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
                targets[_attribute(tag, "Id") or ""] = full
        for tag in re.findall(r"<(?:\w+:)?sheet\b[^>]*>", workbook_xml):
            name = _unescape(_attribute(tag, "name") or "")
            rid = re.search(r'\s\w+:id="([^"]*)"', tag)
            member = targets.get(rid.group(1)) if rid else None
            if member and (sheet is None or name == sheet):
                if member not in self._names:
                    raise WorkbookShapeError(f"the sheet part {member} is missing")
                return member, name
        raise WorkbookShapeError(f"no worksheet named {sheet!r}" if sheet else "no worksheet")

    def shared_strings(self, needed: int) -> list[str]:
        """The first ``needed`` + 1 shared strings (enough to read a header row)."""
        if "xl/sharedStrings.xml" not in self._names:
            return []
        text = self.read("xl/sharedStrings.xml").decode("utf-8")
        prefix = (re.search(r"<(\w+:)?sst\b", text) or re.search("", text)).group(1) or ""  # type: ignore[union-attr]
        p = re.escape(prefix)
        items: list[str] = []
        for match in re.finditer(rf"<{p}si\b[^>]*?(?:/>|>(.*?)</{p}si>)", text, re.S):
            items.append(_text_of(match.group(1) or "", prefix))
            if len(items) > needed:
                break
        return items

    def with_member(self, member: str, data: bytes) -> bytes:
        """The whole workbook again with ``member`` replaced by ``data``; every other part as it was.

        The other parts' compressed bytes are copied as they are (nothing is decompressed or compressed
        again), in the same order and with the same names, dates and attributes; only ``member`` is
        compressed anew. A zip this writer does not copy raw (zip64, encrypted) goes through zipfile.
        """
        if any(_needs_zipfile(info) for info in self.members) or len(self.members) >= 0xFFFF:
            return self._with_member_by_zipfile(member, data)
        out = io.BytesIO()
        central: list[bytes] = []
        for info in self.members:
            name, extra = self._local_name_and_extra(info)
            if info.filename == member:
                compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
                body = compressor.compress(data) + compressor.flush()
                method, crc, size = zipfile.ZIP_DEFLATED, zlib.crc32(data), len(data)
            else:
                start = info.header_offset + 30 + len(name) + len(extra)
                body = self.raw[start : start + info.compress_size]
                method, crc, size = info.compress_type, info.CRC, info.file_size
            offset = out.tell()
            flags = info.flag_bits & ~0x08  # sizes are in the header: no data descriptor
            dos_time, dos_date = _dos_time(info.date_time)
            fields = (info.extract_version, flags, method, dos_time, dos_date, crc, len(body), size)
            out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, len(name), len(extra)))
            out.write(name + extra + body)
            comment = info.comment
            central.append(
                struct.pack(
                    "<4s6H3L5H2L",
                    b"PK\x01\x02",
                    info.create_version | (info.create_system << 8),
                    *fields,
                    len(name),
                    len(info.extra),
                    len(comment),
                    0,
                    info.internal_attr,
                    info.external_attr,
                    offset,
                )
                + name
                + info.extra
                + comment
            )
        directory_start = out.tell()
        for entry in central:
            out.write(entry)
        count, size = len(central), out.tell() - directory_start
        comment = self.archive.comment
        out.write(
            struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, directory_start, len(comment))
        )
        out.write(comment)
        return out.getvalue()

    def _local_name_and_extra(self, info: zipfile.ZipInfo) -> tuple[bytes, bytes]:
        """The name and extra field bytes exactly as the member's local header has them."""
        header = self.raw[info.header_offset : info.header_offset + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise WorkbookShapeError(f"the zip entry of {info.filename} is damaged")
        name_length, extra_length = struct.unpack("<2H", header[26:30])
        start = info.header_offset + 30
        return self.raw[start : start + name_length], self.raw[
            start + name_length : start + name_length + extra_length
        ]

    def _with_member_by_zipfile(self, member: str, data: bytes) -> bytes:
        """The same through zipfile (every part compressed again): for zips the raw copy does not handle."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", allowZip64=True) as target:
            for info in self.members:
                content = data if info.filename == member else self.archive.read(info.filename)
                target.writestr(_copy_info(info), content, compress_type=info.compress_type)
            target.comment = self.archive.comment
        return out.getvalue()


def _needs_zipfile(info: zipfile.ZipInfo) -> bool:
    """Zip64 sizes or offsets, or encryption: left to zipfile."""
    big = max(info.file_size, info.compress_size, info.header_offset) >= 0xFFFFFFFF
    return (
        big
        or bool(info.flag_bits & 0x01)
        or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
    )


def _dos_time(date_time: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    """A zip entry's date and time in the MS-DOS form its headers store."""
    year, month, day, hour, minute, second = date_time
    return (hour << 11) | (minute << 5) | (second // 2), ((year - 1980) << 9) | (month << 5) | day


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A fresh entry with the same name, date, attributes and extra fields (sizes are recomputed)."""
    copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    copy.compress_type = info.compress_type
    copy.external_attr = info.external_attr
    copy.internal_attr = info.internal_attr
    copy.create_system = info.create_system
    copy.comment = info.comment
    return copy
