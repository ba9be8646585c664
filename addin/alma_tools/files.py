"""Writing files the user keeps: refuse one Excel has open, and replace a file only with a complete one.

Every file Alma Tools writes (the discharge's results, the statistics' workbook and CSV) goes through
:func:`atomic_write`: the new bytes go to a temporary file in the same folder, are flushed to the disk
(``fsync``), and only then renamed over the old name. A crash, a kill or a full disk at any moment leaves
either the old file or the new one under the user's name, never half of one. :func:`check_writable` is
called before the work starts, so a workbook open in Excel is refused before anything is sent to Alma.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from alma_tools.errors import InputError


def owner_files(path: str | os.PathLike[str]) -> list[Path]:
    """Excel's owner files (``~$name.xlsx``) that say the workbook at ``path`` is open, if any exist.

    Excel writes ``~$`` before the name; for long names it replaces the first two characters instead.
    """
    target = Path(path)
    name = target.name
    candidates = dict.fromkeys((target.with_name("~$" + name), target.with_name("~$" + name[2:])))
    return [owner for owner in candidates if owner.exists()]


def check_not_open(path: str | os.PathLike[str]) -> None:
    """InputError when Excel has the workbook open (its owner file beside it): our write would be lost."""
    name = Path(path).name
    if owner_files(path):
        raise InputError(
            f"{name} is open in Excel (its owner file ~${name} is beside it): close it in Excel first, then "
            "try again."
        )


def check_writable(path: str | os.PathLike[str]) -> None:
    """Refuse to write a file that Excel has open, before any work is done.

    Excel keeps an owner file ``~$name.xlsx`` beside a workbook it has open, and on Windows it locks the
    file itself. Writing then fails late or, worse, the user saves over our results from Excel; so we check
    first and say what to do.
    """
    target = Path(path)
    name = target.name
    check_not_open(target)
    if target.is_dir():
        raise InputError(f"{target} is a folder: give the name of a file to write.")
    if not target.parent.is_dir():
        raise InputError(f"The folder {target.parent} does not exist: create it or choose another place.")
    if target.exists():
        try:
            with open(target, "r+b"):
                pass
        except PermissionError:
            raise InputError(
                f"{name} is locked or read-only, probably open in Excel: close it in Excel first (or make it "
                "writable), then try again."
            ) from None
    elif not os.access(target.parent, os.W_OK):
        raise InputError(f"The folder {target.parent} cannot be written to: choose another place to save.")


def sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; Windows has no directory handles and needs none)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some file systems (network shares) refuse fsync on a folder: the rename still holds
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` for a library that writes by name (xlsxwriter, pandas).

    When the block ends without an error, the temporary file is fsync'd and renamed over ``path`` (keeping
    the old file's permissions); on any error it is removed and ``path`` is left as it was.
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        if target.exists():
            shutil.copymode(target, temporary)
        else:
            temporary.chmod(0o644)  # mkstemp made it private (0600); a new file is as readable as any other
        os.replace(temporary, target)
        sync_folder(target.parent)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike[str], data: bytes | Callable[[BinaryIO], None]) -> Path:
    """Replace ``path`` by ``data`` (bytes, or a function writing to a binary handle), all or nothing."""
    target = Path(path)
    with replacing(target) as temporary, open(temporary, "wb") as handle:
        if isinstance(data, bytes | bytearray | memoryview):
            handle.write(data)
        else:
            data(handle)
    return target
