"""Write the corpus of bad inputs next to this script (deterministic: same content on every run).

Each file is one way a library's export goes wrong on its way to Alma Tools: Excel damage to ids and
barcodes, headers misspelt, duplicated or below title rows, footers, merged cells, formulas and error values,
other separators and encodings, files that are empty, encrypted, renamed or not a table at all.
``CASES.md`` lists each file with the message expected; ``tests/test_tables.py`` and ``tests/test_ids.py``
read every file and check that message. Run ``python tests/data/bad_input/make_corpus.py`` to rebuild.

Every file is byte-for-byte the same on each run except ``password_protected.xlsx``, whose encryption
uses a fresh random salt. The ids come from ``tests/data/items_to_discharge.csv`` (institution code
3681); the damage is applied here the way Excel applies it, so the expected values are computed, not copied.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import random
import re
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "items_to_discharge.csv"
HEADER = ["Title", "Barcode", "MMS Id", "Holding Id", "Item Id", "Library Code", "Location Code"]
#: a fixed moment for the workbooks' document properties, so rebuilding changes nothing that matters
FIXED_TIME = (2026, 1, 5, 9, 0, 0)


def sample_rows(count: int = 8) -> list[list[str]]:
    """The first ``count`` sample items, with only the columns the corpus needs."""
    with SAMPLE.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))[:count]
    return [[row[h] for h in HEADER] for row in rows]


def excel_number(digits: str) -> str:
    """What Excel stores for an id typed as a number: 15 significant digits, the rest zeros."""
    return format(Decimal(f"{float(digits):.15g}"), "f")


def excel_scientific(digits: str) -> str:
    """What Excel shows (and saves to CSV) for a long number in a General cell: ``9.93547E+17``."""
    mantissa, exponent = f"{float(digits):.5E}".split("E")
    return f"{mantissa.rstrip('0').rstrip('.')}E+{int(exponent):02d}"


def write_csv(name: str, rows: list[list[str]], *, delimiter: str = ",", encoding: str = "utf-8") -> None:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    (HERE / name).write_bytes(buffer.getvalue().encode(encoding))


def save_workbook(workbook: openpyxl.Workbook, name: str) -> None:
    """Save with fixed document times and fixed zip entry times, so the bytes are the same every run."""
    workbook.properties.created = dt.datetime(*FIXED_TIME)
    buffer = io.BytesIO()
    workbook.save(buffer)
    rezip(buffer.getvalue(), HERE / name)


def rezip(
    data: bytes, target: Path, edit: dict[str, tuple[str, Callable[[re.Match[str]], str]]] | None = None
) -> None:
    """Copy a zip with fixed entry times, optionally rewriting members (regex → replacement function).

    openpyxl cannot store a formula together with its last result, which is what Excel saves; the
    rewrite puts that result into the sheet XML the way Excel does.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dest:
        for info in source.infolist():
            content = source.read(info.filename)
            if edit and info.filename in edit:
                pattern, replacement = edit[info.filename]
                content = re.sub(pattern, replacement, content.decode()).encode()
            if info.filename == "docProps/core.xml":  # openpyxl stamps the save time here
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-05T09:00:00Z", content)
            dest.writestr(zipfile.ZipInfo(info.filename, FIXED_TIME), content, zipfile.ZIP_DEFLATED)
    target.write_bytes(out.getvalue())


