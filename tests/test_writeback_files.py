"""alma_tools.files: the one atomic write (fsync'd, all or nothing) and the open-in-Excel check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alma_tools import files
from alma_tools.errors import InputError


def test_atomic_write_replaces_the_file_keeps_its_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "items.csv"
    target.write_bytes(b"old")
    target.chmod(0o640)
    files.atomic_write(target, b"new bytes")
    assert target.read_bytes() == b"new bytes"
    assert target.stat().st_mode & 0o777 == 0o640
    files.atomic_write(target, lambda handle: handle.write(b"from a writer"))
    assert target.read_bytes() == b"from a writer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.xlsx"
    target.write_bytes(b"the good one")

    def half_then_fail(handle: object) -> None:
        handle.write(b"half")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        files.atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"the good one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.xlsx"]


def test_replacing_gives_a_library_a_name_and_a_new_file_is_readable(tmp_path: Path) -> None:
    target = tmp_path / "new.csv"
    with files.replacing(target) as temporary:
        assert temporary.parent == tmp_path and temporary != target
        temporary.write_text("a,b\n")
    assert target.read_text() == "a,b\n"
    assert target.stat().st_mode & 0o777 == 0o644


def test_check_writable_refuses_a_workbook_open_in_excel_short_and_long_names(tmp_path: Path) -> None:
    short = tmp_path / "items.xlsx"
    short.write_bytes(b"PK")
    files.check_writable(short)
    (tmp_path / "~$items.xlsx").write_bytes(b"owner")
    with pytest.raises(InputError, match=r"items\.xlsx is open in Excel .*close it in Excel first"):
        files.check_writable(short)
    long_name = tmp_path / "discharge_week_12.xlsx"
    (tmp_path / "~$scharge_week_12.xlsx").write_bytes(b"owner")  # Excel drops two letters of long names
    with pytest.raises(InputError, match=r"open in Excel .*close it in Excel first"):
        files.check_writable(long_name)
    assert files.owner_files(long_name) == [tmp_path / "~$scharge_week_12.xlsx"]


def test_check_writable_accepts_a_new_file_and_refuses_a_folder_or_a_missing_folder(tmp_path: Path) -> None:
    files.check_writable(tmp_path / "items to discharge.xlsx")  # does not exist yet: fine
    with pytest.raises(InputError, match="is a folder"):
        files.check_writable(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        files.check_writable(tmp_path / "missing" / "out.xlsx")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write read-only files")
def test_check_writable_refuses_a_read_only_file(tmp_path: Path) -> None:
    target = tmp_path / "items.csv"
    target.write_text("x")
    target.chmod(0o444)
    with pytest.raises(InputError, match="locked or read-only"):
        files.check_writable(target)
