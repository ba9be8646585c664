"""The worksheet patcher on the shapes other programs write, and CSV records the simple path does not cover.

Workbooks are built here as zips of XML parts, the way other tools write them (namespace prefixes, rows and
cells without ``r``, a ``<cols>`` range over every column), and read back with openpyxl.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl

from alma_tools import xlsx_patch
from alma_tools.discharge.results import ResultsFile
from alma_tools.tables import ITEM_COLUMNS, find_table, read_grid

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
IDS = ["991111111111113681", "221111111111113681", "231111111111113681"]


def workbook(sheet_xml: str, *, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal workbook around one worksheet part (plus ``extra`` members copied as they are)."""
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="'
            '/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
            'sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/styles.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><x:workbook xmlns:x="{MAIN}" xmlns:r="{REL}"><x:sheets>'
            '<x:sheet name="Items" sheetId="1" r:id="rId1"/></x:sheets></x:workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            f'package/2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" '
            'Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{REL}/styles" Target="styles.xml"/></Relationships>'
        ),
        "xl/styles.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{MAIN}"><fonts count="1"><font>'
            '<sz val="11"/></font></fonts><fills count="1"><fill><patternFill patternType="none"/></fill>'
            '</fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
            '<cellXfs count="5">'
            + '<xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>' * 5
            + "</cellXfs></styleSheet>"
        ),
        "xl/worksheets/sheet1.xml": sheet_xml,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return out.getvalue()


def inline(ref: str | None, text: str) -> str:
    where = f' r="{ref}"' if ref else ""
    return f'<x:c{where} t="inlineStr"><x:is><x:t>{text}</x:t></x:is></x:c>'


def test_prefixed_sheet_with_rows_and_cells_without_references(tmp_path: Path) -> None:
    header = "".join(inline(None, h) for h in ("MMS Id", "Holding Id", "Item Id"))
    data = "".join(inline(None, v) for v in IDS)
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><x:worksheet xmlns:x="{MAIN}"><x:dimension ref="A1:C2"/>'
        '<x:cols><x:col min="1" max="16384" width="12" customWidth="1"/></x:cols>'
        f"<x:sheetData><x:row>{header}</x:row><x:row>{data}</x:row></x:sheetData></x:worksheet>"
    )
    path = tmp_path / "items.xlsx"
    path.write_bytes(workbook(sheet, extra={"xl/media/image1.png": b"\x89PNG not really"}))
    table = find_table(read_grid(path), ITEM_COLUMNS)
    target = ResultsFile(path, table)
    assert target.columns.added == ("done", "status") and target.columns.done == 3
    target.write({2: (True, "Returned\x01; reshelve to A & B <stacks>")})
    book = openpyxl.load_workbook(path)
    rows = [[c.value for c in row] for row in book["Items"].iter_rows()]
    assert rows == [
        ["MMS Id", "Holding Id", "Item Id", "done", "status"],
        [*IDS, True, "Returned_x0001_; reshelve to A & B <stacks>"],  # openpyxl leaves Excel's escape
    ]
    xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    assert '<x:dimension ref="A1:E2"/>' in xml
    assert xml.count("<x:col ") == 1  # a range already covers the new columns: widths left as they are
    assert "_x0001_" in xml  # a control character as Excel escapes it


def test_a_rerun_keeps_the_style_of_the_cells_it_replaces_and_every_other_part_raw(tmp_path: Path) -> None:
    header = "".join(
        inline(ref + "1", h)
        for ref, h in zip("ABCDE", ("MMS Id", "Holding Id", "Item Id", "done", "status"), strict=True)
    )
    data = "".join(inline(ref + "2", v) for ref, v in zip("ABC", IDS, strict=True))
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?><x:worksheet xmlns:x="{MAIN}"><x:sheetData>'
        f'<x:row r="1" spans="1:5">{header.replace(">done<", ">Done<")}</x:row>'
        f'<x:row r="2" spans="1:5">{data}<x:c r="D2" s="3"/>'
        '<x:c r="E2" s="4" t="inlineStr"><x:is><x:t>old</x:t></x:is></x:c><x:c r="G2"><x:v>7</x:v></x:c>'
        "</x:row></x:sheetData></x:worksheet>"
    )
    path = tmp_path / "items.xlsx"
    before = workbook(sheet, extra={"xl/media/image1.png": bytes(range(256)) * 40})
    path.write_bytes(before)
    target = ResultsFile(path, find_table(read_grid(path), ITEM_COLUMNS))
    assert target.columns.added == () and (target.columns.done, target.columns.status) == (3, 4)
    target.write({2: (True, "Returned; reshelve")})
    xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    assert '<x:c r="D2" s="3" t="b"><x:v>1</x:v></x:c><x:c r="E2" s="4" t="inlineStr">' in xml
    assert '<x:c r="G2"><x:v>7</x:v></x:c>' in xml and ">Done<" in xml  # the user's own cells as they were
    old, new = zipfile.ZipFile(io.BytesIO(before)), zipfile.ZipFile(path)
    for info in old.infolist():
        if info.filename == "xl/worksheets/sheet1.xml":
            continue
        moved = new.getinfo(info.filename)
        assert (moved.CRC, moved.compress_size, moved.compress_type) == (
            info.CRC,
            info.compress_size,
            info.compress_type,
        )


def test_patch_sheet_inserts_cells_between_existing_ones_in_column_order() -> None:
    sheet = xlsx_patch.SheetXml(
        f'<worksheet xmlns="{MAIN}"><sheetData><row r="4"><c r="A4"><v>1</v></c><c r="D4"><v>4</v></c></row>'
        "</sheetData></worksheet>".encode()
    )
    patched = xlsx_patch.patch_sheet(sheet, {4: {2: xlsx_patch.Text("b"), 5: xlsx_patch.Flag(True)}}).decode()
    cells = patched[patched.index("<row") : patched.index("</row>")]
    assert [ref for ref in ("A4", "B4", "D4", "E4") if f'r="{ref}"' in cells] == ["A4", "B4", "D4", "E4"]
    assert cells.index('r="A4"') < cells.index('r="B4"') < cells.index('r="D4"') < cells.index('r="E4"')
    assert "<cols>" not in patched  # no widths asked for


def test_a_csv_quoting_every_cell_gets_quoted_cells_and_a_headerless_column_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    lines = [
        '"MMS Id","Holding Id","Item Id",""',
        f'"{IDS[0]}","{IDS[1]}","{IDS[2]}","a note in a column with no header"',
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    target = ResultsFile(path, find_table(read_grid(path), ITEM_COLUMNS))
    target.write({2: (True, "Returned")})
    assert path.read_bytes().decode("utf-8").split("\r\n")[:2] == [
        '"MMS Id","Holding Id","Item Id","done","status",""',
        f'"{IDS[0]}","{IDS[1]}","{IDS[2]}","TRUE","Returned","a note in a column with no header"',
    ]
