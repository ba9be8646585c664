"""CSV text: which encoding, BOM, delimiter, quoting and line ending a file uses; where each record starts.

This is the one place that decides how a CSV file's bytes become text. The decision is recorded in a
:class:`CsvDialect`, so the results writer can put the file back exactly as it came (same bytes for every
record it does not change) instead of guessing a second time.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn

from alma_tools.errors import InputError
from alma_tools.tables.cells import visible

_DELIMITERS = (",", ";", "\t")
_EOL_RE = re.compile(r"\r\n|\r|\n")
#: BOMs we recognise, longest first (a UTF-32 BOM would start like UTF-16's; Excel never writes UTF-32)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: the single-byte encodings Excel's "Save As" writes: Windows "CSV (Comma delimited)", "CSV (Macintosh)",
#: "CSV (MS-DOS)"; in this order of likelihood, which breaks ties
_SINGLE_BYTE = ("cp1252", "mac_roman", "cp850")
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
#: accented letters of the languages our libraries write titles in: evidence that a decoding is right
_COMMON_LETTERS = set("éèêëàâäáãåçíìîïñóòôöõúùûüÿßæøœ" + "ÉÈÊËÀÂÄÁÃÅÇÍÌÎÏÑÓÒÔÖÕÚÙÛÜÆØŒ")
#: punctuation people really type into titles (Word's quotes and dashes, €, °, §)
_COMMON_SYMBOLS = set("€£§°–—‘’‚“”„…«»·×±µ¿¡ºª©®™")


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file was read: enough to write it back byte for byte except where results are added.

    ``encoding`` is the Python codec of the text after the BOM (``utf-8``, ``utf-16-le``, ``utf-16-be``,
    ``cp1252``, ``mac_roman``, ``cp850``); ``bom`` the BOM bytes the file starts with (``b""`` when none).
    ``quoting`` is ``csv.QUOTE_ALL`` when the file quotes every cell, else ``csv.QUOTE_MINIMAL``.
    ``line_ending`` is the first one in the file (``"\\r\\n"``, ``"\\n"`` or ``"\\r"``).
    ``record_starts[i]`` is the offset in the decoded text (BOM not included) where record ``i`` begins,
    ``record_lines[i]`` its first line (1-based, = the row number messages use); record ``i`` is row ``i``
    of the grid. ``final_newline``: the last record ends with a line ending. ``lossless``: every byte
    decoded cleanly (encoding the text again gives the file's bytes); when False, some bytes were read as
    U+FFFD and the file must not be rewritten from the text.
    """

    encoding: str
    bom: bytes
    delimiter: str
    quotechar: str
    quoting: int
    line_ending: str
    record_starts: tuple[int, ...]
    record_lines: tuple[int, ...]
    final_newline: bool
    lossless: bool

    def encode(self, text: str) -> bytes:
        """``text`` as the file's bytes: BOM, then the text in its encoding (may raise UnicodeEncodeError)."""
        return self.bom + text.encode(self.encoding)

    def byte_starts(self, text: str) -> list[int]:
        """The byte offset in the file (BOM included) where each record starts, for ``text`` as read."""
        offsets, position, previous = [], len(self.bom), 0
        for start in self.record_starts:
            position += len(text[previous:start].encode(self.encoding, errors="replace"))
            offsets.append(position)
            previous = start
        return offsets


@dataclass
class Decoded:
    """File bytes as text, with what decoded them."""

    text: str
    encoding: str
    bom: bytes
    lossless: bool