def main() -> None:
    rows = sample_rows()
    good = [HEADER, *rows]

    # --- Excel damage to ids -------------------------------------------------------------------------
    damaged = [HEADER, *[r[:] for r in rows]]
    damaged[1][2] = excel_scientific(rows[0][2])  # MMS Id row 2: 9.93547E+17
    damaged[2][2] = excel_number(rows[1][2])  # MMS Id row 3: 990636224614163000
    damaged[3][3] = excel_number(rows[2][3])  # Holding Id row 4: 18 digits cut
    damaged[4][2] = excel_number("9945540218783681")  # MMS Id row 5: 16-digit id cut to ...3680
    write_csv("scientific_and_cut.csv", damaged)

    decimal = [HEADER, *[r[:] for r in rows[:3]]]
    decimal[1][4] = rows[0][4] + ".0"  # Item Id row 2
    write_csv("decimal_point_zero.csv", decimal)

    thousands = [HEADER, *[r[:] for r in rows[:3]]]
    thousands[1][2] = f"{int(rows[0][2]):,}"  # MMS Id row 2: 993,546,848,745,263,681
    write_csv("thousands_separators.csv", thousands)
    thousands_eu = [HEADER, *[r[:] for r in rows[:3]]]
    thousands_eu[2][3] = f"{int(rows[1][3]):,}".replace(",", ".")  # Holding Id row 3: 22.743.732…
    write_csv("thousands_separators_semicolon.csv", thousands_eu, delimiter=";")

    spaces = [HEADER, *[r[:] for r in rows[:4]]]
    spaces[1][2] = "\u00a0" + rows[0][2] + " "  # row 2: NBSP and space at the ends: accepted
    spaces[2][3] = rows[1][3][:9] + " " + rows[1][3][9:]  # Holding Id row 3: space inside
    spaces[3][4] = rows[2][4][:9] + "\u00a0" + rows[2][4][9:]  # Item Id row 4: NBSP inside
    write_csv("ids_with_spaces.csv", spaces)

    apostrophe = [HEADER, *[r[:] for r in rows[:2]]]
    apostrophe[2][2] = "'" + rows[1][2]  # MMS Id row 3
    write_csv("leading_apostrophe.csv", apostrophe)

    swapped = [HEADER, *[r[:] for r in rows[:3]]]
    swapped[3][3], swapped[3][4] = rows[2][4], rows[2][3]  # row 4: holding and item ids swapped
    write_csv("swapped_ids.csv", swapped)

    errors = [HEADER, *[r[:] for r in rows[:3]]]
    errors[2][4] = "#N/A"  # Item Id row 3: a failed VLOOKUP pasted as values
    write_csv("excel_error_values.csv", errors)

    # Barcodes: 10-digit barcodes with a leading zero, two of them lost it (and the 9-char kj ones are fine).
    led = [row for row in sample_rows(100) if re.fullmatch(r"0\d{9}", row[1])][:6]
    letters = [row for row in sample_rows(100) if re.fullmatch(r"\d{6}kj\d", row[1])][:2]
    zeros = [HEADER, *led[:3], *letters, *led[3:]]
    lost = [1, 7]  # rows 2 and 8 lose their zero; four 10-digit barcodes keep theirs
    for i in lost:
        zeros[i][1] = zeros[i][1].lstrip("0")
    write_csv("barcodes_leading_zeros_lost.csv", zeros)

    # --- headers ------------------------------------------------------------------------------------
    write_csv("missing_column.csv", [[h for h in HEADER if h not in ("Item Id", "Barcode")]] + [
        [v for h, v in zip(HEADER, r, strict=True) if h not in ("Item Id", "Barcode")] for r in rows[:2]
    ])  # fmt: skip
    misspelt = [["Title", "Location Code", "MMS Idd", "Holding Id", "Item Id", "Library Code"]]
    misspelt += [[r[0], r[6], r[2], r[3], r[4], r[5]] for r in rows[:2]]
    write_csv("misspelt_header.csv", misspelt)
    duplicate = [[*HEADER, "MMS ID"]] + [[*r, rows[(i + 1) % len(rows)][2]] for i, r in enumerate(rows[:3])]
    write_csv("duplicate_headers.csv", duplicate)
    write_csv("no_header.csv", [r[:] for r in rows[:3]])
    write_csv("header_only.csv", [HEADER])
    (HERE / "empty.csv").write_bytes(b"")

    # --- footers, blank rows, quoted line breaks --------------------------------------------------------
    footer = [HEADER, rows[0], [""] * len(HEADER), rows[1], rows[2], [""] * len(HEADER)]
    footer += [["Applied filters: Loan Status is equal to Active"], ["Row count: 3"]]
    write_csv("footer_and_blank_rows.csv", footer)
    multiline = [HEADER, [*rows[0]], [*rows[1]], [*rows[2]]]
    multiline[1][0] = "Introduction to algorithms\nThird edition"
    multiline[2][2] = excel_number(rows[1][2])  # CSV line 4 (the quoted title spans lines 2-3)
    write_csv("multiline_title.csv", multiline)

    # --- separators and encodings ------------------------------------------------------------------------
    write_csv("semicolon.csv", good, delimiter=";")
    write_csv("tab_separated.txt", good, delimiter="\t")
    accented = [HEADER, *[r[:] for r in rows[:3]]]
    accented[1][0], accented[2][0] = "Les Misérables", "Über die Freiheit"
    write_csv("unicode_text_utf16.txt", accented, delimiter="\t", encoding="utf-16")
    write_csv("windows_cp1252.csv", accented, encoding="cp1252")

    # --- files that are not what they say ------------------------------------------------------------
    write_csv("really_csv.xlsx", good)
    (HERE / "garbage.csv").write_bytes(random.Random(20260105).randbytes(4096))
    (HERE / "old_format.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(zipfile.ZipInfo("notes.txt", FIXED_TIME), "not a workbook")
    (HERE / "zip_not_workbook.xlsx").write_bytes(archive.getvalue())

    # --- workbooks -------------------------------------------------------------------------------------
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Items"
    sheet.append(["Items on loan"])
    sheet.append(["Circulation - Loans"])
    sheet.append([])
    sheet.append(HEADER)
    for row in rows[:4]:
        sheet.append(row)
    sheet.append(["Applied filters: Loan Status is equal to Active"])
    save_workbook(workbook, "title_rows_and_footer.xlsx")
    password_source = io.BytesIO()
    workbook.save(password_source)

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Items to discharge"])
    sheet.merge_cells("A1:G1")
    sheet.append(HEADER)
    for row in rows[:4]:
        sheet.append(row)
    sheet.merge_cells("F3:F5")  # Library Code merged over rows 3-5: only F3 holds the value
    save_workbook(workbook, "merged_cells.xlsx")

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows[:5]:
        sheet.append(row)
    sheet.row_dimensions[3].hidden = True
    sheet.row_dimensions[4].hidden = True
    save_workbook(workbook, "hidden_rows.xlsx")

    # Ids and barcodes as number cells (what Excel makes of a paste), next to the same kinds as text cells.
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows[:7]:
        sheet.append(row)
    assert rows[4][1] == "0860637459" and rows[5][1] == "39039278687782", "sample changed: update the corpus"
    sheet["C2"] = float(rows[0][2])  # MMS Id as a number: 18 digits cannot survive (shows 993546848745264000)
    sheet["B6"] = int(rows[4][1])  # barcode 0860637459 as a number: 860637459, its zero is gone
    sheet["B7"] = float(rows[5][1])  # a 14-digit barcode as a number: exact, accepted
    sheet["F5"] = 1030300  # a numeric library code as a number: read as "1030300"
    save_workbook(workbook, "numbers_in_cells.xlsx")

    # Formulas: one with a cached value, one cached error, one never calculated; error values typed in.
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows[:4]:
        sheet.append(row)
    sheet["C2"] = f'="{rows[0][2]}"'
    sheet["D3"] = "=VLOOKUP(A3,Sheet2!A:B,2,FALSE)"
    sheet["E4"] = "=#REF!"
    sheet["E5"] = "#N/A"
    workbook.properties.created = dt.datetime(*FIXED_TIME)
    buffer = io.BytesIO()
    workbook.save(buffer)
    rezip(
        buffer.getvalue(),
        HERE / "formulas_and_errors.xlsx",
        edit={
            "xl/worksheets/sheet1.xml": (
                r'<c r="(C2|D3)"( t="\w+")?><f>(.*?)</f><v\s*/?>(?:</v>)?',
                lambda m: (
                    f'<c r="{m.group(1)}" t="str"><f>{m.group(3)}</f><v>{rows[0][2]}</v>'
                    if m.group(1) == "C2"
                    else f'<c r="{m.group(1)}" t="e"><f>{m.group(3)}</f><v>#N/A</v>'
                ),
            )
        },
    )

    from msoffcrypto.format.ooxml import OOXMLFile

    password_source.seek(0)
    encrypted = io.BytesIO()
    OOXMLFile(password_source).encrypt("library", encrypted)
    (HERE / "password_protected.xlsx").write_bytes(encrypted.getvalue())

    # --- locations -------------------------------------------------------------------------------------
    write_csv(
        "locations_duplicate_and_blank_desk.csv",
        [
            ["Location Code", "Library Code", "Circulation Desk"],
            ["stacks", "MAIN", "DEFAULT_CIRC_DESK"],
            ["ref", "MAIN", ""],
            ["stacks", "MAIN", "RESERVES_DESK"],
        ],
    )

    loans()
    reading()


LOANS_HEADER = [
    "Title", "MMS Id", "Permanent Call Number", "Barcode",
    "Loan Date", "Loan Time", "Return Date", "Return Time",
]  # fmt: skip
LOAN_MMS = "996323661116093681"


def loans() -> None:
    """Loans exports for the statistics: date and time shapes, and the data problems they must list."""
    volume = ["Constitutional law", LOAN_MMS, "HD3096 .K14 2019"]
    # the same four loans, dates written three ways: m/d/yyyy (Analytics), yyyy-mm-dd, d.m.yyyy (Europe)
    formats = {"us": "{m}/{d}/{y}", "iso": "{y}-{m:02d}-{d:02d}", "europe": "{d:02d}.{m:02d}.{y}"}
    for name, fmt in formats.items():

        def day(d: int, m: int = 9, y: int = 2025, fmt: str = fmt) -> str:
            return fmt.format(d=d, m=m, y=y)

        rows = [
            LOANS_HEADER,
            [*volume, "35502065988037", day(5), "08:19:34", day(5), "11:08:31"],
            [*volume, "35502065988045", day(5), "09:00:00", day(6), "10:00:00"],
            [*volume, "35502065988037", day(12), "13:00:00", day(3, 10), "13:00:00"],
            [*volume, "35502065988045", day(14), "08:00:00", "", ""],
        ]
        write_csv(f"loans_dates_{name}.csv", rows)

    # Excel's own cells: dates as date cells, times as time cells, title rows and a footer (Analytics .xlsx)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Reserve loans"])
    sheet.append(["Fulfillment - Loans"])
    sheet.append(LOANS_HEADER)
    sheet.append([*volume, "35502065988037", dt.datetime(2025, 9, 5), dt.time(8, 19, 34),
                  dt.datetime(2025, 9, 5), dt.time(11, 8, 31)])  # fmt: skip
    sheet.append([*volume, "35502065988045", dt.datetime(2025, 9, 5), dt.time(9, 0),
                  dt.datetime(2025, 9, 6), dt.time(10, 0)])  # fmt: skip
    sheet.append(["Applied filters: Loan Date is between 08/25/2025 and 06/30/2026"])
    save_workbook(workbook, "loans_excel_date_and_time_cells.xlsx")

    write_csv("loans_problems.csv", [
        LOANS_HEADER,
        [*volume, "B1", "9/5/2025", "08:00:00", "9/5/2025", "07:00:00"],  # 2: returned before it was lent
        [*volume, "B1", "31/31/2025", "08:00:00", "", ""],  # 3: not a date
        [*volume, "B2", "9/5/2025", "8 o'clock", "", ""],  # 4: not a time
        [*volume, "B2", "9/5/2025", "23:00:00", "9/6/2025", "01:00:00"],  # 5: past midnight: fine
        [*volume, "", "9/5/2025", "08:00:00", "", ""],  # 6: no barcode
        [*volume, "B3", "", "", "", ""],  # 7: no loan date
        [*volume, "B3", "9/7/2025", "", "9/8/2025", "01:00:00"],  # 8: no loan time: midnight, noted
    ])  # fmt: skip
    write_csv("loans_damaged_ids.csv", [
        LOANS_HEADER,
        ["Psychology", excel_scientific(LOAN_MMS), "B4234 .A93 1972", "B1", "9/5/2025", "08:00:00", "", ""],
        ["Psychology", excel_number(LOAN_MMS), "B4234 .A93 1972", "B2", "9/5/2025", "08:00:00", "", ""],
        ["Psychology", LOAN_MMS, "B4234 .A93 1972", "B3", "9/5/2025", "08:00:00", "", ""],
    ])  # fmt: skip
    write_csv("loans_overlap_and_after_as_of.csv", [
        LOANS_HEADER,
        [*volume, "B1", "9/5/2025", "08:00:00", "9/5/2025", "12:00:00"],
        [*volume, "B1", "9/5/2025", "10:00:00", "9/5/2025", "14:00:00"],  # 3: same copy lent twice at once
        [*volume, "B2", "7/5/2026", "09:00:00", "", ""],  # 4: after the as-of (2026-06-30 23:59)
    ])  # fmt: skip


#: titles with letters each single-byte code page writes differently (é, Ü, ñ, ü)
ACCENTED = ("Les Misérables", "Über die Freiheit", "Señor Müller und die Brücke")


def csv_text(rows: list[list[str]], *, delimiter: str = ",", lineterminator: str = "\r\n") -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator=lineterminator).writerows(rows)
    return buffer.getvalue()


