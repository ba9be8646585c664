"""Worksheet functions: ALMA_CHECK_ID and ALMA_CONCURRENCY, and the metadata xlwings builds their VBA from.

On Linux xlwings' decorators do nothing, so the functions are called directly with the values Excel would
hand them (numbers as floats, dates as datetime); the decorators' real metadata is checked in a separate
process where xlwings.udfs imports against small pywin32 stand-ins (it needs pywin32 only to talk to Excel).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alma_tools.concurrency import compute, read_loans
from alma_tools.udfs import ALMA_CHECK_ID, ALMA_CONCURRENCY, as_of_datetime
from xl_payload import xlsx_rows

ROOT = Path(__file__).resolve().parent.parent


def test_check_id_is_empty_for_a_sound_id_and_explains_damage():
    assert ALMA_CHECK_ID("990636224614163681") == ""
    assert ALMA_CHECK_ID(None) == ""
    assert ALMA_CHECK_ID("  ") == ""
    shown_as_e = ALMA_CHECK_ID("9.93547E+17")
    cut = ALMA_CHECK_ID(990636224614163000.0)  # what Excel hands over once it made the id a number
    assert "scientific notation" in shown_as_e
    assert "15th" in cut


@pytest.fixture(scope="module")
def loans_rows(data_dir: Path) -> list[list]:
    """The loans export as Excel hands a range to a UDF: dates as datetime, empty cells as None."""
    return xlsx_rows(data_dir / "loans_export.xlsx")


def test_concurrency_spills_the_same_table_as_the_command_line(data_dir, loans_rows):
    as_of = dt.datetime(2026, 6, 30)
    rows = ALMA_CONCURRENCY(loans_rows, as_of)
    expected = compute(read_loans(data_dir / "loans_export.xlsx"), as_of=as_of).volumes
    assert rows[0] == list(expected.columns)
    assert len(rows) == len(expected) + 1
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["MMS Id"] == expected.iloc[0]["MMS Id"]
    assert first["Loans"] == expected.iloc[0]["Loans"]
    assert all(value is not None for row in rows for value in row)  # blanks are "", never None or NaN


def test_as_of_accepts_what_a_cell_can_hold():
    assert as_of_datetime(dt.date(2026, 6, 30)) == dt.datetime(2026, 6, 30)
    assert as_of_datetime(46203.5) == dt.datetime(2026, 6, 30, 12)  # an Excel serial without date format
    assert as_of_datetime("2026-06-30") == dt.datetime(2026, 6, 30)
    assert as_of_datetime(None) is None


def test_bad_input_becomes_a_message_in_the_cell(loans_rows):
    message = ALMA_CONCURRENCY(loans_rows[:20], "next week")[0][0]
    assert message.startswith("as_of 'next week' is not a date")
    text = ALMA_CONCURRENCY([["Name", "Colour"], ["a", "b"]])[0][0]
    assert "MMS Id" in text and "Traceback" not in text


@pytest.mark.parametrize("module", ["alma_tools.udfs"])
def test_xlwings_builds_the_vba_wrappers_and_conversions_from_the_decorators(module):
    script = textwrap.dedent(
        f"""
        import io, sys, types, importlib
        for name in ("pythoncom", "pywintypes", "win32com", "win32com.client"):
            sys.modules[name] = types.ModuleType(name)
        sys.modules["pythoncom"].CoInitialize = lambda: None
        sys.modules["win32com.client"].Dispatch = lambda *args: None
        import xlwings as xw
        from xlwings import conversion, udfs
        xw.func, xw.arg, xw.ret = udfs.xlfunc, udfs.xlarg, udfs.xlret
        module = importlib.import_module("{module}")
        out = io.StringIO()
        udfs.generate_vba_wrapper("{module}", module, out, types.SimpleNamespace(Name="alma_tools.xlsm"))
        print(out.getvalue())
        meta = module.ALMA_CONCURRENCY.__xlfunc__
        print("category", meta["category"], module.ALMA_CHECK_ID.__xlfunc__["category"])
        print("range", conversion.read(None, (("a", 1.0), ("b", 2.0)), meta["args"][0]["options"],
                                       engine_name="remote"))
        cell_options = module.ALMA_CHECK_ID.__xlfunc__["args"][0]["options"]
        print("cell", repr(conversion.read(None, 9.93547e17, cell_options, engine_name="remote")))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={"XLWINGS_LICENSE_KEY": "noncommercial", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Function ALMA_CHECK_ID(cell)" in out
    assert "Function ALMA_CONCURRENCY(loans_range, Optional as_of)" in out
    assert 'XLPy.CallUDF("alma_tools.udfs", "ALMA_CONCURRENCY", Array(loans_range, as_of)' in out
    assert "category Alma Tools Alma Tools" in out
    assert "range [['a', 1.0], ['b', 2.0]]" in out  # 2-D list, whatever the range's shape
    assert "cell 9.93547e+17" in out
