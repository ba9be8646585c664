"""``alma-tools excel-setup`` and ``alma-tools selftest --excel``, on Linux.

excel-setup's steps run against a folder laid out like a Windows user's (home, Documents, a Python with its
``pythonw.exe`` and xlwings DLL); on NTFS the Mark of the Web is the ``:Zone.Identifier`` stream, which on
this file system is a file of that name, so its removal is real here too. The self-test's steps run
through xlwings' remote engine on the built workbook, against the simulator, pressing the same macros.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import xlwings

from alma_tools.cli import main
from alma_tools.cli.excel_setup import INTERPRETER_KEY, setup_excel
from alma_tools.cli.selftest import InProcessDriver, SelfTest
from alma_tools.errors import ConfigError
from test_excel_workbook import WORKBOOK, built_payload
from xl_payload import caller_books

VERSION = xlwings.__version__


def windows_pc(tmp_path: Path) -> tuple[Path, Path]:
    """A user's home with Documents, and a python.org-style Python 3.11 with pythonw.exe and the DLL."""
    home = tmp_path / "Users" / "librarian"
    (home / "Documents").mkdir(parents=True)
    python = home / "AppData" / "Local" / "Programs" / "Python" / "Python311" / "python.exe"
    python.parent.mkdir(parents=True)
    for name in ("python.exe", "pythonw.exe", f"xlwings64-{VERSION}.dll"):
        (python.parent / name).write_bytes(b"")
    return home, python


def test_setup_writes_the_interpreter_copies_the_workbook_and_removes_the_mark(tmp_path):
    home, python = windows_pc(tmp_path)
    conf = home / ".xlwings" / "xlwings.conf"
    conf.parent.mkdir()
    conf.write_text('"INTERPRETER_WIN","C:\\Python39\\pythonw.exe"\n"LICENSE_KEY","kept"\n', encoding="utf-8")
    mark = home / "Documents" / f"{WORKBOOK.name}:Zone.Identifier"  # as Windows leaves a downloaded file
    mark.write_text("[ZoneTransfer]\nZoneId=3\n", encoding="utf-8")
    report = setup_excel(WORKBOOK, platform="win32", home=home, python=python, version_of=lambda: VERSION)
    assert not report.problems, report.lines()
    lines = conf.read_text(encoding="utf-8").splitlines()
    assert lines == ['"LICENSE_KEY","kept"', f'"{INTERPRETER_KEY}","{python.with_name("pythonw.exe")}"']
    copied = home / "Documents" / WORKBOOK.name
    assert copied.read_bytes() == WORKBOOK.read_bytes()
    assert not mark.exists()
    text = "\n".join(report.lines())
    assert "Mark of the Web removed" in text and f"xlwings {VERSION}" in text and "DLLs found" in text


def test_setup_names_each_problem_with_its_fix(tmp_path):
    home, python = windows_pc(tmp_path)
    (python.parent / f"xlwings64-{VERSION}.dll").unlink()
    report = setup_excel(
        tmp_path / "missing.xlsm", platform="win32", home=home, python=python, version_of=lambda: "0.30.0"
    )
    problems = "\n".join(report.problems)
    assert "missing.xlsm was not found: pass --workbook" in problems
    assert f"xlwings 0.30.0 is installed but the workbook needs {VERSION}" in problems
    assert f"-m pip install xlwings=={VERSION}" in problems
    assert "No xlwings 0.30.0 DLL" in problems
    assert report.lines()[-1] == "Fix the problems above, then run again."


def test_setup_keeps_an_earlier_copy(tmp_path):
    home, python = windows_pc(tmp_path)
    earlier = home / "Documents" / WORKBOOK.name
    earlier.write_bytes(b"the librarian's own copy")
    setup_excel(WORKBOOK, platform="win32", home=home, python=python, version_of=lambda: VERSION)
    assert (home / "Documents" / "alma_tools (before setup).xlsm").read_bytes() == b"the librarian's own copy"


def test_setup_and_selftest_elsewhere_say_windows_is_needed(capsys):
    with pytest.raises(ConfigError, match="excel-setup is for Windows"):
        setup_excel(WORKBOOK, platform="linux")
    assert main(["excel-setup"]) == 2
    assert main(["selftest", "--excel"]) == 2
    assert "Excel for Windows" in capsys.readouterr().err


@pytest.fixture
def caller_book(tmp_path, monkeypatch):
    yield from caller_books(tmp_path, monkeypatch)


@pytest.mark.slow
def test_selftest_steps_pass_on_the_built_workbook(caller_book, data_dir, simulator):
    sim = simulator(latency=(0.05, 0.2))
    book = caller_book(built_payload(data_dir, sim.base_url, active="Items", items_limit=150))
    results = SelfTest(book, InProcessDriver(book), sim, paste=False).run()
    by_name = {result.name: result for result in results}
    assert [r.name for r in results if r.ok is False] == [], [r.line() for r in results]
    assert by_name["Discharge, then Stop"].detail.startswith("Discharge stopped")
    assert "each once" in by_name["Discharge again (continues)"].detail
    assert by_name["=ALMA_CHECK_ID"].ok is None  # the remote engine cannot calculate
    assert all(r.line().split()[0] in ("PASS", "SKIP") for r in results)


def test_selftest_reports_a_failing_step_as_fail(caller_book, data_dir, simulator):
    sim = simulator()
    data = built_payload(data_dir, sim.base_url, active="Items")
    data["sheets"] = [s for s in data["sheets"] if s["name"] != "Locations"]  # a broken workbook
    book = caller_book(data)
    test = SelfTest(book, InProcessDriver(book), sim, paste=False)
    with pytest.raises(AssertionError, match="no 'Locations' sheet"):
        test.check()
    results = test.run()
    assert next(r for r in results if r.name == "Check sheet").line().startswith("FAIL  Check sheet")


def test_under_selftest_messages_go_to_the_log_sheet_not_a_box(caller_book):
    from alma_tools import excel
    from alma_tools.excel.messages import SELFTEST_MARK, SELFTEST_NAME
    from xl_payload import actions, payload

    book = caller_book(
        payload({"Items": [["Barcode"]], "Settings": [["x", "y"]]}, names={SELFTEST_NAME: ("Settings", "B1")})
    )
    assert excel.stop(book) is None
    assert actions(book, "alert") == []  # a modal box would block the self-test's own calls into Excel
    written = [v for a in actions(book, "setValues") for row in a["values"] for v in row]
    assert f"{SELFTEST_MARK}Nothing is running in this workbook." in written