def reading() -> None:
    """Files as staff really save them, for the reader (``tests/test_tables_read.py``): encodings,
    files named for what they are not, broken quotes, extra cells, pasted exports, totals rows, headers."""
    rows = sample_rows()
    accented = [HEADER, *[r[:] for r in rows[:3]]]
    for row, title in zip(accented[1:], ACCENTED, strict=True):
        row[0] = title
    tabbed = csv_text(accented, delimiter="\t")
    # Excel's "Unicode Text" as some versions and tools save it: UTF-16 without a BOM, and big-endian
    (HERE / "utf16le_no_bom.txt").write_bytes(tabbed.encode("utf-16-le"))
    (HERE / "utf16be_bom.txt").write_bytes(codecs.BOM_UTF16_BE + tabbed.encode("utf-16-be"))
    (HERE / "utf16be_no_bom.txt").write_bytes(tabbed.encode("utf-16-be"))
    # Excel for Mac's "CSV (Macintosh)": Mac Roman with CR line ends; "CSV (MS-DOS)": cp850
    (HERE / "mac_roman.csv").write_bytes(csv_text(accented, lineterminator="\r").encode("mac_roman"))
    (HERE / "dos_cp850.csv").write_bytes(csv_text(accented).encode("cp850"))
    (HERE / "utf8_bom_lf.csv").write_bytes(codecs.BOM_UTF8 + csv_text(accented, lineterminator="\n").encode())
    # a workbook saved under a .csv name
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Items"
    for row in accented:
        sheet.append(row)
    save_workbook(workbook, "workbook_named.csv")
    structure(rows)


