"""Write the write-back part of the corpus next to this script (deterministic: same bytes on every run).

Files the discharge writes its results into (checked by ``tests/test_writeback_corpus.py``): a record with
one cell too many, and a workbook with everything a load-and-save loses or damages. The helpers and sample
ids are ``make_corpus.py``'s. Run ``python tests/data/bad_input/make_writeback_corpus.py`` to rebuild.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_corpus import FIXED_TIME, HEADER, HERE, rezip, sample_rows


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A small red PNG made from its chunks (no imaging library needed), for a workbook's picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xcc\x22\x22" * width for _ in range(height))
    header = struct.pack(">2I5B", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def overlong_record(rows: list[list[str]]) -> None:
    """An unquoted comma in a title, as a hand-made export has it: row 3 has one cell more than the header."""
    text = ",".join(HEADER) + "\r\n"
    for number, row in enumerate(rows[:4], start=2):
        cells = list(row)
        if number == 3:
            cells[0] = "Smith, John: a life"
        text += ",".join(cells) + "\r\n"
    (HERE / "writeback_overlong_record.csv").write_bytes(text.encode("utf-8"))


def _table_columns(item_col: int, count: int) -> list[dict[str, object]]:
    """The items table's columns: "Total" under the first, a SUBTOTAL count (saved value) under Item Id."""
    columns: list[dict[str, object]] = []
    for i, header in enumerate(HEADER):
        column: dict[str, object] = {"header": header}
        if i == 0:
            column["total_string"] = "Total"
        if i == item_col:
            column.update(total_function="count", total_value=count)
        columns.append(column)
    return columns


def rich_workbook(rows: list[list[str]]) -> None:
    """An items table (Excel table with a SUBTOTAL total row) whose Item Ids are HYPERLINK formulas with
    saved values, a picture, a comment, data validation, and a second sheet with an autofilter."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.set_properties({"created": dt.datetime(*FIXED_TIME)})
    sheet = book.add_worksheet("Items")
    item_col = HEADER.index("Item Id")
    data = [list(r) for r in rows[:6]]
    table = {"name": "Loans", "total_row": True, "columns": _table_columns(item_col, len(data))}
    sheet.add_table(0, 0, len(data) + 1, len(HEADER) - 1, table)
    for r, row in enumerate(data, start=1):
        for c, value in enumerate(row):
            if c == item_col:
                url = f"https://example.alma.exlibrisgroup.com/items/{value}"
                sheet.write_formula(r, c, f'=HYPERLINK("{url}","{value}")', None, value)
            else:
                sheet.write_string(r, c, value)
    sheet.write_comment(0, 0, "Exported from Alma Analytics, checked by the circulation desk")
    sheet.data_validation(1, 5, len(data), 5, {"validate": "list", "source": ["MAIN", "SCI", "1030300"]})
    sheet.insert_image(1, len(HEADER) + 4, "logo.png", {"image_data": io.BytesIO(tiny_png())})
    sheet.set_column(0, 0, 40)
    other = book.add_worksheet("Filtered")
    other.write_row(0, 0, ["Library Code", "Count"])
    other.write_row(1, 0, ["MAIN", 3])
    other.autofilter(0, 0, 1, 1)
    book.close()
    rezip(buffer.getvalue(), HERE / "writeback_rich.xlsx")


def main() -> None:
    rows = sample_rows()
    overlong_record(rows)
    rich_workbook(rows)


if __name__ == "__main__":
    main()