def decode_bytes(raw: bytes, name: str) -> Decoded:
    """Decode CSV bytes: a BOM, else UTF-16 by its NUL pattern, else UTF-8, else a single-byte code page.

    Raises InputError for bytes that are not text at all (a renamed PDF or image), so they are refused
    instead of becoming a one-column table of garbage.
    """
    decoded = _decode(raw)
    sample = decoded.text[:20000]
    controls = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\r\n") or ch == "\ufffd")
    if controls > max(8, len(sample) // 100):
        raise InputError(
            f"{name} is not a table (it does not contain CSV text or an Excel workbook): choose the CSV or "
            ".xlsx file exported from Alma Analytics."
        )
    return decoded


def _decode(raw: bytes) -> Decoded:
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return _strict_or_replace(raw[len(bom) :], encoding, bom)
    utf16 = _utf16_without_bom(raw)
    if utf16:
        return _strict_or_replace(raw, utf16, b"")
    try:
        return Decoded(raw.decode("utf-8"), "utf-8", b"", True)
    except UnicodeDecodeError:
        pass
    encoding = _single_byte_encoding(raw)
    return _strict_or_replace(raw, encoding, b"")


def _strict_or_replace(body: bytes, encoding: str, bom: bytes) -> Decoded:
    try:
        return Decoded(body.decode(encoding), encoding, bom, True)
    except UnicodeDecodeError:
        return Decoded(body.decode(encoding, errors="replace"), encoding, bom, False)


def _utf16_without_bom(raw: bytes) -> str | None:
    """``utf-16-le``/``-be`` when the bytes have UTF-16's NUL pattern (Excel's "Unicode Text" has no BOM
    when saved by some versions): CSV text is mostly ASCII (digits, separators), whose UTF-16 form has a
    NUL in every other byte: the odd bytes for little-endian, the even ones for big-endian."""
    sample = raw[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nuls, odd_nuls = even.count(0) / len(even), odd.count(0) / max(1, len(odd))
    if odd_nuls > 0.3 and even_nuls < 0.02:
        return "utf-16-le"
    if even_nuls > 0.3 and odd_nuls < 0.02:
        return "utf-16-be"
    return None


def _single_byte_encoding(raw: bytes) -> str:
    """Pick cp1252, Mac Roman or cp850 for bytes that are not UTF-8: the one whose letters look like words.

    This is a heuristic, and it is only as good as the accented text in the file. Each byte over 127 is
    decoded in each code page with a byte of context on either side and scored: an accented letter common
    in European titles scores, an upper-case letter inside a lower-case word ("MisŽrables", "MÅller"), a
    small letter glued to a capital ("ìHamlet", Word's quote read as Mac Roman) or a box-drawing or
    mathematical sign ("▄", "√") counts against; typed punctuation (curly quotes, dashes, €) scores beside
    a word and counts against inside one ("Mis‚rables"). The best score wins; ties go to cp1252, by far
    the most common, then Mac Roman. cp1252 is never chosen for bytes it leaves undefined (0x81, 0x8D,
    0x8F, 0x90, 0x9D). A file whose only non-ASCII bytes are ambiguous can be read in the wrong one; the
    dialect records which was used, so the write-back still gives the same bytes back.
    """
    positions = [m.start() for m in re.finditer(rb"[\x80-\xff]", raw[:4_000_000])][:4000]
    scores: dict[str, int] = {}
    for encoding in _SINGLE_BYTE:
        if encoding == "cp1252" and any(byte in raw for byte in _CP1252_UNDEFINED):
            continue  # a byte cp1252 does not define (Mac Roman and cp850 define all 256)
        score = 0
        for position in positions:
            window = raw[max(0, position - 1) : position + 2].decode(encoding, errors="replace")
            middle = 1 if position > 0 else 0
            score += _char_score(window, middle)
        scores[encoding] = score
    return max(scores, key=lambda e: (scores[e], -_SINGLE_BYTE.index(e)))


def _char_score(window: str, middle: int) -> int:
    """How plausible one decoded character is between its neighbours (see :func:`_single_byte_encoding`)."""
    char = window[middle]
    before = window[middle - 1] if middle > 0 else " "
    after = window[middle + 1] if middle + 1 < len(window) else " "
    if char.isalpha():
        if char.isupper() and before.isalpha() and (before.islower() or after.islower()):
            return -3  # "MisŽrables", "MÅller": a capital inside a word that is in lower case
        if char.islower() and after.isalpha() and after.isupper():
            return -2  # "ìHamlet": a small letter glued to the capital of the next word
        if not before.isalpha() and not after.isalpha():
            return 0  # a lone letter: "à" is a word, but a quote read as a letter looks the same
        return 2 if char in _COMMON_LETTERS else 0
    if char in _COMMON_SYMBOLS:
        inside = before.isalpha() and after.isalpha()
        return -2 if inside and char not in "’·" else 2  # quotes and dashes stand beside words, not in them
    return -3


def _field_counts(head: str, delimiter: str) -> tuple[list[int], bool]:
    """Fields per record of ``head`` read with ``delimiter``, and whether every quote it opened closed."""
    try:
        rows = list(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter, strict=True))
        closed = True
    except csv.Error:
        rows = list(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter))
        closed = False
    return [len(row) for row in rows if row], closed