def structure(rows: list[list[str]]) -> None:
    """Broken quotes, a record longer than the header, two exports pasted together, totals rows."""
    lines = [",".join(row) for row in [HEADER, *rows[:7]]]
    # line 4 opens a quote that never closes: the csv module would make lines 4-8 one cell
    broken = lines[:]
    broken[3] = '"' + broken[3]
    (HERE / "unclosed_quote.csv").write_bytes(("\r\n".join(broken) + "\r\n").encode())
    # ... or that is closed by the next quoted title, four lines later
    later = broken[:]
    later[7] = '"Smith, John: a life",' + later[7].split(",", 1)[1]
    (HERE / "unclosed_quote_closed_later.csv").write_bytes(("\r\n".join(later) + "\r\n").encode())
    # row 3: an unquoted comma in the title gives the record one cell more than the header
    extra = lines[:4]
    extra[2] = extra[2].replace("Molecular biology of the cell / 7th ed.", "Molecular biology, of the cell")
    (HERE / "extra_cell.csv").write_bytes(("\r\n".join(extra) + "\r\n").encode())

    # Two Analytics exports pasted one under the other: footer, blank line, title, a header spelt
    # differently (MMS ID), more rows, footer
    first = [HEADER, *rows[:3], ["Applied filters: Library is equal to SCI"], ["Row count: 3"], []]
    second = [["Items on loan - MAIN"], [h.replace("MMS Id", "MMS ID") for h in HEADER], *rows[3:5]]
    write_csv("two_exports_pasted.csv", [*first, *second, ["Row count: 2"]])
    swapped = [HEADER[1], HEADER[0], *HEADER[2:]]
    moved = [rows[2][1], rows[2][0], *rows[2][2:]]
    write_csv("two_exports_other_order.csv", [HEADER, *rows[:2], swapped, moved])

    # German Excel: semicolons, a subtotal row per library (Excel's Data › Subtotal), then the grand
    # total and a count row; each label in the Library Code column, the count under Barcode
    def total(label: str, count: int) -> list[str]:
        return ["", str(count), "", "", "", label, ""]

    by_library = sorted(rows[:5], key=lambda r: r[5])
    totals = [HEADER]
    for library in dict.fromkeys(r[5] for r in by_library):
        group = [r for r in by_library if r[5] == library]
        totals += [*group, total(f"{library} Ergebnis", len(group))]
    totals += [total("Gesamtergebnis", 5), ["Anzahl: 5", *[""] * 6], ["Summe", *[""] * 5, "5"]]
    write_csv("totals_rows_german.csv", totals, delimiter=";")
    headers(rows)


