"""Reading an items export: XLSX through python-calamine (what ``tables.read_grid`` uses) against openpyxl's
read-only mode (what it used before), and the same rows as CSV, as seconds and ratios in one run.

The workbook is the sample items (tests/data/items_to_discharge.csv) repeated to the size asked, ids as text
cells in the shared-strings table as Excel saves them, written once by xlsxwriter; the CSV is the same
rows. "ours" is ``find_table(read_grid(path))``, the whole read a discharge does (cells, header search,
rows set aside, hidden rows and notes from the sheet XML); "calamine cells only" is python-calamine's own
read into lists, the floor for any reader built on it; "openpyxl" is only openpyxl's
``iter_rows(values_only=True)`` over the sheet into lists, the part calamine replaces, so that ratio
understates what the old reader cost in total.

    python benchmarks/reading_bench.py            # 200,000 rows
    python benchmarks/reading_bench.py 20000      # another size
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "data" / "items_to_discharge.csv"


def _rows(count: int) -> tuple[list[str], list[list[str]]]:
    with SAMPLE.open(encoding="utf-8-sig", newline="") as handle:
        header, *sample = list(csv.reader(handle))
    return header, [sample[i % len(sample)] for i in range(count)]


def _write(folder: Path, count: int) -> tuple[Path, Path]:
    import xlsxwriter

    header, rows = _rows(count)
    xlsx, text = folder / "items.xlsx", folder / "items.csv"
    book = xlsxwriter.Workbook(str(xlsx))  # shared strings, as Excel saves them
    sheet = book.add_worksheet("Items")
    sheet.write_row(0, 0, header)
    for index, row in enumerate(rows, start=1):
        sheet.write_row(index, 0, row)
    book.close()
    with text.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows([header, *rows])
    return xlsx, text


def _ours(path: Path) -> float:
    from alma_tools.tables import ITEM_COLUMNS, find_table, read_grid

    started = time.perf_counter()
    table = find_table(read_grid(path), ITEM_COLUMNS)
    table.text("mms_id")
    return time.perf_counter() - started


def _calamine(path: Path) -> float:
    from python_calamine import CalamineWorkbook

    started = time.perf_counter()
    book = CalamineWorkbook.from_path(str(path))
    rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    assert rows
    return time.perf_counter() - started


def _openpyxl(path: Path) -> float:
    import openpyxl

    started = time.perf_counter()
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    assert rows
    return time.perf_counter() - started


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        xlsx, text = _write(Path(folder), count)
        ours = _ours(xlsx)
        cells = _calamine(xlsx)
        csv_seconds = _ours(text)
        old = _openpyxl(xlsx)
    print(f"{count:,} rows")
    print(f"  XLSX, ours (calamine), whole read: {ours:6.2f} s")
    print(f"  XLSX, calamine cells only:         {cells:6.2f} s   ours / calamine = {ours / cells:5.2f}")
    print(f"  XLSX, openpyxl cells only:         {old:6.2f} s   openpyxl / ours = {old / ours:5.1f}")
    print(
        f"  CSV, ours, whole read:             {csv_seconds:6.2f} s   XLSX / CSV = {ours / csv_seconds:5.2f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