def sniff_delimiter(text: str) -> str:
    """Pick comma, semicolon or tab for the first 50 lines.

    First a delimiter with which every quote that opens a cell also closes (the wrong one opens one it never
    closes), then one that stands before a quoted cell (the wrong one sees those quotes in mid-cell), then
    the one whose most common (more than one) field count covers the most cells (rows agreeing times
    fields). So a line-broken title full of semicolons in a comma file does not outvote the records.
    """
    head = "\n".join(text[:65536].splitlines()[:50])
    best, best_score = ",", (False, False, -1, -1)
    for delimiter in _DELIMITERS:
        counts, closed = _field_counts(head, delimiter)
        counts = [c for c in counts if c > 1]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        opens_quotes = f'{delimiter}"' in head  # a quoted cell after this delimiter
        score = (closed, opens_quotes, counts.count(mode) * mode, counts.count(mode))
        if score > best_score:
            best, best_score = delimiter, score
    return best


def parse_csv(raw: bytes, name: str) -> tuple[list[list[str]], str, CsvDialect]:
    """Decode and parse CSV bytes: the records (cells as str), the text, and the dialect that read them.

    Raises InputError for text that is not a table, for a quote that never closes, and for text the csv
    module cannot parse, each naming the line.
    """
    decoded = decode_bytes(raw, name)
    text = decoded.text
    delimiter = sniff_delimiter(text)
    records, lines = _records(text, delimiter, name)
    offsets = line_starts(text)
    one_per_line = not lines or len(lines) == lines[-1]  # lines are increasing: then they are 1..n
    starts = tuple(offsets[: len(lines)]) if one_per_line else tuple(offsets[n - 1] for n in lines)
    _refuse_runaway_quote(text, records, lines, starts, delimiter, name)
    eol = _EOL_RE.search(text)
    dialect = CsvDialect(
        encoding=decoded.encoding,
        bom=decoded.bom,
        delimiter=delimiter,
        quotechar='"',
        quoting=_quoting(text, records, starts, delimiter),
        line_ending=eol.group() if eol else "\r\n",
        record_starts=starts,
        record_lines=tuple(lines),
        final_newline=bool(text) and text[-1] in "\r\n",
        lossless=decoded.lossless,
    )
    return records, text, dialect


def sniff_csv(path: str | Path) -> tuple[str, CsvDialect]:
    """The decoded text of a CSV file and its :class:`CsvDialect`: what any CSV fast path starts from.

    The same decision :func:`~alma_tools.tables.read_grid` makes, so a fast path and the full reader never
    disagree on encoding, delimiter or where records start. InputError for a file that is not CSV text
    (a workbook, whatever its name, is refused: use ``read_grid`` for it), for a quote that never closes,
    or a file that cannot be read.
    """
    from alma_tools.tables.grid import read_file_bytes  # the one place that turns OS errors into words

    target = Path(path)
    raw = read_file_bytes(target)
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
        raise InputError(f"{target.name} is an Excel workbook, not CSV text.")
    _, text, dialect = parse_csv(raw, target.name)
    return text, dialect


def _records(text: str, delimiter: str, name: str) -> tuple[list[list[str]], list[int]]:
    """All records, and the line each starts on (a quoted cell may span lines).

    One pass with the C reader; only when some record spans lines is the text read again record by
    record to number them.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        records = list(reader)
    except csv.Error as error:
        _refuse_unparsable(text, delimiter, name, error)
    if reader.line_num == len(records):  # one line per record, the usual case
        return records, list(range(1, len(records) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    lines, previous = [], 0
    for _ in reader:
        lines.append(previous + 1)
        previous = reader.line_num
    return records, lines


def _refuse_unparsable(text: str, delimiter: str, name: str, error: csv.Error) -> NoReturn:
    """The csv module gave up: name the record's line (a runaway quote when the cell grew too large)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous = 0
    try:
        for _ in reader:
            previous = reader.line_num
    except csv.Error:
        pass
    if "field larger than field limit" in str(error):  # a runaway quote swallowed the rest of the file
        raise InputError(_runaway_message(text, previous + 1, name)) from None
    raise InputError(
        f"{name} line {reader.line_num} cannot be read as CSV ({error}): open it in Excel and save it "
        "again as CSV UTF-8."
    ) from None