def headers(rows: list[list[str]]) -> None:
    """Headers with invisible characters, in another language, or far below the top."""
    invisible = ["Title", "\u00adBarcode", "MMS\u2060Id", "Holding\u00a0Id", "Item Id\u200b", "Library Code"]
    write_csv("invisible_header_chars.csv", [[*invisible, "Location Code\u200b"], *rows[:3]])
    # U+2063 (invisible separator) is not one we ignore: the message must show it
    unknown = ["Title", "MMS Id", "Holding Id", "Item Id\u2063", "Library Code"]
    write_csv("invisible_unknown_char.csv", [unknown, *[[r[0], r[2], r[3], r[4], r[5]] for r in rows[:2]]])
    german = ["Titel", "Exemplar-ID", "MMS Id", "Holding Id", "Bibliothek", "Standortcode"]
    write_csv("german_headers.csv", [german, *[[r[0], r[4], r[2], r[3], r[5], r[6]] for r in rows[:2]]])
    filters = [[f"  Library is equal to L{i:02d}"] for i in range(40)]
    titles = [["Items on loan"], ["Applied filters:"], *filters, []]
    write_csv("header_below_row_40.csv", [*titles, HEADER, *rows[:2]])
    cell_types(rows)
    opendocument()


def cell_types(rows: list[list[str]]) -> None:
    """Every kind of cell a workbook holds, for the fast reader: text, numbers, dates with and without a
    time, times, booleans, an error, and an Item Id written as =HYPERLINK(url, id) with its saved value."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Items"
    sheet.append([*HEADER, "Loan Date", "Due", "Renewed", "Copies", "Fine"])
    first, second = rows[0], rows[1]
    sheet.append([*first, dt.datetime(2026, 1, 5, 14, 30), dt.time(23, 59), True, 2, 1.5])
    sheet.append([*second, dt.datetime(2026, 1, 6), dt.time(9, 0), False, 1, 0.25])
    sheet["E2"] = f'=HYPERLINK("https://example.org/items/{first[4]}","{first[4]}")'
    sheet["L3"] = "#DIV/0!"
    workbook.properties.created = dt.datetime(*FIXED_TIME)
    buffer = io.BytesIO()
    workbook.save(buffer)
    rezip(
        buffer.getvalue(),
        HERE / "cell_types.xlsx",
        edit={
            "xl/worksheets/sheet1.xml": (
                r'<c r="E2"( t="\w+")?><f>(.*?)</f><v\s*/?>(?:</v>)?',
                lambda m: f'<c r="E2" t="str"><f>{m.group(2)}</f><v>{first[4]}</v>',
            )
        },
    )


def opendocument() -> None:
    """LibreOffice Calc's own format (.ods): a zip whose first member, stored, is its ``mimetype``."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>'
        '<table:table table:name="Items"><table:table-row>'
        + "".join(f"<table:table-cell><text:p>{name}</text:p></table:table-cell>" for name in HEADER)
        + "</table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"
    )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(
            zipfile.ZipInfo("mimetype", FIXED_TIME), "application/vnd.oasis.opendocument.spreadsheet"
        )
        handle.writestr(zipfile.ZipInfo("content.xml", FIXED_TIME), content, zipfile.ZIP_DEFLATED)
    (HERE / "opendocument.ods").write_bytes(archive.getvalue())


if __name__ == "__main__":
    main()