def line_starts(text: str) -> list[int]:
    """The offset where each line starts, lines ended by CRLF, LF or CR as the csv module counts them."""
    return [0, *itertools.accumulate(map(len, io.StringIO(text, newline="")))]


def _refuse_runaway_quote(
    text: str,
    records: list[list[str]],
    lines: list[int],
    starts: tuple[int, ...],
    delimiter: str,
    name: str,
) -> None:
    """A quote that never closes turns every following line into one cell: refuse it, naming the line.

    Two shapes: the quote is still open at the end of the file (the csv module then silently ends the
    cell there), or it is closed by the next quoted cell many lines later, so the cell holds whole lines
    that look like records (as many separators as the file's usual row). A real multi-line cell (a title
    with a line break) has neither.
    """
    if not records:
        return
    try:
        list(csv.reader(io.StringIO(text[starts[-1] :], newline=""), delimiter=delimiter, strict=True))
    except csv.Error as error:
        if "unexpected end of data" in str(error):
            raise InputError(_runaway_message(text, lines[-1], name, starts[-1])) from None
    multi = [i for i in range(len(records) - 1) if lines[i + 1] - lines[i] > 1]
    if _EOL_RE.search(text[starts[-1] :].rstrip("\r\n")):
        multi.append(len(records) - 1)  # the last record spans lines too
    if not multi:
        return
    widths = [len(records[i]) for i in range(len(records) - 1) if lines[i + 1] - lines[i] == 1]
    width = max(set(widths), key=widths.count) if widths else 0
    if width < 3:
        return
    for i in multi:
        for cell in records[i]:
            inner = _EOL_RE.split(cell)[1:]
            if any(line.count(delimiter) >= width - 1 for line in inner):
                raise InputError(_runaway_message(text, lines[i], name, starts[i]))


def _runaway_message(text: str, record_line: int, name: str, start: int | None = None) -> str:
    """The refusal: the line where the quote opens, and the start of that line as the user will see it."""
    offsets = line_starts(text)
    offset = offsets[record_line - 1] if start is None else start
    line_number = record_line
    for line in _EOL_RE.split(text[offset : offset + 100_000]):
        if line.count('"') % 2 == 1:
            break
        line_number += 1
    else:
        line_number = record_line
    shown_line = _EOL_RE.split(text[offsets[line_number - 1] :], maxsplit=1)[0]
    return (
        f"{name}: Line {line_number} opens a quote that never closes: {visible(shown_line, 70)} — "
        "everything after it would be read as one cell. Open the file in a text editor, add the closing "
        'quote (or remove the lone ") on that line, and try again.'
    )


def _quoting(text: str, records: list[list[str]], starts: tuple[int, ...], delimiter: str) -> int:
    """QUOTE_ALL when the file's first records are written with every cell quoted, else QUOTE_MINIMAL."""
    votes: dict[Literal[0, 1], int] = {csv.QUOTE_ALL: 0, csv.QUOTE_MINIMAL: 0}
    for i in range(min(50, len(records) - 1)):
        raw = text[starts[i] : starts[i + 1]].rstrip("\r\n")
        if len(records[i]) < 2:
            continue
        for quoting in votes:
            out = io.StringIO(newline="")
            csv.writer(out, delimiter=delimiter, quoting=quoting, lineterminator="").writerow(records[i])
            if out.getvalue() == raw:
                votes[quoting] += 1
    return csv.QUOTE_ALL if votes[csv.QUOTE_ALL] > votes[csv.QUOTE_MINIMAL] else csv.QUOTE_MINIMAL
